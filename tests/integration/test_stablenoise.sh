# test_stablenoise.sh -- stable_rule = noise through the daemon (issue #21 item 3): the
# same checkpoints under three runs, theta set from the distances and SEs that
# `pwcca compare --noise` prints for them, so that every distance is <= theta but the
# largest one's upper bound d + 2*SE is not.  The threshold rule calls the layer stable,
# the noise rule does not; with theta above every upper bound the noise rule does and
# its alert says so; without SEs (noise off) the threshold rule decides and says so (with
# theta_hi: a score without SEs need not equal the noise pass's to the last bit).

S_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
S_PY=$(pw_numpy_python)
if [ -z "$S_PY" ] || ! command -v sqlite3 >/dev/null; then
    echo "  skip: these tests need python3 with numpy and the sqlite3 CLI"
    return 0 2>/dev/null || exit 0
fi
S=$PW_TMP/stablenoise
SDB=$S/pwccad.db
mkdir -p "$S/ck"
for s in 100 200 300 400; do
    "$S_PY" "$S_HERE/mkckpt.py" "$S/ck/step-$s.safetensors" --seed "$s" --layers fc --p 4 \
        --n 64 --drift 0.05
done
# theta_lo: just above the largest distance (every distance <= it; the largest one's d + 2*SE above it);
# theta_hi: above every d + 2*SE.
for s in 200 300 400; do
    "$PWCCA" compare "$S/ck/step-$s.safetensors" "$S/ck/step-$((s - 100)).safetensors" \
        --layer fc --noise jackknife:4 --json >"$S/cmp-$s.json" 2>&1
done
read -r S_LO S_HI < <("$S_PY" -c '
import json, sys
ls = [json.load(open(f))["layers"][0] for f in sys.argv[1:]]
lo = max(l["distance"] for l in ls) * (1 + 1e-9)  # the daemon agrees to ~1e-12, not bit for bit
top = max(ls, key=lambda l: l["distance"])
assert top["distance"] + 2 * top["distance_se"] > lo * (1 + 1e-6), ls
print("%.17g %.17g" % (lo, max(l["distance"] + 2 * l["distance_se"] for l in ls) * 1.001 + 1e-12))
' "$S"/cmp-*.json)
for r in th nzlo nzhi nose; do mkdir -p "$S/runs/$r" && cp "$S"/ck/*.safetensors "$S/runs/$r/"; done
cat >"$S/pwccad.conf" <<CONF
settle_time = 0.2
rescan_interval = 1
stable_count = 3
unstable_threshold = 1
[run th]
noise = jackknife:4 every 1
stable_threshold = $S_LO
[run nzlo]
noise = jackknife:4 every 1
stable_rule = noise
stable_threshold = $S_LO
[run nzhi]
noise = jackknife:4 every 1
stable_rule = noise
stable_threshold = $S_HI
[run nose]
stable_rule = noise
stable_threshold = $S_HI
CONF
sq() { sqlite3 -cmd ".timeout 2000" "$SDB" "$1" 2>/dev/null; }
sq_is() { [ "$(sq "$1")" = "$2" ]; }
# s_alert RUN: "step|detail" of its layer_stable alerts.
s_alert() {
    sq "SELECT a.step || '|' || ifnull(a.detail, '') FROM alerts a JOIN runs r ON r.id = a.run_id
        WHERE r.name = '$1' AND a.kind = 'layer_stable' ORDER BY a.step"
}
"$PWCCAD" --watch "$S/runs" --db "$SDB" --socket "$S/pwccad.sock" --config "$S/pwccad.conf" \
    --foreground >>"$S/daemon.log" 2>&1 &
S_PID=$!
s_stop() {
    pw_stop_pid "$S_PID"
    local rc=$?
    S_PID=
    return $rc
}
trap 's_stop' RETURN
if pw_wait 30 sq_is "SELECT COUNT(*) FROM scores WHERE ref = 'previous' AND distance IS NOT NULL" 12 &&
    pw_wait 10 sq_is "SELECT COUNT(*) FROM alerts WHERE kind = 'layer_stable'" 3; then
    ok "pwccad scores the four runs"
else
    fail "pwccad scores the four runs" "$(tail -5 "$S/daemon.log")"
fi
expect_output "stable_rule = threshold: distances <= theta make the layer stable (no detail)" \
    "^400\|$" s_alert th
expect_output "stable_rule = noise: d + 2*SE above theta keeps it unstable" "^$" s_alert nzlo
expect_output "stable_rule = noise: stable once every d + 2*SE <= theta, and says so" \
    "^400\|rule noise: distance \+ 2\*SE = [0-9.e-]+ <= [0-9.e-]+ \(SE [0-9.e-]+\)$" s_alert nzhi
expect_output "stable_rule = noise without SEs falls back to the threshold rule, and says so" \
    "^400\|rule threshold: no standard error yet for this layer$" s_alert nose
if s_stop && ! grep -Eq "Sanitizer|runtime error" "$S/daemon.log"; then
    ok "pwccad stops cleanly (exit 0, no sanitizer reports)"
else
    fail "pwccad stops cleanly" "$(grep -E -m3 "Sanitizer|runtime error" "$S/daemon.log") $(tail -3 "$S/daemon.log")"
fi
printf 'stable_rule = bands\n' >"$S/bad.conf"
expect_output "a bad stable_rule is refused, naming the two rules" \
    "stable_rule must be threshold or noise" "$PWCCAD" --watch "$S/runs" --db "$S/bad.db" \
    --socket "$S/bad.sock" --config "$S/bad.conf" --foreground
