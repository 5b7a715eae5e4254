# test_shared.sh -- several pwccad daemons sharing one PostgreSQL store split
# the scoring (issue #24, "Done when"; docs/DAEMON.md, "Sharing the work").
#
# A private server (pg_server.sh), one watched root, three daemons with a 3 s
# lease and one compute thread each, and a single daemon on SQLite watching the
# same root as the reference for alerts.  Three scenarios, one after another:
#   1. The C trainer writes two runs with pauses; mid-run the daemon that holds
#      a run's claim is killed (SIGKILL; nothing is restarted) and, once
#      another daemon has taken the run over, the server is restarted
#      (pg_ctl restart) while the trainer still writes.
#   2. A third run lands whole (a backlog); the daemon computing it is stopped
#      (SIGSTOP) for longer than its lease, the other live daemon takes the run
#      over and finishes it, then the stopped one continues (SIGCONT): its
#      commit is refused (its log says "lease") and no stored score is
#      rewritten.
#   3. The live daemons heartbeat; stopped with SIGTERM each one's row says
#      so (stopped_at) and it holds no claim.
# Then every expected score of every run is in the tables exactly once, against
# the right reference, equal to pwcca compare (1e-12); one chance level per
# layer, equal to pwcca compare --chance; the alerts are the SQLite daemon's,
# each stored once and logged by one daemon (shared_check.py).
# Sourced by run.sh ($BUILD, $PW_TMP, ok/fail/expect from lib.sh).

sh_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$sh_here/pg_server.sh"
pg_server_find "shared-store tests" || return 0
pw_need "shared-store tests" numpy "$BUILD/examples/trainer" || return 0
sh_py=$(pw_numpy_python)

sh_dir="$PW_TMP/shared"
sh_root="$sh_dir/root"
sh_lite="$sh_dir/lite.db"
mkdir -p "$sh_root" "$sh_dir/stage"
printf 'settle_time = 0.2\nrescan_interval = 1\nworkers = 1\n' >"$sh_dir/d.conf"
sh_d1="" sh_d2="" sh_d3="" sh_lpid="" sh_ta="" sh_tb="" sh_frozen=""

sh_cleanup() {
    [ -n "$sh_frozen" ] && kill -CONT "$sh_frozen" 2>/dev/null
    [ -n "$sh_ta" ] && kill "$sh_ta" 2>/dev/null && wait "$sh_ta" 2>/dev/null
    [ -n "$sh_tb" ] && kill "$sh_tb" 2>/dev/null && wait "$sh_tb" 2>/dev/null
    pw_daemon_stop sh_d1
    pw_daemon_stop sh_d2
    pw_daemon_stop sh_d3
    pw_daemon_stop sh_lpid
    pg_server_stop
}
if ! pg_server_start; then
    sh_cleanup
    return 0
fi

# sh_q SQL: psql's unaligned rows, '|' between columns.
sh_q() { "$pg_bin/psql" -qAtX -F '|' "$pg_url" -c "$1" 2>&1; }
# sh_holder RUN: pid of the daemon whose lease on RUN's claim still runs (empty when none).
sh_holder() {
    sh_q "SELECT d.pid FROM claims c JOIN daemons d ON d.id = c.daemon_id JOIN runs r ON c.unit = 'run:' || r.id
          WHERE r.name = '$1' AND c.lease_until > extract(epoch FROM now())"
}
# sh_stored RUN [DB]: checkpoints of RUN the store holds (PostgreSQL by default).
sh_stored() { "$PWCCA" --db "${2:-$pg_url}" runs 2>/dev/null | awk -v r="$1" '$1 == r { print $3 }'; }
# sh_var PID: the name of the variable holding that daemon's pid (sh_d1..3).
sh_var() {
    local v
    for v in sh_d1 sh_d2 sh_d3; do [ -n "$1" ] && [ "${!v}" = "$1" ] && echo "$v"; done
}
# sh_log PID: that daemon's log.
sh_log() { local v; v=$(sh_var "$1"); echo "$sh_dir/${v#sh_}.log"; }
# sh_row PID COLUMNS: those columns of the daemon's newest row in `daemons`.
sh_row() { sh_q "SELECT $2 FROM daemons WHERE pid = $1 ORDER BY id DESC LIMIT 1"; }

# --- three daemons on one database, one on SQLite, started together -------------------------
# One of them migrates the new database, under an advisory lock the others
# wait for (PG_LOCK_KEY in lib/pw_store_pg.c).  psql holds that lock for the
# first second, as a slow migration would: none may give up on it.
"$pg_bin/psql" -qAtX "$pg_url" -c "SELECT pg_advisory_lock(7077636361)" -c "SELECT pg_sleep(1)" \
    >/dev/null 2>&1 &
sh_locker=$!
sh_locked() { [ "$(sh_q "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")" = 1 ]; }
pw_wait 10 sh_locked || fail "psql holds the migration lock" "$(sh_q "SELECT * FROM pg_locks WHERE locktype = 'advisory'")"
for sh_n in 1 2 3; do
    "$PWCCAD" --watch "$sh_root" --db "$pg_url" --config "$sh_dir/d.conf" --lease 3 \
        --socket "$sh_dir/d$sh_n.sock" --foreground >>"$sh_dir/d$sh_n.log" 2>&1 &
    printf -v "sh_d$sh_n" %s $!
done
pw_daemon_start sh_lpid "$sh_dir/lite.log" "$sh_dir/l.sock" --watch "$sh_root" --db "$sh_lite" \
    --config "$sh_dir/d.conf"
sh_up() {
    test -S "$sh_dir/d1.sock" && test -S "$sh_dir/d2.sock" && test -S "$sh_dir/d3.sock" && test -S "$sh_dir/l.sock" &&
        [ "$(sh_q "SELECT count(DISTINCT pid) FROM daemons WHERE stopped_at IS NULL")" = 3 ]
}
sh_ready=$(pw_wait 15 sh_up && echo yes)
wait "$sh_locker"
if [ "$sh_ready" = yes ]; then
    ok "three pwccad started at once on one new postgresql:// database (--lease 3; its migration lock held 1 s) register in daemons, beside one on SQLite"
else
    fail "three pwccad on one PostgreSQL database" "$(tail -n 2 "$sh_dir"/d?.log "$sh_dir/lite.log" 2>&1 | head -c 800)"
    sh_cleanup
    return 0
fi

# --- 1. two runs trained; the holder of a claim is killed, the server restarted ---------------
# 25 checkpoints each, one every 400 ms or so: about 10 s, long enough for a
# kill, a 3 s lease running out and a restart while the trainer still writes.
for sh_r in a b; do
    "$BUILD/examples/trainer" --out "$sh_root/$sh_r" --steps 1200 --every 50 --hidden 32,32,32 \
        --probe 300 --seed "$([ $sh_r = a ] && echo 11 || echo 12)" --sleep-ms 400 --quiet \
        >"$sh_dir/trainer-$sh_r.log" 2>&1 &
    printf -v "sh_t$sh_r" %s $!
done

# sh_kill_holder: SIGKILL a daemon holding the claim of run a or b, once the
# run has a few checkpoints stored.  The holder is frozen (SIGSTOP) first and
# the claim read again, so that it surely dies holding it (a daemon releases a
# run's claim whenever it has nothing left to do for it).
sh_victim="" sh_vrun="" sh_vat=""
sh_kill_holder() {
    local r pid
    for r in a b; do
        [ "$(sh_stored $r)" -ge 3 ] 2>/dev/null || continue
        pid=$(sh_holder $r)
        [ -n "$(sh_var "$pid")" ] || continue
        kill -STOP "$pid"
        if [ "$(sh_holder $r)" = "$pid" ]; then
            kill -KILL "$pid"
            wait "$pid" # here, where pw_wait discards bash's "Killed" line
            sh_victim=$pid sh_vrun=$r sh_vat=$(sh_stored $r)
            return 0
        fi
        kill -CONT "$pid"
    done
    return 1
}
if pw_wait 30 sh_kill_holder; then
    sh_vvar=$(sh_var "$sh_victim")
    printf -v "$sh_vvar" %s ""
    if kill -0 "$sh_ta" 2>/dev/null && kill -0 "$sh_tb" 2>/dev/null; then
        ok "mid-run, the daemon holding run $sh_vrun's claim is killed (SIGKILL, after $sh_vat checkpoints; both trainers still write)"
    else
        fail "the claim holder is killed mid-run" "a trainer had already finished"
    fi
else
    fail "a daemon holds a run's claim while the trainer writes" "$(sh_q "SELECT * FROM claims"); $(tail -n 3 "$sh_dir/d1.log")"
fi

# Another daemon takes the run over once the dead one's lease ran out: the
# run's stored checkpoints grow again, which only the claim's holder may do.
sh_taken() { [ "$(sh_stored "$sh_vrun")" -gt "$sh_vat" ] 2>/dev/null; }
if [ -n "$sh_victim" ] && pw_wait 20 sh_taken; then
    ok "another daemon takes run $sh_vrun over once the lease of the killed one ran out"
    sh_vt=sh_t$sh_vrun
    if kill -0 "${!sh_vt}" 2>/dev/null && pg_ctl restart -m fast >/dev/null 2>&1; then
        ok "the server restarts mid-run (pg_ctl restart; run $sh_vrun at $(sh_stored "$sh_vrun") checkpoints, the trainer still writing)"
    else
        fail "pg_ctl restart mid-run" "trainer finished already, or: $(tail -n 3 "$pg_dir/server.log")"
    fi
else
    fail "another daemon takes the killed one's run over" "$(sh_q "SELECT * FROM claims"); $(tail -n 3 "$sh_dir"/d?.log)"
fi
wait "$sh_ta" "$sh_tb"
sh_ta="" sh_tb=""

# sh_complete RUN N: both stores hold RUN final with N checkpoints and every
# score: N-1 previous pairs and N final ones, of 4 layers.
sh_rows() { "$PWCCA" --db "$1" curve "$2" --ref "$3" --format csv 2>/dev/null | tail -n +2 | wc -l; }
sh_complete() {
    local db
    for db in "$pg_url" "$sh_lite"; do
        [ "$(sh_rows "$db" "$1" previous)" = $((4 * ($2 - 1))) ] && [ "$(sh_rows "$db" "$1" final)" = $((4 * $2)) ] &&
            "$PWCCA" --db "$db" runs | grep -qE "^$1 +final +$2 " || return 1
    done
}
sh_both() { sh_complete a 25 && sh_complete b 25; }
pw_expect_wait "with one daemon killed and the server restarted, both runs end final with every score stored" 60 sh_both

sh_scores() { "$sh_py" "$sh_here/shared_check.py" scores "$PWCCA" "$pg_bin/psql" "$pg_url" "$sh_root" "$@"; }
expect_output "runs a and b: every score once, its right ref_step, equal to pwcca compare to 1e-12 (all 98 pairs)" \
    "^mismatches 0 of 392 scores \(98 pairs compared\)$" sh_scores a:1 b:1

# --- 2. a daemon whose lease ran out does not overwrite --------------------------------------
# Run c lands whole: 21 checkpoints of wider layers, a few seconds of work for
# the daemon that claims it.  It is frozen once computing, past its lease.
"$BUILD/examples/trainer" --out "$sh_dir/stage/c" --steps 1000 --every 50 --hidden 128,128,128 \
    --probe 1000 --seed 13 --quiet >"$sh_dir/trainer-c.log" 2>&1
mv "$sh_dir/stage/c" "$sh_root/c"
# Frozen, its newest line of run c must say it computes (not "stored"): a job
# is in flight, whose commit comes after the lease ran out.
sh_freeze() {
    local pid
    pid=$(sh_holder c)
    [ -n "$(sh_var "$pid")" ] && grep -q "c: computing step" "$(sh_log "$pid")" || return 1
    kill -STOP "$pid"
    if [ "$(sh_holder c)" = "$pid" ] && grep "info: c: " "$(sh_log "$pid")" | tail -n 1 | grep -q "computing step"; then
        sh_frozen=$pid
        return 0
    fi
    kill -CONT "$pid"
    return 1
}
if pw_wait 30 sh_freeze; then
    sh_flog=$(sh_log "$sh_frozen")
    ok "the daemon computing run c is frozen (SIGSTOP) holding its claim, at $(sh_stored c) of 21 checkpoints"
    # The other live daemon finishes the run alone while the frozen one sleeps.
    sh_c_pg() { [ "$(sh_rows "$pg_url" c previous)" = 80 ] && [ "$(sh_rows "$pg_url" c final)" = 84 ]; }
    if pw_wait 60 sh_c_pg; then
        ok "another daemon takes run c over once the frozen one's lease ran out, and scores it all"
    else
        fail "another daemon takes run c over" "$(sh_stored c) checkpoints; $(sh_q "SELECT * FROM claims")"
    fi
    # What is stored now must stay: the frozen daemon's pair, once it continues,
    # is older work under a lease it no longer holds.
    sh_snap() { sh_q "SELECT s.layer, s.step, s.ref, s.computed_at FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 'c' ORDER BY 1, 2, 3"; }
    # Harder than an expired lease: the frozen daemon seems to hold run c again -- a
    # claim of its own, unexpired -- but a new one, as when a daemon loses a run and
    # takes it back later.  Its job was planned under the old claim, so its commit must
    # still be refused (the claim's claimed_at is checked, not only its owner).
    sh_fid=$(sh_q "SELECT id FROM daemons WHERE pid = $sh_frozen AND stopped_at IS NULL")
    sh_cid=$(sh_q "SELECT id FROM runs WHERE name = 'c'")
    sh_q "DELETE FROM claims WHERE unit = 'run:$sh_cid'; INSERT INTO claims (unit, daemon_id, lease_until, claimed_at) VALUES ('run:$sh_cid', $sh_fid, extract(epoch FROM clock_timestamp()) + 3600, extract(epoch FROM clock_timestamp()))" >/dev/null
    sh_before=$(sh_snap)
    sh_flines=$(wc -l <"$sh_flog")
    sh_cont_at=$(sh_q "SELECT extract(epoch FROM now())")
    kill -CONT "$sh_frozen"
    sh_frozen_pid=$sh_frozen
    sh_frozen=""
    sh_lease_line() { tail -n +$((sh_flines + 1)) "$sh_flog" | grep -m1 "lease"; }
    if pw_wait 15 sh_lease_line; then
        ok "continued (SIGCONT) past its lease, the daemon says so: $(sh_lease_line | sed 's/^.*pwccad: //')"
    else
        fail "a daemon whose lease ran out says so in its log" "$(tail -n +$((sh_flines + 1)) "$sh_flog" | tail -n 3)"
    fi
    # Once it has heartbeat again and is idle, whatever it was computing is over.
    sh_idle() { [ "$(sh_row "$sh_frozen_pid" "heartbeat_at > $sh_cont_at AND job IS NULL")" = t ]; }
    pw_wait 15 sh_idle
    sh_after=$(sh_snap)
    if [ "$sh_before" = "$sh_after" ]; then
        ok "its commit is refused, also under a new claim of its own: no score of run c is rewritten ($(wc -l <<<"$sh_after") rows as before)"
    else
        fail "no score is rewritten by a daemon whose lease ran out" "$(diff <(echo "$sh_before") <(echo "$sh_after") | head -6)"
    fi
else
    fail "a daemon computes run c holding its claim" "$(sh_q "SELECT * FROM claims"); $(tail -n 3 "$sh_dir"/d?.log)"
fi
pw_expect_wait "run c ends final with every score stored, in both stores" 60 sh_complete c 21
expect_output "run c: every score once, its right ref_step, equal to pwcca compare to 1e-12 (every 4th pair of each reference and the last: 12 of 41)" \
    "^mismatches 0 of 164 scores \(12 pairs compared\)$" sh_scores c:4

# --- every chance level and alert, once ------------------------------------------------------
expect_output "one chance level per layer of each run, equal to pwcca compare --chance (1e-12)" \
    "^chance mismatches 0$" "$sh_py" "$sh_here/shared_check.py" chance "$PWCCA" "$pg_bin/psql" "$pg_url" "$sh_root" a b c
# The SQLite daemon may still be raising its last alerts: the sets are compared once equal, or after 20 s.
sh_alerts() { "$sh_py" "$sh_here/shared_check.py" alerts "$pg_bin/psql" "$pg_url" "$sh_lite" "$sh_dir"/d?.log; }
pw_wait 20 sh_alerts
expect_output "the alerts are those of one daemon alone on SQLite, each stored once and logged by one daemon" \
    "^alert mismatches 0 of [1-9]" sh_alerts

# --- 3. heartbeats, and a clean stop --------------------------------------------------------
sh_live=()
for sh_v in sh_d1 sh_d2 sh_d3; do [ -n "${!sh_v}" ] && sh_live+=("$sh_v"); done
sh_fresh() {
    local v
    for v in "${sh_live[@]}"; do
        [ "$(sh_row "${!v}" "stopped_at IS NULL AND heartbeat_at > extract(epoch FROM now()) - lease_s")" = t ] || return 1
    done
}
if [ ${#sh_live[@]} = 2 ] && pw_wait 10 sh_fresh; then
    ok "both live daemons (the one that was frozen too) heartbeat within their lease"
else
    fail "the live daemons heartbeat" "${#sh_live[@]} live; $(sh_q "SELECT pid, heartbeat_at, lease_s, stopped_at, extract(epoch FROM now()) FROM daemons")"
fi
sh_vid=$(sh_row "${sh_victim:-0}" id)
if [ -n "$sh_vid" ] && [ "$(sh_q "SELECT count(*) FROM claims WHERE daemon_id = $sh_vid")" = 0 ]; then
    ok "the killed daemon holds no claim any more: its run was taken over"
else
    fail "the killed daemon's claims were taken over" "daemon id '$sh_vid': $(sh_q "SELECT * FROM claims")"
fi
for sh_v in "${sh_live[@]}"; do
    sh_pid=${!sh_v}
    sh_id=$(sh_row "$sh_pid" id)
    pw_daemon_stop "$sh_v"
    sh_rc=$?
    if [ "$sh_rc" = 0 ] && [ "$(sh_row "$sh_pid" "stopped_at IS NOT NULL")" = t ] &&
        [ "$(sh_q "SELECT count(*) FROM claims WHERE daemon_id = $sh_id")" = 0 ]; then
        ok "pwccad pid $sh_pid stops on SIGTERM (exit 0): its row has stopped_at, it holds no claim"
    else
        fail "a clean stop is recorded" "exit $sh_rc; $(sh_q "SELECT * FROM daemons WHERE pid = $sh_pid"); $(sh_q "SELECT * FROM claims")"
    fi
done
pw_daemon_stop sh_lpid
if ! grep -Eq "Sanitizer|runtime error" "$sh_dir"/*.log; then
    ok "no sanitizer reports in any daemon's log"
else
    fail "no sanitizer reports" "$(grep -hE -m3 "Sanitizer|runtime error" "$sh_dir"/*.log)"
fi

sh_cleanup
