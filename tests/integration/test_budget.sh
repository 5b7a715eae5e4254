# test_budget.sh -- what one local user's checkpoint can do to the shared daemon:
# a pair too large for memory_mb is stored as over_budget once (not computed, not
# retried after a restart: no crash loop), pwcca compare --memory-mb applies the same
# rule, a reload raises the budget; and a checkpoint truncated while the daemon reads
# it (SIGBUS on the mapping) costs only that job: the daemon keeps answering and the
# rewritten file is scored.  Every wait is bounded.

B_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
B_PY=$(pw_numpy_python)
pw_need "budget tests" numpy sqlite3 || { return 0 2>/dev/null || exit 0; }
B=$PW_TMP/budget
mkdir -p "$B/runs/small" "$B/runs/big"
B_DB=$B/pwccad.db
B_SOCK=$B/pwccad.sock
B_LOG=$B/daemon.log
b_conf() {
    cat >"$B/pwccad.conf" <<CONF
settle_time = 0.3
rescan_interval = 1
incomplete_timeout = 60
log_level = debug
memory_mb = $1
[run big]
metrics = cka
CONF
}

b_mk() { "$B_PY" "$B_HERE/mkckpt.py" "$@"; }
b_sock() { "$B_PY" "$B_HERE/sockreq.py" "$B_SOCK" "$@"; }
b_q() { sqlite3 -cmd ".timeout 2000" "$B_DB" "$1" 2>/dev/null; }
b_q_is() { [ "$(b_q "$1")" = "$2" ]; }
b_expect_wait() {
    local name=$1 limit=$2; shift 2
    if pw_wait "$limit" "$@"; then ok "$name"; else fail "$name" "not true within ${limit}s: $* (log: $(tail -3 "$B_LOG"))"; fi
}
b_log_has() { grep -Eq -- "$1" "$B_LOG"; }
b_alive() { kill -0 "$B_PID" 2>/dev/null && b_sock '{"cmd":"status"}' | grep -q '"ok":true'; }
b_dead() { ! kill -0 "$B_PID" 2>/dev/null; }
# b_ended STEP: the read of big/step-STEP ended (truncated or stored), or the daemon died.
b_ended() { b_log_has "big: step $1: .*truncated while it was read|big: step $1 stored" || b_dead; }

B_PID=
b_start() { pw_daemon_start B_PID "$B_LOG" "$B_SOCK" --watch "$B/runs" --db "$B_DB" --config "$B/pwccad.conf"; }
b_stop() { pw_daemon_stop B_PID; }
trap 'b_stop' RETURN

# status of (run small, step, layer) against its previous checkpoint
b_status() {
    b_q "SELECT s.status FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 'small'
         AND s.step = $1 AND s.ref = 'previous' AND s.layer = '$2'"
}

# --- memory_mb: a pair over the budget is stored as over_budget ----------------------------
# "tiny" (4 neurons) fits in 1 MiB; "wide" (300 + 300 neurons: a 2.7 MiB Gram alone) does not.
for s in 1 2; do b_mk "$B/runs/small/step-$s.safetensors" --seed "$s" --layers tiny,wide --n 1000 --p 4,300; done
b_conf 1
if b_start; then ok "pwccad starts with memory_mb = 1"; else fail "pwccad starts with memory_mb" "$(tail -3 "$B_LOG")"; fi
b_expect_wait "a layer pair over memory_mb is stored as over_budget" 20 \
    b_q_is "SELECT s.layer || ':' || s.status FROM scores s WHERE s.step = 2 AND s.ref = 'previous' ORDER BY s.layer" \
    "$(printf 'tiny:ok\nwide:over_budget')"
expect_output "its message gives both shapes, the estimate and the budget" \
    'X \(1000 x 300\) with Y \(1000 x 300\) needs an estimated [0-9.]+ MiB, more than the memory budget of 1.0 MiB \(memory_mb\)' \
    b_q "SELECT message FROM scores WHERE step = 2 AND layer = 'wide'"
expect "an over_budget score has no metrics" \
    b_q_is "SELECT COUNT(*) FROM scores WHERE status = 'over_budget' AND pwcca IS NULL AND cka IS NULL" 1
expect "the log names run, step and reference before computing" \
    b_log_has "small: computing step 2 against the previous checkpoint, step 1"
expect "the log names the layer and its estimate (debug)" \
    b_log_has "small: step 2 vs step 1: layer tiny \(1000 x 4 and 1000 x 4\), estimated [0-9]+ MiB"

expect_output "compare --memory-mb refuses the same layer as over_budget" \
    '"layer": "wide".*"status": "over_budget"' \
    bash -c "'$PWCCA' compare '$B/runs/small/step-2.safetensors' '$B/runs/small/step-1.safetensors' --memory-mb 1 --json | tr -d '\n'"
expect_output "compare --memory-mb computes what fits" '^tiny .* ok$' \
    "$PWCCA" compare "$B/runs/small/step-2.safetensors" "$B/runs/small/step-1.safetensors" --memory-mb 1
expect_output "compare without --memory-mb computes every layer" '^wide .* ok$' \
    "$PWCCA" compare "$B/runs/small/step-2.safetensors" "$B/runs/small/step-1.safetensors"
expect_status "compare refuses a bad --memory-mb" 2 \
    "$PWCCA" compare "$B/runs/small/step-2.safetensors" "$B/runs/small/step-1.safetensors" --memory-mb -3

# A restart does not retry the stored over_budget pair (no crash loop, no repeated work).
b_stop
b_start
b_mk "$B/runs/small/step-3.safetensors" --seed 3 --layers tiny,wide --n 1000 --p 4,300
b_expect_wait "after a restart the next checkpoint is scored within the budget" 20 \
    b_q_is "SELECT status FROM scores WHERE step = 3 AND layer = 'wide'" over_budget
expect "the stored over_budget pair was not computed again after the restart" \
    test "$(grep -c 'small: step 2 vs previous step 1: layer wide' "$B_LOG")" = 1

# A reload raises the budget for the checkpoints that follow.
b_conf 4096
kill -HUP "$B_PID"
pw_wait 5 b_log_has "SIGHUP"
b_mk "$B/runs/small/step-4.safetensors" --seed 4 --layers tiny,wide --n 1000 --p 4,300
b_expect_wait "after a reload to memory_mb = 4096 the wide layer is computed" 20 \
    b_q_is "SELECT status FROM scores WHERE step = 4 AND ref = 'previous' AND layer = 'wide'" ok
# The pairs stored as over_budget before get their chance through pwcca rescore.
pw_wait 10 bash -c "PWCCAD_SOCKET='$B_SOCK' '$PWCCA' status --format json | grep -q '\"queue\": 0'"
expect_output "rescore after raising memory_mb queues the stored pairs" \
    "^run small: 3 pairs queued for rescoring \(from step 2\)$" \
    env PWCCAD_SOCKET="$B_SOCK" "$PWCCA" rescore small --from 2
b_expect_wait "rescore recomputes the over_budget pairs within the raised budget" 20 \
    b_q_is "SELECT group_concat(status) FROM scores WHERE step IN (2, 3) AND ref = 'previous' AND layer = 'wide'" ok,ok

# --- a checkpoint truncated while it is read ------------------------------------------------
# Six 2100 x 1024 layers: the daemon's Gram passes over them take a second or more, so the
# truncation lands while the mapping is being read (a few attempts, each a new step, in case
# a fast machine finished first).  The reference stays intact.
BIG="--layers l0,l1,l2,l3,l4,l5 --n 2100 --p 1024"
# shellcheck disable=SC2086
b_mk "$B/runs/big/step-1.safetensors" --seed 1 $BIG
pw_wait 30 b_log_has "big: step 1 stored"
hit=
for s in 2 3 4; do
    # shellcheck disable=SC2086
    b_mk "$B/runs/big/step-$s.safetensors" --seed "$s" $BIG
    pw_wait 30 b_log_has "big: computing step $s against the previous checkpoint" || break
    truncate -s 4096 "$B/runs/big/step-$s.safetensors"
    pw_wait 30 b_ended "$s"
    if b_dead; then break; fi
    if b_log_has "big: step $s: .*truncated while it was read"; then hit=$s; break; fi
    # Lost the race: put the file back so the run stays consistent, and try the next step.
    # shellcheck disable=SC2086
    b_mk "$B/runs/big/step-$s.safetensors" --seed "$s" $BIG
    pw_wait 30 b_ended "$s"
done
if b_alive; then ok "the daemon survives a checkpoint truncated while it reads it"; else
    fail "the daemon survives a truncated checkpoint" "not answering; log: $(tail -3 "$B_LOG")"; fi
if [ -n "$hit" ]; then
    ok "the truncation is logged as such (step $hit)"
    expect "nothing of the truncated read was stored" \
        b_q_is "SELECT COUNT(*) FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 'big' AND s.step = $hit" 0
    # shellcheck disable=SC2086
    b_mk "$B/runs/big/step-$hit.safetensors" --seed "$hit" $BIG
    b_expect_wait "the rewritten checkpoint is scored" 60 \
        b_q_is "SELECT COUNT(*) FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 'big'
                AND s.step = $hit AND s.ref = 'previous' AND s.status = 'ok' AND s.cka > 0.5" 6
    expect "the daemon still answers status" b_alive
else
    fail "a truncation during the read was provoked" "no attempt hit the read; log: $(tail -3 "$B_LOG")"
fi
if b_stop; then ok "pwccad stops cleanly (exit 0, no leak reports under ASan)"; else
    fail "pwccad stops cleanly" "exit status $?; log: $(tail -3 "$B_LOG")"; fi
