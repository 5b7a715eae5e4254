"""summarize.py -- the table examples/digits/run.sh prints from `pwcca cluster --json`.

    python3 summarize.py OUT LAYER...

Reads OUT/cluster-LAYER.json (PWCCA distance, final checkpoints),
OUT/cluster-LAYER-procrustes.json and the same with -init (step 0) for each
layer, and OUT/accuracy.tsv, and prints the accuracies, then one row per layer,
distance and checkpoint (final or init):

    layer   distance  at     w8(3)   w128(3)  across(9)  closer  top_split
    conv1   pwcca     final  0.1234  0.0567   0.3456     w128    widths

`wW` is the mean distance over the pairs of runs of width W (their range in
OUT/summary.json), `across` the mean over pairs of different widths, `closer`
the width with the smaller mean, and `top split` says whether the dendrogram's
last merge joins exactly the groups of runs of one width each (`widths`) or
not (`mixed`).  Also writes OUT/summary.json.  Only the standard library.
"""

import csv
import itertools
import json
import os
import sys


def width_of(label):
    """'w128-s2:820' -> 128 (the run names train_digits.py gives)."""
    return int(label.split(":")[0].split("-")[0][1:])


def top_split(linkage, k):
    """The two sets of runs the last merge of a scipy-style linkage joins."""
    members = {i: frozenset([i]) for i in range(k)}
    for m, (a, b, _h, _n) in enumerate(linkage):
        members[k + m] = members[int(a)] | members[int(b)]
    if not linkage:
        return set()
    a, b = int(linkage[-1][0]), int(linkage[-1][1])
    return {members[a], members[b]}


def summarize(doc):
    runs, d = doc["runs"], doc["matrix"]
    widths = sorted({width_of(r) for r in runs})
    within = {}
    for w in widths:
        idx = [i for i, r in enumerate(runs) if width_of(r) == w]
        within[w] = [d[i][j] for i, j in itertools.combinations(idx, 2)]
    across = [d[i][j] for i, j in itertools.combinations(range(len(runs)), 2)
              if width_of(runs[i]) != width_of(runs[j])]
    groups = {frozenset(i for i, r in enumerate(runs) if width_of(r) == w) for w in widths}
    mean = {w: (sum(v) / len(v) if v else None) for w, v in within.items()}
    known = [w for w in widths if mean[w] is not None]
    return {
        "layer": doc["layer"], "distance": doc["distance"], "runs": runs,
        "within": {str(w): {"mean": mean[w], "pairs": within[w],
                            "min": min(within[w]) if within[w] else None,
                            "max": max(within[w]) if within[w] else None} for w in widths},
        "across": {"mean": sum(across) / len(across) if across else None, "pairs": len(across)},
        "closer": "w%d" % min(known, key=lambda w: mean[w]) if known else None,
        "top_split_is_widths": len(widths) == 2 and top_split(doc["linkage"], len(runs)) == groups,
    }


def fmt(x):
    return "n/a" if x is None else "%.4f" % x


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: summarize.py OUT LAYER...")
    out, layers = sys.argv[1], sys.argv[2:]

    with open(os.path.join(out, "accuracy.tsv")) as f:
        acc = list(csv.DictReader(f, delimiter="\t"))
    print("Accuracy after training (test: the 500 held-out digits, which are also the probe)")
    for w in sorted({int(r["width"]) for r in acc}):
        rs = [r for r in acc if int(r["width"]) == w]
        te = [float(r["test_accuracy"]) for r in rs]
        tr = [float(r["train_accuracy"]) for r in rs]
        print("  width %4d: test %s (mean %.4f), train mean %.4f"
              % (w, " ".join("%.4f" % t for t in te), sum(te) / len(te), sum(tr) / len(tr)))

    rows = []
    for dist, suffix in (("pwcca", ""), ("procrustes", "-procrustes")):
        for at, suffix2 in (("final", ""), ("init", "-init")):
            for layer in layers:
                with open(os.path.join(out, "cluster-%s%s%s.json" % (layer, suffix, suffix2))) as f:
                    rows.append(dict(summarize(json.load(f)), at=at))
    widths = list(rows[0]["within"])
    print()
    print("Mean distance between two runs of the same width, at the final checkpoint")
    print("(final) and, as the control, at step 0 before any training (init)")
    print("(pwcca: 1 - PWCCA as the daemon stored it, the first-seen run as X; procrustes:\n"
          " angular, radians)")
    head = ["layer", "distance", "at"] + ["w%s(%d)" % (w, len(rows[0]["within"][w]["pairs"]))
                                          for w in widths]
    head += ["across(%d)" % rows[0]["across"]["pairs"], "closer", "top_split"]
    print("  " + "  ".join("%-10s" % h for h in head).rstrip())
    for r in rows:
        cells = [r["layer"], r["distance"], r["at"]]
        cells += [fmt(r["within"][w]["mean"]) for w in widths]
        cells += [fmt(r["across"]["mean"]), r["closer"] or "n/a",
                  "widths" if r["top_split_is_widths"] else "mixed"]
        print("  " + "  ".join("%-10s" % c for c in cells).rstrip())
    print()
    by = {(r["layer"], r["distance"], r["at"]): r for r in rows}

    def means(x):
        return " vs ".join("w%s %s" % (w, fmt(x["within"][w]["mean"])) for w in widths)
    for layer in layers:
        r, r0 = by[(layer, "pwcca", "final")], by[(layer, "pwcca", "init")]
        print("  %-7s trained: the runs of width %s are closer to each other (%s);"
              % (layer, r["closer"][1:] if r["closer"] else "n/a", means(r)))
        print("  %-7s untrained: width %s (%s)"
              % ("", r0["closer"][1:] if r0["closer"] else "n/a", means(r0)))
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump({"accuracy": acc, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
