#!/usr/bin/python3
"""db_vs_compare.py -- every score the daemon stored equals `pwcca compare` on the same files.

    db_vs_compare.py DB PWCCA [RUN_NAME]...

For each row of `scores` (of the named runs, or all) whose checkpoint and
reference checkpoint files are still present, runs `PWCCA compare CKPT REF
--json --reduce R` (once per pair of files and reduction R, the one the
row records: reduce = auto's choice is the layer's, kept for the whole run)
and checks the layer's status, n, p_kept, q_kept, reduce, k_x, k_y and every
metric the daemon stored (absolute tolerance 1e-9; a null must stay null).

One exception, checked rather than assumed: when two canonical correlations
are tied (e.g. both exactly 1 because a ReLU neuron fires on the same single
probe input in both checkpoints), PWCCA's weights depend on an arbitrary basis
of the tied set (shared/reference/README.md, "Degenerate input"), and a 1e-13
change in the input moves pwcca by ~1e-6.  For a pwcca/distance difference
above 1e-9 the script recomputes the canonical correlations with numpy from
the safetensors files; if they hold a tie, a difference up to 1e-4 is counted
as "tied" instead of a mismatch.  Prints {"rows", "pairs", "tied",
"mismatches"} as JSON; exit 1 when anything differs or nothing was compared.
"""
import json
import os
import sqlite3
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import stcheck  # noqa: E402

TOL = 1e-9
TIED_TOL = 1e-4
METRICS = ("pwcca", "distance", "mean_cca", "svcca", "cka")


def has_tied_rho(x_path, y_path, layer):
    """True when the layer's canonical correlations (README definitions 1-3) hold a tie."""
    def side(path):
        arr = dict((n, a) for n, _, _, a in stcheck.load(path)[1])[layer]
        if arr.ndim == 4:  # NCHW: every position a datapoint of C channels
            arr = arr.transpose(0, 2, 3, 1)
        m = arr.reshape(-1, arr.shape[-1]) if arr.ndim > 1 else arr.reshape(-1, 1)
        m = m[:, m.min(0) != m.max(0)]
        m = m - m.mean(0)
        u, sv, _ = np.linalg.svd(m / np.linalg.norm(m, axis=0), full_matrices=False)
        return u[:, sv > 1e-6 * sv[0]]
    try:
        rho = np.linalg.svd(side(x_path).T @ side(y_path), compute_uv=False)
    except (ValueError, KeyError, OSError, np.linalg.LinAlgError):
        return False
    return bool(np.any(np.abs(np.diff(rho)) < 1e-9))


def main(db, pwcca, runs):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
    con.row_factory = sqlite3.Row
    sql = """SELECT r.name AS run, s.*, c1.path AS x_path, c2.path AS y_path
             FROM scores s JOIN runs r ON r.id = s.run_id
             JOIN checkpoints c1 ON c1.run_id = s.run_id AND c1.step = s.step
             JOIN checkpoints c2 ON c2.run_id = s.run_id AND c2.step = s.ref_step
             WHERE c1.present = 1 AND c2.present = 1"""
    rows = [r for r in con.execute(sql) if not runs or r["run"] in runs]
    con.close()
    cache, bad, tied = {}, [], 0
    for r in rows:
        reduce = r["reduce"] if "reduce" in r.keys() else "none"
        key = (r["x_path"], r["y_path"], reduce)
        if key not in cache:
            p = subprocess.run([pwcca, "compare", r["x_path"], r["y_path"], "--json",
                                "--reduce", reduce],
                               capture_output=True, text=True, timeout=120)
            try:
                cache[key] = {l["layer"]: l for l in json.loads(p.stdout)["layers"]}
            except (ValueError, KeyError):
                bad.append("compare %s %s: exit %d, %s" % (key[0], key[1], p.returncode,
                                                           (p.stderr or p.stdout)[:300]))
                cache[key] = {}
                continue
        got = cache[key].get(r["layer"])
        where = "%s/%s step %d ref %s(%d)" % (r["run"], r["layer"], r["step"], r["ref"],
                                              r["ref_step"])
        if got is None:
            bad.append("%s: layer missing from compare" % where)
            continue
        if got["status"] != r["status"]:
            bad.append("%s: status %s, compare says %s" % (where, r["status"], got["status"]))
            continue
        for f in ("n", "p_kept", "q_kept", "k_x", "k_y"):
            if f in r.keys() and r[f] is not None and got.get(f) != r[f]:
                bad.append("%s: %s %s, compare says %s" % (where, f, r[f], got.get(f)))
        counted_tie = False
        for m in METRICS:
            d, c = r[m], got.get(m)
            if d is None and c is None:
                continue
            if d is None and r["status"] == "ok" and m in ("pwcca", "distance"):
                bad.append("%s: %s is null in the database with status ok" % (where, m))
            elif d is not None and (c is None or abs(d - c) > TOL):
                if (m in ("pwcca", "distance") and c is not None and abs(d - c) <= TIED_TOL
                        and has_tied_rho(r["x_path"], r["y_path"], r["layer"])):
                    tied += not counted_tie
                    counted_tie = True
                    continue
                bad.append("%s: %s %.17g, compare says %s" % (where, m, d, c))
    print(json.dumps({"rows": len(rows), "pairs": len(cache), "tied": tied,
                      "mismatches": len(bad)}))
    for b in bad[:10]:
        print("mismatch: " + b, file=sys.stderr)
    return 1 if bad or not rows else 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2], set(sys.argv[3:])))
