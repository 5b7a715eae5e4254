# test_vs.sh -- one run against another over training (issue #22 item 5):
# `pwcca curve A --vs B` on two runs a real daemon recorded gives, at every
# step both have a checkpoint and for every layer both have, exactly what
# `pwcca compare A_file B_file --json` gives on those two files; runs on two
# probes are refused naming the step and both fingerprints.

V_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
V_PY=$(pw_numpy_python)
pw_need "vs tests" numpy sqlite3 || { return 0 2>/dev/null || exit 0; }
V=$PW_TMP/vs
mkdir -p "$V/runs/va" "$V/runs/vb" "$V/runs/vc" "$V/runs/pa" "$V/runs/pb"
vmk() { "$V_PY" "$V_HERE/mkckpt.py" "$@" --mode direct --n 80; }
vcheck() {
    local name=$1 code=$2 out; shift 2
    if out=$("$V_PY" -c "$code" "$@" 2>&1); then ok "$name"; else fail "$name" "$(head -c 600 <<<"$out")"; fi
}

# va at 100, 200, 300; vb at 100, 300, 400: the steps in common are 100 and 300.
# va has conv1, conv2, fc; vb conv1, conv2, head: the layers in common conv1, conv2.
for s in 100 200 300; do
    vmk "$V/runs/va/step-$s.safetensors" --layers conv1,conv2,fc --p 4,6,3 --seed $s
done
for s in 100 300 400; do
    vmk "$V/runs/vb/step-$s.safetensors" --layers conv1,conv2,head --p 5,6,2 --seed $((s + 7))
done
# vc shares no step with va.
vmk "$V/runs/vc/step-500.safetensors" --layers conv1 --seed 5
# Two runs on different probes, with a step in common.
vmk "$V/runs/pa/step-100.safetensors" --fingerprint 0123abcd --seed 11
vmk "$V/runs/pb/step-100.safetensors" --fingerprint 4567ef01 --seed 12
printf 'settle_time = 0.2\nrescan_interval = 1\n' >"$V/pwccad.conf"
VDB=$V/pwccad.db
V_PID=
trap 'pw_daemon_stop V_PID' RETURN
if pw_daemon_start V_PID "$V/daemon.log" "$V/pwccad.sock" --watch "$V/runs" --db "$VDB" \
    --config "$V/pwccad.conf"; then ok "pwccad starts on five runs"; else fail "pwccad starts on five runs" "$(tail -5 "$V/daemon.log")"; fi
vcount_is() { [ "$(sqlite3 -cmd '.timeout 2000' "$VDB" "$1" 2>/dev/null)" = "$2" ]; }
pw_expect_wait "the daemon records the nine checkpoints" 20 \
    vcount_is "SELECT COUNT(*) FROM checkpoints WHERE status = 'ok'" 9
pw_daemon_stop V_PID

"$PWCCA" --db "$VDB" curve va --vs vb --format json >"$V/vs.json" 2>"$V/vs.err"
for s in 100 300; do
    "$PWCCA" compare "$V/runs/va/step-$s.safetensors" "$V/runs/vb/step-$s.safetensors" --json \
        >"$V/cmp-$s.json" 2>>"$V/vs.err"
done
vcheck "curve --vs: a row per common step and common layer, each equal to compare on the two files (1e-12)" '
import json, math, sys
rows = json.load(open(sys.argv[1]))
cmp = {s: {l["layer"]: l for l in json.load(open(f))["layers"]} for s, f in ((100, sys.argv[2]), (300, sys.argv[3]))}
got = [(r["layer"], r["step"]) for r in rows]
assert got == [("conv1", 100), ("conv1", 300), ("conv2", 100), ("conv2", 300)], got
metrics = ("pwcca", "distance", "mean_cca", "svcca", "cka", "cka_debiased", "procrustes")
for r in rows:
    assert r["run"] == "va" and r["vs"] == "vb" and r["ref"] == "vs" and r["ref_step"] == r["step"], r
    c = cmp[r["step"]][r["layer"]]
    assert r["status"] == c["status"] == "ok", (r, c)
    assert r["n"] == c["n"] == 80 and r["p_kept"] == c["p_kept"] and r["q_kept"] == c["q_kept"], (r, c)
    for k in metrics:
        assert (r[k] is None) == (c[k] is None), (k, r[k], c[k])
        if r[k] is not None:
            assert abs(r[k] - c[k]) <= 1e-12, (r["layer"], r["step"], k, r[k], c[k])
    assert r["pwcca"] is not None and r["cka"] is not None
' "$V/vs.json" "$V/cmp-100.json" "$V/cmp-300.json"
expect "and says nothing on stderr (no fingerprints on either side)" test ! -s "$V/vs.err"

"$PWCCA" --db "$VDB" curve va --vs vb --layer conv2 --metrics cka --format csv >"$V/vs.csv" 2>"$V/csv.err"
vcheck "--layer and --metrics: CSV with a vs column after run, only that layer and those metrics" '
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert list(rows[0].keys())[:4] == ["run", "vs", "layer", "depth"], list(rows[0].keys())
assert [(r["run"], r["vs"], r["layer"], r["step"]) for r in rows] == [("va", "vb", "conv2", "100"), ("va", "vb", "conv2", "300")], rows
assert all(r["cka"] != "" and r["pwcca"] == "" and r["svcca"] == "" for r in rows), rows
' "$V/vs.csv"
expect_output "the table has a row per step and layer" "^conv1 .* 300 .* 300 " \
    "$PWCCA" --db "$VDB" curve va --vs vb
expect_status "a layer only one run has is refused (exit 1)" 1 \
    "$PWCCA" --db "$VDB" curve va --vs vb --layer fc
expect_output "naming the layers both have" "no layer 'fc' in both va and vb; layers they share: conv1, conv2" \
    "$PWCCA" --db "$VDB" curve va --vs vb --layer fc
expect_status "--ref with --vs is a usage error" 2 \
    "$PWCCA" --db "$VDB" curve va --vs vb --ref final
expect_status "runs on two probes are refused (exit 1)" 1 \
    "$PWCCA" --db "$VDB" curve pa --vs pb
expect_output "naming probe_mismatch, the step and both fingerprints" \
    "at step 100: probe_mismatch: pa:100 was taken on probe_fingerprint 0123abcd but pb:100 on 4567ef01" \
    "$PWCCA" --db "$VDB" curve pa --vs pb --format json
expect_output "one side without a fingerprint is warned about, and compared" \
    "warning: va:100 has no probe_fingerprint \(pa:100 has 0123abcd\)" \
    "$PWCCA" --db "$VDB" curve va --vs pa
expect_status "runs without a common step are refused (exit 1)" 1 \
    "$PWCCA" --db "$VDB" curve va --vs vc
expect_output "saying so" "runs va and vc have no step at which both have a checkpoint file" \
    "$PWCCA" --db "$VDB" curve va --vs vc

# ---- the line plot -------------------------------------------------------------------
"$PWCCA" --db "$VDB" plot va --vs vb -o "$V/vs.svg" >/dev/null 2>"$V/svg.err"
if ! command -v xmllint >/dev/null; then echo "  skip: plot --vs SVG check: xmllint missing (Debian: libxml2-utils)"
elif xmllint --noout "$V/vs.svg" 2>>"$V/svg.err"; then ok "plot A --vs B -o draws a well-formed SVG"
else fail "plot A --vs B -o draws a well-formed SVG" "$(head -c 300 "$V/svg.err")"; fi
expect "titled A vs B, with a line for each common layer" \
    grep -q "va vs vb: PWCCA distance per layer over training" "$V/vs.svg"
vcheck "whose legend names the layers both runs have, and only those" '
import sys
s = open(sys.argv[1]).read()
assert ">conv1<" in s and ">conv2<" in s, "legend"
assert ">fc<" not in s and ">head<" not in s, "a layer only one run has is drawn"
' "$V/vs.svg"
expect_status "plot --vs of runs on two probes is refused (exit 1)" 1 \
    "$PWCCA" --db "$VDB" plot pa --vs pb -o "$V/p.svg"
