# test_stability.sh -- the daemon's stability verdicts and alerts do not depend on
# the order checkpoints arrive in, on a restart mid-run, or on a finalize.
#
# Two runs hold the same checkpoints.  "ordered" has them all from the start;
# "late" gets some, then the daemon restarts, then the missing ones arrive
# (rescoring their successors against them).  The daemon keeps each layer's
# series in memory, updated from each commit (daemon/alerts.c): whatever the
# order, both runs must end with the same stable steps and convergence, every
# alert of "ordered" must be in "late", and no alert may be raised twice.
# Real files, the real daemon; every wait is bounded.

ST_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pw_need "stability tests" numpy sqlite3 || { return 0 2>/dev/null || exit 0; }
ST_PY=$(pw_numpy_python)
ST=$PW_TMP/stability
mkdir -p "$ST/root/ordered" "$ST/root/late" "$ST/later"
STDB=$ST/pwccad.db
STSOCK=$ST/pwccad.sock
cat >"$ST/pwccad.conf" <<CONF
settle_time = 0.2
rescan_interval = 1
stable_threshold = 0.05
unstable_threshold = 0.3
stable_count = 2
CONF

# Small drift: ~0.003 from another small one; large drift: ~0.6 from anything.
# Distances to the previous step: 200 big, 300 big, 400 small, 500 small (stable
# at 500), 600 big (unstable), 700 big, 800 small, 900 small (stable at 900).
st_drift() { case $1 in 100 | 200 | 600) echo 3 ;; *) echo 0.05 ;; esac; }
st_mk() { "$ST_PY" "$ST_HERE/mkckpt.py" "$1/step-$2.safetensors" --seed "$2" --drift "$(st_drift "$2")"; }
for s in 100 200 300 400 500 600 700 800 900; do st_mk "$ST/root/ordered" "$s"; done
# "late" lacks 400, 600 and 900 at first: 500 is scored against 300 and 700
# against 500 (both small), so it is stable at 700 for now.
for s in 100 200 300 500 700 800; do st_mk "$ST/root/late" "$s"; done
for s in 400 600 900; do st_mk "$ST/later" "$s"; done

stq() { sqlite3 -cmd ".timeout 2000" "$STDB" "$1" 2>/dev/null; }
stq_is() { [ "$(stq "$1")" = "$2" ]; }
# Previous-reference scores against the step right before, for both layers of a run.
st_chained() { stq_is "SELECT COUNT(*) FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = '$1' AND s.ref = 'previous' AND s.ref_step = s.step - 100" "$2"; }
st_alerts() { stq "SELECT a.kind || ' ' || a.layer || ' ' || a.step FROM alerts a JOIN runs r ON r.id = a.run_id WHERE r.name = '$1' ORDER BY a.kind, a.layer, a.step"; }
# "conv1 900,fc 900,900": each layer's stable step, then the run's converged step.
st_state() { stq "SELECT l.name || ' ' || IFNULL(l.stable_step, '-') FROM layers l JOIN runs r ON r.id = l.run_id WHERE r.name = '$1' ORDER BY l.name; SELECT IFNULL(converged_step, '-') FROM runs WHERE name = '$1'" | paste -sd,; }
st_state_is() { [ "$(st_state "$1")" = "$2" ]; }
# The transitions of the full series, for both layers, are among the run's alerts
# (which others a run passes through on the way depends on the order its files
# settle and its jobs finish in), and run_converged at 900.
st_has_transitions() {
    local w have
    have=$(st_alerts "$1")
    for w in "layer_stable conv1 500" "layer_stable conv1 900" "layer_stable fc 500" \
        "layer_stable fc 900" "layer_unstable conv1 600" "layer_unstable fc 600"; do
        grep -qx "$w" <<<"$have" || return 1
    done
    grep -qx "run_converged  900" <<<"$have"
}

ST_PID=
st_start() { pw_daemon_start ST_PID "$ST/daemon.log" "$STSOCK" --watch "$ST/root" --db "$STDB" --config "$ST/pwccad.conf"; }
st_stop() { pw_daemon_stop ST_PID; }
trap 'st_stop' RETURN

if st_start; then ok "pwccad starts"; else fail "pwccad starts" "$(tail -5 "$ST/daemon.log")"; fi
pw_expect_wait "the ordered run is scored" 20 st_chained ordered 16
pw_expect_wait "the late run's first checkpoints are scored" 20 \
    stq_is "SELECT COUNT(*) FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 'late' AND s.ref = 'previous'" 10
pw_expect_wait "with a gap, the late run is stable at 700 for now" 10 \
    stq_is "SELECT COUNT(*) FROM alerts a JOIN runs r ON r.id = a.run_id WHERE r.name = 'late' AND a.kind = 'layer_stable' AND a.step = 700" 2
pw_expect_wait "the ordered run is stable at 500, unstable at 600, stable and converged at 900" 10 \
    st_state_is ordered "conv1 900,fc 900,900"
expect "the ordered run's transitions were raised" st_has_transitions ordered
if st_stop; then ok "pwccad stops mid-run"; else fail "pwccad stops mid-run" "$(tail -5 "$ST/daemon.log")"; fi

# The missing checkpoints arrive while the daemon is down, then it starts again.
mv "$ST/later"/step-*.safetensors "$ST/root/late/"
if st_start; then ok "pwccad starts again"; else fail "pwccad starts again" "$(tail -5 "$ST/daemon.log")"; fi
pw_expect_wait "the late run is scored in full, each step against the one before" 20 st_chained late 16
pw_expect_wait "the late run ends as the ordered one: stable steps and convergence" 10 \
    st_state_is late "conv1 900,fc 900,900"
expect "every transition of the full series was raised for the late run too" st_has_transitions late
expect "the verdict raised before the gap was filled stays" \
    stq_is "SELECT COUNT(*) FROM alerts a JOIN runs r ON r.id = a.run_id WHERE r.name = 'late' AND a.kind = 'layer_stable' AND a.step = 700" 2

# A finalize backfills final-reference scores: the series, and so the alerts, stay.
nalerts=$(stq "SELECT COUNT(*) FROM alerts")
expect_output "finalize of the late run is accepted" '"final_step":900' \
    "$ST_PY" "$ST_HERE/sockreq.py" "$STSOCK" '{"cmd":"finalize","run":"late","step":900}'
pw_expect_wait "the final-reference scores are backfilled" 20 \
    stq_is "SELECT COUNT(*) FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 'late' AND s.ref = 'final'" 18
expect "a finalize raises no alert" stq_is "SELECT COUNT(*) FROM alerts" "$nalerts"
if st_stop; then ok "pwccad stops cleanly"; else fail "pwccad stops cleanly" "$(tail -5 "$ST/daemon.log")"; fi
# Each alert was announced once over both lives of the daemon (the restart
# offered the stored ones again; the table kept them from being raised twice).
logged=$(grep -c "alert: .* run late" "$ST/daemon.log")
stored=$(stq "SELECT COUNT(*) FROM alerts a JOIN runs r ON r.id = a.run_id WHERE r.name = 'late'")
if [ "$logged" = "$stored" ]; then ok "no alert of the late run was raised twice"; else fail "no alert of the late run was raised twice" "$logged logged, $stored stored"; fi
