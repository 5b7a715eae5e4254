# test_digits.sh -- examples/digits/run.sh end to end, reduced (1 epoch, 2 seeds x
# widths 8 and 16): the daemon records every run, `pwcca cluster` clusters them
# per layer, and the printed table is well formed and says what the cluster JSON
# says (each width's mean within-width distance recomputed from the matrix, in
# [0, 1] for PWCCA, the closer width its argmin); the SVGs are well formed XML.
# Also: without torch/sklearn the script exits 1 naming the Debian packages,
# and it refuses to recreate an --out directory it did not make.
# Needs python3-torch and python3-sklearn (`make deps-examples`); without them
# the test says so and counts nothing.

dg_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dg_script="$dg_here/../../examples/digits/run.sh"
dg_py=/usr/bin/python3
if ! pw_need "digits example test" sqlite3 "$PWCCAD" "$PWCCA"; then
    :
elif ! "$dg_py" -c 'import torch, numpy, sklearn' >/dev/null 2>&1; then
    echo "  SKIP: python3-torch or python3-sklearn not installed (run make deps-examples)"
else
    dg_out="$PW_TMP/digits"

    # A python without Debian's dist-packages (-S skips site): what a machine
    # without the packages looks like to the script.
    printf '#!/bin/sh\nexec %s -S "$@"\n' "$dg_py" >"$PW_TMP/digits-nosite-python"
    chmod +x "$PW_TMP/digits-nosite-python"
    dg_rc=0
    dg_msg=$(PYTHON="$PW_TMP/digits-nosite-python" bash "$dg_script" --build "$BUILD" \
        --out "$dg_out-nodeps" 2>&1) || dg_rc=$?
    if [ "$dg_rc" = 1 ] && grep -q "lacks python3-torch python3-numpy python3-sklearn: run 'make deps-examples'" <<<"$dg_msg" &&
        [ ! -e "$dg_out-nodeps/runs" ]; then
        ok "without torch, numpy and sklearn the example exits 1 naming the packages, before starting anything"
    else
        fail "missing packages are named" "exit $dg_rc: $(tail -c 400 <<<"$dg_msg")"
    fi

    # OUT is recreated on every run, but never a directory the script did not make.
    mkdir -p "$dg_out-mine" && echo keep >"$dg_out-mine/notes.txt"
    dg_rc=0
    dg_msg=$(bash "$dg_script" --build "$BUILD" --out "$dg_out-mine" 2>&1) || dg_rc=$?
    if [ "$dg_rc" = 1 ] && [ "$(cat "$dg_out-mine/notes.txt")" = keep ] && grep -q "choose another --out" <<<"$dg_msg"; then
        ok "an --out directory the example did not make is refused and left alone"
    else
        fail "foreign --out refused" "exit $dg_rc: $(tail -c 300 <<<"$dg_msg")"
    fi

    dg_rc=0
    dg_log=$(bash "$dg_script" --build "$BUILD" --out "$dg_out" --widths 8,16 --seeds 1,2 \
        --epochs 1 --every 1 2>&1) || dg_rc=$?
    if [ "$dg_rc" = 0 ]; then
        ok "examples/digits/run.sh trains 2 widths x 2 seeds while pwccad watches, clusters them, stops the daemon"
    else
        fail "examples/digits/run.sh" "exit $dg_rc: $(tail -c 800 <<<"$dg_log")"
    fi

    dg_n=$(sqlite3 -readonly "$dg_out/pwccad.db" \
        "SELECT count(*) FROM runs WHERE final_step IS NOT NULL AND name IN ('w8-s1','w8-s2','w16-s1','w16-s2')" 2>/dev/null)
    if [ "$dg_n" = 4 ]; then ok "the daemon recorded the 4 runs as final"; else fail "4 final runs" "got '$dg_n'"; fi

    # The table against the cluster JSON it summarizes (an independent recomputation).
    printf '%s\n' "$dg_log" >"$PW_TMP/digits.out"
    if dg_chk=$("$dg_py" - "$dg_out" "$PW_TMP/digits.out" 2>&1 <<'PY'
import json, math, re, sys
out = sys.argv[1]
log = open(sys.argv[2]).read()
rows = [l.split() for l in log.splitlines()
        if re.match(r"\s+(conv1|conv2|logits)\s+(pwcca|procrustes)\s", l)]
assert len(rows) == 12, "expected 12 table rows (3 layers x 2 distances x final, init), got %d" % len(rows)
header = [l.split() for l in log.splitlines() if re.match(r"\s+layer\s+distance\s", l)]
assert header and header[0][2:6] == ["at", "w8(1)", "w16(1)", "across(4)"], header
for layer, dist, at, m8, m16, across, closer, split in rows:
    vals = {8: float(m8), 16: float(m16)}
    top = 1.0 if dist == "pwcca" else math.pi / 2
    for v in list(vals.values()) + [float(across)]:
        assert 0 <= v <= top, "%s %s: %r outside [0, %g]" % (layer, dist, v, top)
    assert closer == "w%d" % min(vals, key=vals.get), (layer, dist, closer, vals)
    assert split in ("widths", "mixed"), split
    assert at in ("final", "init"), at
    doc = json.load(open("%s/cluster-%s%s%s.json" % (out, layer, "" if dist == "pwcca" else "-procrustes",
                                                      "" if at == "final" else "-init")))
    assert all(r.endswith(":0") == (at == "init") for r in doc["runs"]), doc["runs"]
    assert doc["layer"] == layer and doc["distance"] == dist, doc["layer"]
    runs, d = doc["runs"], doc["matrix"]
    for w in (8, 16):
        idx = [i for i, r in enumerate(runs) if r.startswith("w%d-" % w)]
        assert len(idx) == 2, runs
        assert abs(d[idx[0]][idx[1]] - vals[w]) < 5e-5, (layer, dist, w, d[idx[0]][idx[1]], vals[w])
lines = [l for l in log.splitlines() if "trained: the runs of width" in l]
assert len(lines) == 3, lines
acc = re.findall(r"width +(\d+): test ([0-9.]+) ([0-9.]+) \(mean", log)
assert sorted(int(w) for w, _, _ in acc) == [8, 16], acc
assert all(0 <= float(a) <= 1 for _, a, b in acc for a in (a, b)), acc
print("12 rows, 3 conclusions, accuracies of 2 widths")
PY
    ); then
        ok "the printed table is well formed and matches the cluster JSON ($dg_chk)"
    else
        fail "the printed table" "$(tail -c 800 <<<"$dg_chk") -- output: $(tail -c 600 <<<"$dg_log")"
    fi

    dg_bad=""
    for dg_svg in "$dg_out"/cluster-{conv1,conv2,logits}{,-procrustes}.svg; do
        if command -v xmllint >/dev/null; then
            xmllint --noout "$dg_svg" 2>/dev/null || dg_bad="$dg_bad $dg_svg"
        else
            "$dg_py" -c 'import sys, xml.etree.ElementTree as E; assert E.parse(sys.argv[1]).getroot().tag.endswith("svg")' \
                "$dg_svg" 2>/dev/null || dg_bad="$dg_bad $dg_svg"
        fi
    done
    if [ -z "$dg_bad" ]; then ok "the 6 dendrogram SVGs are well formed"; else fail "SVGs well formed" "$dg_bad"; fi
fi
