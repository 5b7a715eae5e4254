# test_convnoise.sh -- `pwcca convergence` with the noise (issue #21 item 3): settle
# ranges from the jackknife SEs, the pairs of layers whose order is within the noise,
# and a verdict counted on the pairs told apart; without SEs, point settle steps.
# Three layers, in file order (depth): "early" is the same tensor at every step up
# to a 0.001 jitter (distance to the final ~0 from the first step: range 100..100);
# "late_a" and "late_b" are one fresh random tensor per step, the same for both, so
# they never come near the final (their ranges lie past the newest checkpoint) and
# overlap each other whatever the SEs: within the noise.  early < late_a and
# early < late_b are told apart: 2 of 3 pairs, both bottom-up.  The same files in a
# run with noise = off give today's point answer, said so.

CN_PY=$(pw_numpy_python)
if [ -z "$CN_PY" ]; then
    echo "  skip: these tests need python3 with numpy"
    return 0 2>/dev/null || exit 0
fi
CN=$PW_TMP/convnoise
CNDB=$CN/pwccad.db
CNSOCK=$CN/pwccad.sock
mkdir -p "$CN/runs/cvn" "$CN/runs/cvo"
"$CN_PY" - "$CN/runs/cvn" <<'PY'
import json, struct, sys
import numpy as np
n, p = 64, 4
base = np.random.default_rng(7).standard_normal((n, p))
for step in (100, 200, 300, 400, 500):
    rng = np.random.default_rng(step)
    late = rng.standard_normal((n, p))
    layers = [("early", base + 0.001 * rng.standard_normal((n, p))), ("late_a", late), ("late_b", late)]
    header, blobs, off = {}, [], 0
    for name, x in layers:
        b = x.astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": [n, p], "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    path = "%s/step-%d.safetensors" % (sys.argv[1], step)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
PY
for f in "$CN"/runs/cvn/*.tmp; do cp "$f" "$CN/runs/cvo/$(basename "${f%.tmp}")"; mv "$f" "${f%.tmp}"; done
cat >"$CN/pwccad.conf" <<CONF
settle_time = 0.2
rescan_interval = 1
[run cvn]
noise = jackknife:4 every 1
[run cvo]
noise = off
CONF
cn_q() { PWCCAD_SOCKET=$CNSOCK "$PWCCA" --db "$CNDB" "$@"; }
# cn_final_scored RUN: its four checkpoints before the final have a distance to it.
cn_final_scored() {
    [ "$(cn_q curve "$1" --ref final --format json 2>/dev/null | "$CN_PY" -c '
import json, sys
rows = [r for r in json.load(sys.stdin) if r["step"] < 500 and r["distance"] is not None]
print(len(rows))')" = 12 ]
}
if pw_daemon_start CN_PID "$CN/daemon.log" "$CNSOCK" --watch "$CN/runs" --db "$CNDB" \
    --config "$CN/pwccad.conf" --http 127.0.0.1:0 &&
    pw_wait 30 cn_q finalize cvn --step 500 && pw_wait 30 cn_q finalize cvo --step 500 &&
    pw_wait 30 cn_final_scored cvn && pw_wait 30 cn_final_scored cvo; then
    ok "pwccad scores both runs against their final checkpoint"
else
    fail "pwccad scores both runs against their final checkpoint" "$(tail -5 "$CN/daemon.log")"
fi
cn_q convergence cvn --format json >"$CN/cvn.json" 2>&1
cn_q convergence cvo --format json >"$CN/cvo.json" 2>&1
cn_check() { # cn_check NAME FILE PYTHON: pass when PYTHON (with j = the JSON) runs clean
    if "$CN_PY" -c "import json, sys; j = json.load(open(sys.argv[1])); L = {l.get('name'): l for l in j.get('layers', [])}
$3" "$2" >"$CN/check.out" 2>&1; then ok "$1"; else fail "$1" "$(tail -3 "$CN/check.out") $(head -c 300 "$2")"; fi
}
cn_check "convergence --json gives each layer a settle range from its SEs" "$CN/cvn.json" '
assert j["noise"] is True and j["z"] == 2 and j["verdict_basis"] == "distinguishable pairs", j
e = L["early"]
assert e["has_se"] and e["settled_step"] == 100 and e["settled_earliest"] == 100 and e["settled_latest"] == 100, e
for n in ("late_a", "late_b"):
    assert L[n]["has_se"] and L[n]["settled_step"] is None and L[n]["settled_latest"] is None, L[n]'
cn_check "convergence --json names the pair within the noise and decides on the 2 told apart" "$CN/cvn.json" '
assert j["within_noise"] == [["late_a", "late_b"]], j["within_noise"]
assert (j["pairs"], j["distinguishable_pairs"], j["concordant_pairs"], j["discordant_pairs"]) == (3, 2, 2, 0), j
assert j["kappa"] == 1 and j["verdict"] == "bottom-up", j'
cn_check "without SEs (noise = off) convergence --json is the point analysis, and says so" "$CN/cvo.json" '
assert j["noise"] is False and j["verdict_basis"] == "point settle steps (no SE)", j
assert j["within_noise"] == [] and j["pairs"] is None and j["kappa"] is None, j
assert L["early"]["settled_step"] == 100 and L["early"]["settled_earliest"] is None, L["early"]'
CN_PORT=$(sed -n 's|.*dashboard at http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$CN/daemon.log" | head -1)
"$CN_PY" -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen("http://127.0.0.1:%s/api/run/cvn" % sys.argv[1], timeout=10).read().decode())' \
    "$CN_PORT" >"$CN/web.json" 2>&1
cn_check "the dashboard's run JSON gives the settle ranges, the pair within the noise and the verdict" \
    "$CN/web.json" '
c = j["convergence"]
assert c["noise"] is True and c["pairs"] == 3 and c["distinguishable_pairs"] == 2, c
assert c["within_noise"] == [["late_a", "late_b"]] and c["verdict"] == "bottom-up", c
e = [l for l in c["layers"] if l["layer"] == "early"][0]
assert e["settled_earliest"] == 100 and e["settled_latest"] == 100, e'
expect_output "the convergence table shows the settle ranges and the pairs within the noise" \
    "within the noise \(1 of 3 pairs, settle ranges overlap\): late_a ~ late_b" cn_q convergence cvn
expect_output "the convergence table says how many pairs the noise told apart" \
    "bottom-up: bottom-up \(2 of 3 pairs of ranked layers told apart by the noise" cn_q convergence cvn
expect_output "the convergence table of a run without SEs says the settle steps are points" \
    "no standard errors \(noise = off\): settle steps are points" cn_q convergence cvo
# The lines plot against the final draws each settle range as a bar (early's only: the
# late layers' ranges lie past the newest checkpoint), and names it in its key.
cn_q plot cvn --kind lines -o "$CN/cvn.svg" >/dev/null 2>&1
cn_q plot cvo --kind lines -o "$CN/cvo.svg" >/dev/null 2>&1
expect_output "the SVG lines plot draws the settle range of each layer that has one" "^1 1$" \
    sh -c 'echo "$(grep -c "class=\"settle-range\"" "$1") $(grep -c "bar: settle range, .*2 SE" "$1")"' _ "$CN/cvn.svg"
expect_output "without SEs the SVG has no settle range" "^0$" grep -c "settle-range" "$CN/cvo.svg"
# Against the previous checkpoint, --theta draws the stability threshold and --z widens
# the band to the rule's z: the picture to read stable_rule = noise alerts from.
cn_q plot cvn --kind lines --theta 0.01 --z 2 --ymax 0.5 -o "$CN/prev.svg" >/dev/null 2>&1
expect_output "plot --theta --z draws theta and a band of +-2 SE against the previous checkpoint" \
    "^1 1 [1-9]$" sh -c 'echo "$(grep -c "stable_threshold &#x3B8; = 0.01" "$1") $(grep -c "&#xB1;2 standard errors" "$1") $(grep -c "distance to the previous checkpoint" "$1")"' _ "$CN/prev.svg"
expect_output "plot --theta refuses --ref final" "use it with --ref previous" cn_q plot cvn --ref final --theta 0.01 -o "$CN/x.svg"
if pw_daemon_stop CN_PID && ! grep -Eq "Sanitizer|runtime error" "$CN/daemon.log"; then
    ok "pwccad stops cleanly (exit 0, no sanitizer reports)"
else
    fail "pwccad stops cleanly" "$(grep -E -m3 "Sanitizer|runtime error" "$CN/daemon.log") $(tail -3 "$CN/daemon.log")"
fi
