#!/usr/bin/env python3
"""shared_check.py -- what test_shared.sh asserts about a PostgreSQL store that
several pwccad daemons filled together (issue #24): read from the tables
themselves, not through pwcca's queries, so that a duplicate or a stray row
cannot hide behind a query that picks one.

  shared_check.py scores PWCCA PSQL URL ROOT RUN:STRIDE...
      Each RUN (a directory of ROOT, trained to its FINAL file) has one row in
      `runs`, and in `scores` exactly one row per (layer, step, ref) it should
      have -- every checkpoint against its previous one and against the
      final -- with the right ref_step and nothing else.  Every STRIDE-th pair
      of each reference kind (and the last) is recomputed with `pwcca compare
      A B --json`: metrics equal to 1e-12 (procrustes near 0: its cosine, see
      close()), status, n and kept dimensions equal.
  shared_check.py chance PWCCA PSQL URL ROOT RUN...
      One chance level per layer of each RUN, equal to `pwcca compare
      --chance` on the pair it names (1e-12).
  shared_check.py alerts PSQL URL SQLITE LOG...
      The (run, kind, layer, step) alerts of the PostgreSQL store are those of
      the SQLite store (one daemon alone on the same root), each stored once,
      and each logged ("alert: ...") by exactly one of the daemons' LOGs.

Each prints what differs and a last summary line; exit status 1 when anything
differs.  Python's standard library only, plus the psql client."""

import collections
import concurrent.futures
import json
import math
import os
import re
import sqlite3
import subprocess
import sys

METRICS = ["pwcca", "distance", "mean_cca", "svcca", "cka", "cka_debiased", "procrustes"]
EXACT = ["status", "n", "p_kept", "q_kept"]


def psql(prog, url, sql):
    """Rows of SQL as lists of strings ('' for NULL)."""
    out = subprocess.check_output([prog, "-qAtX", "-F", "|", url, "-c", sql], text=True)
    return [line.split("|") for line in out.splitlines()]


def num(text):
    return None if text == "" else float(text)


def close(a, b, metric=None):
    """Equal to 1e-12.  Procrustes is an arccos: near 0 (a checkpoint against
    itself) one ulp of its cosine is 1e-8 of the angle, and the daemon's cached
    sides and compare's fresh ones round differently there, so an angle is also
    equal when its cosine is (1e-15, a few ulps of 1)."""
    if (a is None) != (b is None) or a is None:
        return a is None and b is None
    return abs(a - b) <= 1e-12 or (metric == "procrustes" and abs(math.cos(a) - math.cos(b)) <= 1e-15)


def run_files(root, run):
    """(steps in order, final step) of a run directory."""
    d = os.path.join(root, run)
    steps = sorted(int(m.group(1)) for m in (re.fullmatch(r"step-(\d+)\.safetensors", f) for f in os.listdir(d)) if m)
    with open(os.path.join(d, "FINAL")) as f:
        return steps, int(f.read().strip())


def ckpt(root, run, step):
    return os.path.join(root, run, "step-%06d.safetensors" % step)


def compare(pwcca, a, b, *extra):
    out = subprocess.check_output([pwcca, "compare", a, b, "--json", *extra])
    return {l["layer"]: l for l in json.loads(out)["layers"]}


def check_scores(pwcca, prog, url, root, specs):
    bad = 0
    names = collections.Counter(r[0] for r in psql(prog, url, "SELECT name FROM runs"))
    cols = ["layer", "step", "ref", "ref_step"] + EXACT + METRICS
    rows = psql(prog, url, "SELECT r.name, %s FROM scores s JOIN runs r ON r.id = s.run_id"
                % ", ".join("s." + c for c in cols))
    stored = collections.defaultdict(list)
    for r in rows:
        row = dict(zip(cols, r[1:]))
        stored[(r[0], row["layer"], int(row["step"]), row["ref"])].append(row)
    pool = concurrent.futures.ThreadPoolExecutor(2)
    total = compared = 0
    for spec in specs:
        run, stride = spec.split(":")
        stride = int(stride)
        if names[run] != 1:
            bad += 1
            print("run %s has %d rows in runs, not 1" % (run, names[run]))
        steps, final = run_files(root, run)
        pairs = [(s, "previous", steps[i - 1]) for i, s in enumerate(steps) if i > 0]
        pairs += [(s, "final", final) for s in steps]
        # The pairs recomputed: every stride-th of each kind, and each kind's last.
        sample = []
        for kind in ("previous", "final"):
            ks = [p for p in pairs if p[1] == kind]
            sample += [p for i, p in enumerate(ks) if i % stride == 0 or i == len(ks) - 1]
        got = dict(zip(sample, pool.map(lambda p: compare(pwcca, ckpt(root, run, p[0]), ckpt(root, run, p[2])), sample)))
        layers = sorted(next(iter(got.values())))
        want = set()
        for step, ref, ref_step in pairs:
            for layer in layers:
                key = (run, layer, step, ref)
                want.add(key)
                found = stored.get(key, [])
                if len(found) != 1:
                    bad += 1
                    print("%s %s step %d ref %s: stored %d times" % (run, layer, step, ref, len(found)))
                    continue
                s = found[0]
                if int(s["ref_step"]) != ref_step:
                    bad += 1
                    print("%s %s step %d ref %s: ref_step %s, not %d" % (run, layer, step, ref, s["ref_step"], ref_step))
                c = got.get((step, ref, ref_step), {}).get(layer)
                if c is None:
                    continue
                for k in METRICS:
                    if not close(num(s[k]), c[k], k):
                        bad += 1
                        print("%s %s step %d ref %s: %s %s, compare says %r" % (run, layer, step, ref, k, s[k], c[k]))
                for k in EXACT:
                    v = s[k] if k == "status" else (None if s[k] == "" else int(s[k]))
                    if v != c[k]:
                        bad += 1
                        print("%s %s step %d ref %s: %s %r, compare says %r" % (run, layer, step, ref, k, v, c[k]))
        extra = [k for k in stored if k[0] == run and k not in want]
        for k in extra[:5]:
            print("%s %s step %d ref %s: not expected" % k)
        bad += len(extra)
        total += len(pairs) * len(layers)
        compared += len(sample)
        print("run %s: %d checkpoints, %d pairs x %d layers, %d pairs compared" % (run, len(steps), len(pairs), len(layers), len(sample)))
    print("mismatches %d of %d scores (%d pairs compared)" % (bad, total, compared))
    return bad


def check_chance(pwcca, prog, url, root, runs):
    bad = 0
    cols = ["layer", "step_a", "step_b", "seed", "status"] + METRICS
    for run in runs:
        rows = [dict(zip(cols, r)) for r in psql(
            prog, url, "SELECT %s FROM chance c JOIN runs r ON r.id = c.run_id WHERE r.name = '%s'"
            % (", ".join("c." + c for c in cols), run))]
        steps, _ = run_files(root, run)
        layers = compare(pwcca, ckpt(root, run, steps[0]), ckpt(root, run, steps[1]))
        if sorted(r["layer"] for r in rows) != sorted(layers):
            bad += 1
            print("%s: chance rows for %s, not one per layer %s" % (run, [r["layer"] for r in rows], sorted(layers)))
        cache = {}
        for r in rows:
            pair = (int(r["step_a"]), int(r["step_b"]))
            if pair not in cache:
                cache[pair] = compare(pwcca, ckpt(root, run, pair[0]), ckpt(root, run, pair[1]), "--chance")
            c = cache[pair][r["layer"]]["chance"]
            if r["seed"] != str(c["seed"]) or r["status"] != c["status"]:
                bad += 1
                print("%s %s: seed, status %s %s; compare says %s %s" % (run, r["layer"], r["seed"], r["status"], c["seed"], c["status"]))
            for k in METRICS:
                if not close(num(r[k]), c[k], k):
                    bad += 1
                    print("%s %s: chance %s %s, compare says %r" % (run, r["layer"], k, r[k], c[k]))
    print("chance mismatches %d" % bad)
    return bad


LOGGED = re.compile(r"alert: (\S+) run (\S+?)(?: layer (\S+))? step (-?\d+) value ")


def check_alerts(prog, url, lite, logs):
    bad = 0
    pg = collections.Counter(tuple(r) for r in psql(
        prog, url, "SELECT r.name, a.kind, a.layer, a.step FROM alerts a JOIN runs r ON r.id = a.run_id"))
    db = sqlite3.connect(lite)
    sq = collections.Counter((n, k, l, str(s)) for n, k, l, s in db.execute(
        "SELECT r.name, a.kind, a.layer, a.step FROM alerts a JOIN runs r ON r.id = a.run_id"))
    logged = collections.Counter()
    for log in logs:
        with open(log, errors="replace") as f:
            for m in LOGGED.finditer(f.read()):
                logged[(m.group(2), m.group(1), m.group(3) or "", m.group(4))] += 1
    for a in sorted(set(pg) | set(sq) | set(logged)):
        if (pg[a], sq[a], logged[a]) != (1, 1, 1):
            bad += 1
            print("alert %s: stored %d times in PostgreSQL, %d in SQLite, logged %d times" % (" ".join(a), pg[a], sq[a], logged[a]))
    kinds = collections.Counter(a[1] for a in pg)
    print("alert mismatches %d of %d (%s)" % (bad, len(pg), ", ".join("%s %d" % kv for kv in sorted(kinds.items()))))
    return bad


def main(argv):
    what = argv[1]
    if what == "scores":
        bad = check_scores(argv[2], argv[3], argv[4], argv[5], argv[6:])
    elif what == "chance":
        bad = check_chance(argv[2], argv[3], argv[4], argv[5], argv[6:])
    elif what == "alerts":
        bad = check_alerts(argv[2], argv[3], argv[4], argv[5:])
    else:
        sys.exit("usage: see the docstring")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
