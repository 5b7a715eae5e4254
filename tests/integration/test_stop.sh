# test_stop.sh -- SIGTERM always ends pwccad with exit 0 and an intact database.
#
# systemd stops the daemon with SIGTERM whenever it likes: in the middle of a
# backfill, with jobs queued, while a subscriber listens, during start-up --
# and sometimes twice in a row.  Each of those must end in exit 0 (an abandoned pair is redone at the
# next start) with a database that passes integrity_check.  The daemon is
# stopped 50 times at random moments over one database; afterwards a last run
# to completion must hold every score exactly once.

S_PY=$(pw_numpy_python)
S_TRAINER=$BUILD/examples/trainer
pw_need "the stop tests" numpy sqlite3 "$S_TRAINER" || { return 0 2>/dev/null || exit 0; }
S=$PW_TMP/stop
S_DB=$S/pwccad.db
S_SOCK=$S/pwccad.sock
S_LOG=$S/daemon.log
mkdir -p "$S/runs" "$S/spare"
cat >"$S/pwccad.conf" <<CONF
settle_time = 0.05
rescan_interval = 1
stable_threshold = 0.05
unstable_threshold = 0.1
stable_count = 2
CONF
# A real run: 21 checkpoints of 5 layers.  Ten are there from the start, the
# rest arrive while the daemon runs.
"$S_TRAINER" --out "$S/spare/r" --steps 2000 --every 100 --probe 1024 --no-final --quiet >/dev/null
mkdir -p "$S/runs/r"
for f in "$S"/spare/r/step-0000*.safetensors; do mv "$f" "$S/runs/r/"; done
S_TOTAL=21

s_start() {
    "$PWCCAD" --watch "$S/runs" --db "$S_DB" --socket "$S_SOCK" --config "$S/pwccad.conf" \
        --foreground >>"$S_LOG" 2>&1 &
    S_PID=$!
    local i=0
    while [ ! -S "$S_SOCK" ] && kill -0 "$S_PID" 2>/dev/null && [ $i -lt 200 ]; do
        sleep 0.02
        i=$((i + 1))
    done
}
# s_stop [twice]: SIGTERM (with "twice", another one a few ms later, as when
# systemd and a user both stop it), then the exit status (124 if it took more
# than 10 s: then SIGKILL).
s_stop() {
    kill -TERM "$S_PID" 2>/dev/null
    if [ "${1:-}" = twice ]; then
        sleep "0.0$((RANDOM % 5))"
        kill -TERM "$S_PID" 2>/dev/null
    fi
    local i=0
    while kill -0 "$S_PID" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
    if kill -0 "$S_PID" 2>/dev/null; then
        kill -KILL "$S_PID" 2>/dev/null
        wait "$S_PID" 2>/dev/null
        return 124
    fi
    wait "$S_PID" 2>/dev/null
}
# s_wait_catches_term: until the daemon has a SIGTERM handler (SigCgt bit 15).
s_wait_catches_term() {
    local i=0 cgt
    while [ $i -lt 500 ] && kill -0 "$S_PID" 2>/dev/null; do
        [ "$(readlink "/proc/$S_PID/exe" 2>/dev/null)" = "$(readlink -f "$PWCCAD")" ] || { sleep 0.002; i=$((i + 1)); continue; }
        cgt=$(awk '/^SigCgt:/ { print $2 }' "/proc/$S_PID/status" 2>/dev/null)
        [ -n "$cgt" ] && (((16#$cgt >> 14) & 1)) && return 0
        sleep 0.002
        i=$((i + 1))
    done
}
s_sleep_random() { sleep "0.$(printf '%03d' $((RANDOM % ${1:-600})))"; }

s_bad_exit='' s_bad_db='' s_moments=''
for i in $(seq 1 50); do
    moment=$((i % 5))
    case $moment in
    0) rm -f "$S_DB" "$S_DB-wal" "$S_DB-shm" ;; # a new database: every checkpoint queued at start
    esac
    if [ "$moment" = 3 ]; then # as soon as it catches SIGTERM: start-up, before the loop runs
        "$PWCCAD" --watch "$S/runs" --db "$S_DB" --socket "$S_SOCK" --config "$S/pwccad.conf" \
            --foreground >>"$S_LOG" 2>&1 &
        S_PID=$!
        s_wait_catches_term
    else
        s_start
    fi
    follow=''
    case $moment in
    0) s_sleep_random 400 ;;                                          # jobs queued
    1) "$PWCCA" --db "$S_DB" --socket "$S_SOCK" finalize r >/dev/null 2>&1
       s_sleep_random 300 ;;                                          # during a backfill
    2) "$PWCCA" --db "$S_DB" --socket "$S_SOCK" alerts --follow >/dev/null 2>&1 &
       follow=$!
       "$PWCCA" --db "$S_DB" --socket "$S_SOCK" finalize r >/dev/null 2>&1
       s_sleep_random 300 ;;                                          # backfill + subscriber
    3) ;;                                                             # during start-up
    4) next=$(find "$S/spare/r" -name 'step-*.safetensors' | sort | head -n 1)
       [ -z "$next" ] || mv "$next" "$S/runs/r/"
       s_sleep_random 200 ;;                                          # a new checkpoint arriving
    esac
    if [ $((i % 2)) = 0 ]; then s_stop twice; else s_stop; fi
    rc=$?
    [ -z "$follow" ] || { kill "$follow" 2>/dev/null; wait "$follow" 2>/dev/null; }
    [ "$rc" = 0 ] || { s_bad_exit="$s_bad_exit $i(moment $moment: exit $rc)"; tail -n 5 "$S_LOG" | sed 's/^/    log: /'; }
    chk=missing; [ ! -s "$S_DB" ] || chk=$(sqlite3 "$S_DB" 'PRAGMA integrity_check' 2>&1)
    [ "$chk" = ok ] || s_bad_db="$s_bad_db $i($chk)"
    s_moments="$s_moments $moment"
done
if [ -z "$s_bad_exit" ]; then ok "50 SIGTERMs at random moments: pwccad exits 0 every time"
else fail "50 SIGTERMs at random moments: pwccad exits 0 every time" "failed at$s_bad_exit"; fi
if [ -z "$s_bad_db" ]; then ok "the database passes integrity_check after every stop"
else fail "the database passes integrity_check after every stop" "$s_bad_db"; fi

# Everything abandoned is redone: one last run to completion scores every pair once.
for f in "$S"/spare/r/step-*.safetensors; do [ -e "$f" ] && mv "$f" "$S/runs/r/"; done
s_start
s_q() { sqlite3 -cmd '.timeout 2000' "$S_DB" "$1" 2>/dev/null; }
for _ in $(seq 100); do
    [ "$(s_q "SELECT count(*) FROM checkpoints WHERE present = 1")" = "$S_TOTAL" ] && break
    sleep 0.1
done
"$PWCCA" --db "$S_DB" --socket "$S_SOCK" finalize r --step 2000 >/dev/null 2>&1
s_want_prev=$(((S_TOTAL - 1) * 5)) s_want_final=$((S_TOTAL * 5))
for _ in $(seq 300); do
    [ "$(s_q "SELECT count(*) FROM scores WHERE ref = 'final' AND ref_step = 2000")" = "$s_want_final" ] &&
        [ "$(s_q "SELECT count(*) FROM scores WHERE ref = 'previous'")" = "$s_want_prev" ] && break
    sleep 0.1
done
expect_output "after the stops, every checkpoint is scored against its predecessor, once" "^$s_want_prev\$" \
    s_q "SELECT count(*) FROM scores WHERE ref = 'previous'"
expect_output "and against the final, once per layer" "^$s_want_final\$" \
    s_q "SELECT count(*) FROM scores WHERE ref = 'final' AND ref_step = 2000"
expect_output "no pair is stored twice" "^0\$" \
    s_q "SELECT count(*) FROM (SELECT 1 FROM scores GROUP BY run_id, step, ref, ref_step, layer HAVING count(*) > 1)"
s_stop
expect_output "the last stop exits 0 too" "^0\$" echo $?
