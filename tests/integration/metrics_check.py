#!/usr/bin/python3
"""metrics_check.py -- does pwccad's /metrics say what its database says?

Usage: metrics_check.py EXPOSITION DB PWCCA MODE RUN...

EXPOSITION is a scrape of the daemon's /metrics, DB its database, PWCCA the
client binary.  For every RUN:

  - pwccad_layer_distance{ref="previous"|"final"} of each layer equals, bit
    for bit, the distance of the layer's newest row of
    `pwcca curve RUN --ref REF --format json` (and is absent when that row's
    status is not ok, or when there is no row);
  - pwccad_layer_stable / _stable_step agree with layers.stable_step.

Then the counters.  MODE "fresh" (the daemon started on an empty database):
checkpoints processed and failed equal the checkpoints rows with status ok
and not ok, alerts by kind equal the alerts rows, the compute histogram
counted at least one job per stored checkpoint.  MODE "restarted" (nothing
new to compute since the start): every counter is 0.  MODE "gauges": the
counters are not checked.  In every mode the queue is empty.  Prints one "PASS name" or "FAIL name: why" line per check; exit 1 on
any FAIL.
"""
import json
import re
import sqlite3
import subprocess
import sys

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def parse(text):
    """{(name, frozenset(labels)): value} of every sample."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise ValueError("not a sample line: %r" % line)
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        key = (m.group(1), labels)
        if key in out:
            raise ValueError("duplicate series: %r" % line)
        out[key] = float(m.group(3))
    return out


def get(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


failed = 0


def check(name, ok, why=""):
    global failed
    if ok:
        print("PASS %s" % name)
    else:
        failed += 1
        print("FAIL %s: %s" % (name, why))


def newest_rows(pwcca, db, run, ref):
    """The newest curve row of each layer."""
    out = subprocess.run([pwcca, "--db", db, "curve", run, "--ref", ref, "--format", "json"],
                         capture_output=True, text=True, check=True).stdout
    rows = {}
    for r in json.loads(out):
        if r["layer"] not in rows or r["step"] > rows[r["layer"]]["step"]:
            rows[r["layer"]] = r
    return rows


def main():
    exposition, db, pwcca, mode, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
    with open(exposition, encoding="utf-8") as f:
        s = parse(f.read())
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    q = lambda sql, *a: con.execute(sql, a).fetchall()

    for run in runs:
        layers = dict(q("SELECT l.name, l.stable_step FROM layers l JOIN runs r ON r.id = l.run_id "
                        "WHERE r.name = ?", run))
        check("%s: the run has layers" % run, len(layers) > 0, "no layers stored")
        for ref in ("previous", "final"):
            rows = newest_rows(pwcca, db, run, ref)
            bad = []
            for layer in layers:
                got = get(s, "pwccad_layer_distance", run=run, layer=layer, ref=ref)
                row = rows.get(layer)
                want = row["distance"] if row and row["status"] == "ok" else None
                if got != want:
                    bad.append("%s: /metrics %r, newest curve row %r" % (layer, got, row))
            scored = sum(1 for r in rows.values() if r["status"] == "ok")
            check("%s: ref=%s distances equal pwcca curve's newest rows (%d layers with one)"
                  % (run, ref, scored), not bad, "; ".join(bad))
        bad = []
        for layer, step in layers.items():
            st = get(s, "pwccad_layer_stable", run=run, layer=layer)
            ss = get(s, "pwccad_layer_stable_step", run=run, layer=layer)
            if st != (1 if step is not None else 0) or ss != (None if step is None else float(step)):
                bad.append("%s: stable %r step %r, stored stable_step %r" % (layer, st, ss, step))
        nstable = sum(1 for v in layers.values() if v is not None)
        check("%s: stability gauges equal layers.stable_step (%d of %d stable)"
              % (run, nstable, len(layers)), not bad, "; ".join(bad))

    processed = get(s, "pwccad_checkpoints_processed_total")
    failed_ck = get(s, "pwccad_checkpoints_failed_total")
    alerts = {k: get(s, "pwccad_alerts_total", kind=k)
              for k in ("layer_stable", "layer_unstable", "run_converged")}
    count = get(s, "pwccad_compute_seconds_count")
    total = get(s, "pwccad_compute_seconds_sum")
    if mode == "fresh":
        ok_rows = q("SELECT COUNT(*) FROM checkpoints WHERE status = 'ok'")[0][0]
        bad_rows = q("SELECT COUNT(*) FROM checkpoints WHERE status != 'ok'")[0][0]
        check("processed counter equals the checkpoints stored (%d)" % ok_rows,
              processed == ok_rows, "counter %r" % processed)
        check("failed counter equals the checkpoints stored with an error (%d)" % bad_rows,
              failed_ck == bad_rows, "counter %r" % failed_ck)
        stored = dict(q("SELECT kind, COUNT(*) FROM alerts GROUP BY kind"))
        check("alerts counted by kind equal the alerts stored (%s)" % stored,
              all(alerts[k] == stored.get(k, 0) for k in alerts), "counters %r" % alerts)
        check("every stored checkpoint's computation was timed",
              count is not None and count >= ok_rows + bad_rows and total > 0,
              "count %r sum %r" % (count, total))
    elif mode == "restarted":
        check("a restarted daemon counts from zero",
              processed == 0 and failed_ck == 0 and all(v == 0 for v in alerts.values())
              and count == 0, "processed %r failed %r alerts %r computed %r"
              % (processed, failed_ck, alerts, count))
    check("the queue is empty", get(s, "pwccad_queue_length") == 0,
          "queue %r" % get(s, "pwccad_queue_length"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
