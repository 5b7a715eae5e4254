# test_across.sh -- across networks (issue #22): every layer of one checkpoint
# against every layer of another, offline (`pwcca compare --all-pairs`) and
# from the runs a real daemon recorded (`pwcca layers-matrix`); outputs
# parsed back (JSON), drawn (SVG, checked by xmllint when installed) and
# checked against `pwcca compare` on the same files.

X_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
X_PY=$(pw_numpy_python)
pw_need "across tests" numpy sqlite3 || { return 0 2>/dev/null || exit 0; }
X=$PW_TMP/across
mkdir -p "$X/runs/r1" "$X/runs/r2"
xmk() { "$X_PY" "$X_HERE/mkckpt.py" "$@" --mode direct --n 80; }
# check NAME CODE ARGS...: python CODE with sys.argv[1:] = ARGS; pass on exit 0.
xcheck() {
    local name=$1 code=$2 out; shift 2
    if out=$("$X_PY" -c "$code" "$@" 2>&1); then ok "$name"; else fail "$name" "$(head -c 600 <<<"$out")"; fi
}
# xml_valid NAME FILE: well-formed XML by xmllint (a skip line when it is missing).
xml_valid() {
    if ! command -v xmllint >/dev/null; then echo "  skip: $1: xmllint missing (Debian: libxml2-utils)"; return; fi
    if xmllint --noout "$2" 2>"$X/xmllint.err"; then ok "$1"; else fail "$1" "$(head -c 300 "$X/xmllint.err")"; fi
}

xmk "$X/a.safetensors" --layers conv1,conv2,fc --p 4,6,3 --seed 1
xmk "$X/b.safetensors" --layers l1,l2 --p 5,3 --seed 2
"$X_PY" "$X_HERE/mkckpt.py" "$X/short.safetensors" --layers conv1 --n 60 --mode direct

# ---- offline: compare --all-pairs ------------------------------------------------
"$PWCCA" compare "$X/a.safetensors" "$X/a.safetensors" --all-pairs --json >"$X/self.json" 2>"$X/err"
"$PWCCA" compare "$X/a.safetensors" "$X/a.safetensors" --json >"$X/pairs.json" 2>>"$X/err"
xcheck "--all-pairs of a network against itself: PWCCA 1 on the diagonal, as compare prints it" '
import json, sys
m = json.load(open(sys.argv[1])); c = json.load(open(sys.argv[2]))
g = m["matrix"]["pwcca"]
assert m["layers_a"] == m["layers_b"] == ["conv1", "conv2", "fc"], m["layers_a"]
assert len(g) == 3 and all(len(r) == 3 for r in g)
assert all(abs(g[i][i] - 1) < 1e-9 for i in range(3)), g
assert all(g[i][j] < 0.99 for i in range(3) for j in range(3) if i != j), g
assert "cka" in m["matrix"] and len(m["cells"]) == 9
# The diagonal pairs are compare'"'"'s same-named pairs: the same numbers.
for i, l in enumerate(c["layers"]):
    for k in ("pwcca", "cka", "svcca", "mean_cca"):
        cell = m["cells"][i * 3 + i]
        if cell[k] is not None:
            assert abs(cell[k] - l[k]) <= 1e-12, (k, cell[k], l[k])
' "$X/self.json" "$X/pairs.json"

"$PWCCA" compare "$X/a.safetensors" "$X/b.safetensors" --all-pairs --json >"$X/ab.json" 2>"$X/err"
xcheck "--all-pairs of two architectures: A's layers down, B's across, every status ok" '
import json, sys
m = json.load(open(sys.argv[1]))
assert m["layers_a"] == ["conv1", "conv2", "fc"] and m["layers_b"] == ["l1", "l2"], m
assert m["n"] == 80 and len(m["matrix"]["pwcca"]) == 3 and len(m["matrix"]["pwcca"][0]) == 2
assert "svcca" not in m["matrix"]  # PWCCA and CKA unless --metrics asks more
assert [(c["layer_a"], c["layer_b"]) for c in m["cells"]][:3] == [("conv1", "l1"), ("conv1", "l2"), ("conv2", "l1")]
assert all(c["status"] == "ok" for c in m["cells"])
' "$X/ab.json"
expect_output "the table prints one grid per metric" "^PWCCA \(rows: layers of A.*" \
    "$PWCCA" compare "$X/a.safetensors" "$X/b.safetensors" --all-pairs --metrics svcca
expect_output "--metrics adds a grid" "^SVCCA \(rows" \
    "$PWCCA" compare "$X/a.safetensors" "$X/b.safetensors" --all-pairs --metrics svcca
"$PWCCA" compare "$X/a.safetensors" "$X/b.safetensors" --all-pairs -o "$X/ab.svg" >/dev/null 2>"$X/err"
xml_valid "-o draws a well-formed SVG heatmap" "$X/ab.svg"
expect "the heatmap has a cell per pair" test "$(grep -c 'class="cell"' "$X/ab.svg" 2>/dev/null)" = 6
expect_status "files of different n are refused (exit 1)" 1 \
    "$PWCCA" compare "$X/a.safetensors" "$X/short.safetensors" --all-pairs
expect_output "and the message names both layers and their n" \
    "layer 'conv1' of A has n = 80 .*layer 'conv1' of B has n = 60" \
    "$PWCCA" compare "$X/a.safetensors" "$X/short.safetensors" --all-pairs
expect_status "-o without --all-pairs is a usage error" 2 \
    "$PWCCA" compare "$X/a.safetensors" "$X/b.safetensors" -o "$X/x.svg"

# ---- probe identity: files of two probes are refused, a missing fingerprint is said ----
"$X_PY" "$X_HERE/mkckpt.py" "$X/p1.safetensors" --fingerprint 0123abcd --mode direct
"$X_PY" "$X_HERE/mkckpt.py" "$X/p2.safetensors" --fingerprint 4567ef01 --mode direct --seed 2
"$X_PY" "$X_HERE/mkckpt.py" "$X/p1b.safetensors" --fingerprint 0123abcd --mode direct --seed 3
"$X_PY" "$X_HERE/mkckpt.py" "$X/p0.safetensors" --mode direct --seed 4
for form in "" "--all-pairs"; do
    expect_status "compare $form of two probes is refused (exit 1)" 1 \
        "$PWCCA" compare "$X/p1.safetensors" "$X/p2.safetensors" $form
    expect_output "compare $form names probe_mismatch and both fingerprints" \
        "probe_mismatch: .*p1.safetensors was taken on probe_fingerprint 0123abcd but .*p2.safetensors on 4567ef01" \
        "$PWCCA" compare "$X/p1.safetensors" "$X/p2.safetensors" $form
    expect_output "compare $form warns when one file has no fingerprint, and compares" \
        "warning: .*p0.safetensors has no probe_fingerprint \(.*p1.safetensors has 0123abcd\)" \
        "$PWCCA" compare "$X/p1.safetensors" "$X/p0.safetensors" $form
done
out=$("$PWCCA" compare "$X/p1.safetensors" "$X/p1b.safetensors" --all-pairs --json 2>"$X/same.err")
if [ ! -s "$X/same.err" ] && grep -q '"probe_a": "0123abcd"' <<<"$out"; then ok "the same probe: no warning, and the JSON names it"
else fail "the same probe: no warning, and the JSON names it" "$(head -c 300 "$X/same.err")"; fi

# ---- from the store: layers-matrix ----------------------------------------------------
xmk "$X/runs/r1/step-100.safetensors" --layers conv1,conv2,fc --p 4,6,3 --seed 100
xmk "$X/runs/r1/step-200.safetensors" --layers conv1,conv2,fc --p 4,6,3 --seed 200
xmk "$X/runs/r2/step-100.safetensors" --layers l1,l2 --p 5,3 --seed 7
mkdir -p "$X/runs/q1" "$X/runs/q2"
xmk "$X/runs/q1/step-100.safetensors" --fingerprint 0123abcd --seed 8
xmk "$X/runs/q2/step-100.safetensors" --fingerprint 4567ef01 --seed 9
# Two widths x three seeds, for cluster: the same probe, fc 4 or 8 wide.
for w in 4 8; do for seed in 1 2 3; do
    mkdir -p "$X/runs/w$w-s$seed"
    xmk "$X/runs/w$w-s$seed/step-100.safetensors" --layers conv1,fc --p 6,$w --seed $((w * 10 + seed)) --drift 0.5
done; done
printf 'settle_time = 0.2\nrescan_interval = 1\n' >"$X/pwccad.conf"
XDB=$X/pwccad.db
X_PID=
trap 'pw_daemon_stop X_PID' RETURN
if pw_daemon_start X_PID "$X/daemon.log" "$X/pwccad.sock" --watch "$X/runs" --db "$XDB" \
    --config "$X/pwccad.conf"; then ok "pwccad starts on two runs"; else fail "pwccad starts on two runs" "$(tail -5 "$X/daemon.log")"; fi
xcount_is() { [ "$(sqlite3 -cmd '.timeout 2000' "$XDB" "$1" 2>/dev/null)" = "$2" ]; }
pw_expect_wait "the daemon records the eleven checkpoints" 20 \
    xcount_is "SELECT COUNT(*) FROM checkpoints WHERE status = 'ok'" 11
pw_daemon_stop X_PID
"$PWCCA" --db "$XDB" layers-matrix r1 r2:100 --json >"$X/lm.json" 2>"$X/lm.err"
"$PWCCA" compare "$X/runs/r1/step-200.safetensors" "$X/runs/r2/step-100.safetensors" --all-pairs \
    --json >"$X/lm-files.json" 2>>"$X/lm.err"
xcheck "layers-matrix RUN RUN:STEP reads the newest and the named checkpoint, as compare --all-pairs on the files" '
import json, sys
m = json.load(open(sys.argv[1])); f = json.load(open(sys.argv[2]))
assert m["a"] == "r1:200" and m["b"] == "r2:100", (m["a"], m["b"])
assert m["matrix"] == f["matrix"] and m["layers_a"] == f["layers_a"] and m["layers_b"] == f["layers_b"]
' "$X/lm.json" "$X/lm-files.json"
"$PWCCA" --db "$XDB" layers-matrix r1:100 r1:100 --json >"$X/lm-self.json" 2>"$X/lm.err"
xcheck "layers-matrix of a run against itself at one step has PWCCA 1 on the diagonal" '
import json, sys
g = json.load(open(sys.argv[1]))["matrix"]["pwcca"]
assert all(abs(g[i][i] - 1) < 1e-9 for i in range(3)), g
' "$X/lm-self.json"
"$PWCCA" --db "$XDB" layers-matrix r1:100 r2 -o "$X/lm.svg" >/dev/null 2>"$X/lm.err"
xml_valid "layers-matrix -o draws a well-formed SVG" "$X/lm.svg"
expect_status "layers-matrix of two runs on different probes is refused (exit 1)" 1 \
    "$PWCCA" --db "$XDB" layers-matrix q1 q2
expect_output "and names probe_mismatch, both runs and both fingerprints" \
    "probe_mismatch: q1:100 was taken on probe_fingerprint 0123abcd but q2:100 on 4567ef01" \
    "$PWCCA" --db "$XDB" layers-matrix q1 q2
expect_output "layers-matrix warns when a run's checkpoint has no fingerprint" \
    "warning: r1:200 has no probe_fingerprint \(q1:100 has 0123abcd\)" \
    "$PWCCA" --db "$XDB" layers-matrix q1 r1 --json
expect_output "a step the run does not have is named" "run r1 has no checkpoint at step 999" \
    "$PWCCA" --db "$XDB" layers-matrix r1:999 r2
expect_status "an unknown run exits 1" 1 "$PWCCA" --db "$XDB" layers-matrix nope r2
expect_output "an unknown run lists the known ones" "no run 'nope'; known runs: q1, q2, r1, r2, w4-s1, w4-s2, w4-s3, w8-s1, w8-s2, w8-s3" \
    "$PWCCA" --db "$XDB" layers-matrix nope r2

# ---- cluster: 2 widths x 3 seeds ------------------------------------------------------------
six="w4-s1 w8-s1 w4-s2 w8-s2 w4-s3 w8-s3"
"$PWCCA" --db "$XDB" cluster $six --layer fc --json >"$X/cl.json" 2>"$X/cl.err"
xcheck "cluster of six runs: a symmetric matrix, the widths as the two last clusters" '
import json, sys
c = json.load(open(sys.argv[1]))
runs, d, merges = c["runs"], c["matrix"], c["merges"]
assert runs == ["w4-s1:100", "w8-s1:100", "w4-s2:100", "w8-s2:100", "w4-s3:100", "w8-s3:100"], runs
assert all(d[i][i] == 0 and d[i][j] == d[j][i] for i in range(6) for j in range(6))
assert len(merges) == 5 and merges[-1]["size"] == 6
groups = [sorted(m["runs"]) for m in merges if m["size"] == 3]
assert sorted(groups) == [["w4-s1:100", "w4-s2:100", "w4-s3:100"], ["w8-s1:100", "w8-s2:100", "w8-s3:100"]], merges
assert sorted(c["leaves"]) == list(range(6))
' "$X/cl.json"
if "$X_PY" -c "import scipy.cluster.hierarchy" 2>/dev/null; then
    xcheck "cluster's merge order and heights are scipy's average linkage on the same matrix" '
import json, sys
import numpy as np
from scipy.cluster.hierarchy import linkage, leaves_list
from scipy.spatial.distance import squareform
c = json.load(open(sys.argv[1]))
z = linkage(squareform(np.array(c["matrix"]), checks=False), method="average")
mine = np.array(c["linkage"], dtype=float)
assert (mine[:, [0, 1, 3]] == z[:, [0, 1, 3]]).all(), (mine, z)
assert np.allclose(mine[:, 2], z[:, 2], rtol=0, atol=1e-12), (mine, z)
assert list(leaves_list(z)) == c["leaves"], (list(leaves_list(z)), c["leaves"])
' "$X/cl.json"
else
    echo "  skip: cluster against scipy: python3 lacks scipy (Debian: python3-scipy)"
fi
"$PWCCA" --db "$XDB" cluster $six --layer fc --distance procrustes --json >"$X/clp.json" 2>"$X/cl.err"
xcheck "cluster --distance procrustes: a true metric (symmetric, triangle inequality), widths apart" '
import json, sys
c = json.load(open(sys.argv[1]))
d = c["matrix"]
assert c["distance"] == "procrustes", c["distance"]
assert all(d[i][i] == 0 and d[i][j] == d[j][i] for i in range(6) for j in range(6))
assert all(d[i][j] <= d[i][k] + d[k][j] + 1e-12 for i in range(6) for j in range(6) for k in range(6))
groups = [sorted(m["runs"]) for m in c["merges"] if m["size"] == 3]
assert sorted(groups) == [["w4-s1:100", "w4-s2:100", "w4-s3:100"], ["w8-s1:100", "w8-s2:100", "w8-s3:100"]], c["merges"]
' "$X/clp.json"
expect_status "an unknown --distance is a usage error" 2 "$PWCCA" --db "$XDB" cluster w4-s1 w8-s1 --distance cka
"$PWCCA" --db "$XDB" cluster $six --layer fc -o "$X/cl.svg" >"$X/cl.txt" 2>"$X/cl.err"
xml_valid "cluster -o draws a well-formed SVG" "$X/cl.svg"
expect "the cluster SVG has 36 cells and a dendrogram of 5 links" \
    test "$(grep -c 'class="cell"' "$X/cl.svg")-$(grep -c 'class="link"' "$X/cl.svg")" = 36-5
expect_output "the table lists the merges" "^  5  [0-9.]+  \(merge [0-9]\) \+ \(merge [0-9]\)  -> 6 runs" \
    cat "$X/cl.txt"
expect_output "cluster defaults to the top layer and warns about runs without a fingerprint" \
    "warning: w4-s1:100 has no probe_fingerprint" "$PWCCA" --db "$XDB" cluster w4-s1 w8-s1
expect_status "cluster of runs on two probes is refused (exit 1)" 1 "$PWCCA" --db "$XDB" cluster q1 q2
expect_output "and names probe_mismatch and both fingerprints" \
    "probe_mismatch: q1:100 was taken on probe_fingerprint 0123abcd but q2:100 on 4567ef01" \
    "$PWCCA" --db "$XDB" cluster q1 q2
expect_output "--final on a running run says so" "run w4-s1 is not final" \
    "$PWCCA" --db "$XDB" cluster w4-s1 w8-s1 --final
expect_output "a layer a run lacks is named" "r2:100 has no layer 'fc'" \
    "$PWCCA" --db "$XDB" cluster w4-s1 r2 --layer fc
# One name is a run group (test_groups.sh); a run's name is none: exit 1, saying so.
expect_status "one run is no group: an error" 1 "$PWCCA" --db "$XDB" cluster w4-s1
