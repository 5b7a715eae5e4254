# test_keepup.sh -- the daemon keeps up: it stops within 2 s even inside a long
# LAPACK call, scores a run's newest checkpoint before its backlog, serves two
# runs fairly, and says where it stands (docs/DAEMON.md, "Keeping up").
#
# The slow work is simulated, not computed: tests/integration/slow_lapack.c,
# LD_PRELOADed under pwccad, makes the first LAPACK call sleep (a compute
# thread in LAPACK cannot be interrupted, which is the point), and small
# layers keep everything else quick on a 2-core machine.

K_PY=$(pw_numpy_python)
if [ -z "$K_PY" ] || ! command -v sqlite3 >/dev/null || ! pkg-config --exists openblas lapacke 2>/dev/null && [ ! -f /usr/include/lapacke.h ] && [ ! -f /usr/include/x86_64-linux-gnu/lapacke.h ]; then
    echo "  skip: the keep-up test needs python3 with numpy, the sqlite3 CLI and lapacke.h"
    return 0 2>/dev/null || exit 0
fi
K=$PW_TMP/keepup
K_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mkdir -p "$K"
K_MK=$K_REPO/tests/integration/mkckpt.py
kq() { sqlite3 -cmd ".timeout 2000" "$1" "$2" 2>/dev/null; }

# The shim.  An ASan build wants its runtime first among the libraries; the
# shim comes first, which is harmless here.
K_SHIM=$K/slow_lapack.so
K_ASAN=""
nm "$BUILD/libpwcca.a" 2>/dev/null | grep -q __asan_ && K_ASAN="verify_asan_link_order=0:"
if ! ${CC:-cc} -std=c11 -O1 -Wall -Wextra -fPIC -shared -o "$K_SHIM" \
    "$K_REPO/tests/integration/slow_lapack.c" -ldl >"$K/cc.log" 2>&1; then
    fail "slow_lapack.c builds" "$(tail -c 600 "$K/cc.log")"
    return 0 2>/dev/null || exit 0
fi

# k_start WHERE DB LOG [ENV=VALUE...]: pwccad on WHERE (--run DIR or --watch ROOT, one
# word split in two), foreground, the socket in $K; K_PID is its pid.
k_start() {
    local where=$1 db=$2 log=$3; shift 3
    # shellcheck disable=SC2086
    env ASAN_OPTIONS="${K_ASAN}${ASAN_OPTIONS:-}" "$@" "$PWCCAD" $where --db "$db" \
        --socket "$K/k.sock" --config "$K/k.conf" --foreground >>"$log" 2>&1 &
    K_PID=$!
}
cat >"$K/k.conf" <<CONF
settle_time = 0.05
rescan_interval = 1
incomplete_timeout = 0.5
[run s]
backlog = skip
CONF

# --- SIGTERM while a compute thread is inside LAPACK ------------------------
mkdir -p "$K/stop"
"$K_PY" "$K_MK" "$K/stop/step-000001.safetensors" --seed 1 --n 64 --p 8 --layers fc >/dev/null
"$K_PY" "$K_MK" "$K/stop/step-000002.safetensors" --seed 2 --n 64 --p 8 --layers fc >/dev/null
touch "$K/hold"
k_start "--run $K/stop" "$K/k.db" "$K/stop.log" LD_PRELOAD="$K_SHIM" PW_SLOW_LAPACK_HOLD="$K/hold" \
    PW_SLOW_LAPACK_MARK="$K/inside" PW_SLOW_LAPACK_S=30
if pw_wait 20 test -e "$K/inside"; then
    ok "a compute thread is inside a (30 s) LAPACK call"
    kill -TERM "$K_PID"
    # Up to 2 s to exit, then a grace for the verdict only (SIGKILL after 10 s).
    k_t0=$(date +%s%N)
    k_i=0
    while kill -0 "$K_PID" 2>/dev/null && [ $k_i -lt 200 ]; do sleep 0.02; k_i=$((k_i + 1)); done
    k_ms=$((($(date +%s%N) - k_t0) / 1000000))
    if kill -0 "$K_PID" 2>/dev/null; then
        kill -KILL "$K_PID" 2>/dev/null
        wait "$K_PID" 2>/dev/null
        fail "SIGTERM inside LAPACK exits within 2 s" "still running after ${k_ms} ms"
    else
        wait "$K_PID"
        k_rc=$?
        if [ "$k_ms" -le 2000 ]; then ok "SIGTERM inside LAPACK exits within 2 s (${k_ms} ms)"
        else fail "SIGTERM inside LAPACK exits within 2 s" "took ${k_ms} ms"; fi
        [ "$k_rc" = 0 ] && ok "that stop exits 0" || fail "that stop exits 0" "exit $k_rc: $(tail -3 "$K/stop.log")"
    fi
    k_n=$(kq "$K/k.db" "SELECT count(*) FROM scores WHERE step = 2")
    [ "$k_n" = 0 ] && ok "nothing of the abandoned pair was stored" \
        || fail "nothing of the abandoned pair was stored" "$k_n score rows for step 2"
    # Restarted without the shim, the pair is computed.
    rm -f "$K/hold"
    k_start "--run $K/stop" "$K/k.db" "$K/stop.log"
    pw_expect_wait "after a restart the abandoned pair is scored" 30 \
        bash -c "[ \"\$(sqlite3 -cmd '.timeout 2000' '$K/k.db' \"SELECT count(*) FROM scores WHERE step = 2 AND ref = 'previous' AND status = 'ok'\")\" = 1 ]"
    pw_stop_pid "$K_PID"
else
    fail "a compute thread is inside a (30 s) LAPACK call" "no mark after 20 s: $(tail -5 "$K/stop.log")"
    pw_stop_pid "$K_PID"
fi

# --- live first, round robin between runs, backlog filled when idle --------
# Run a has eight checkpoints and b one when the daemon starts.  The compute
# thread is held inside LAPACK on the first pair it computes (a's newest, 800);
# meanwhile a gets 900 and 950 and b gets 2000.  Then, in commit order: b's new
# checkpoint before a's backlog, a's newest (950) against the last one scored
# (800: seven older ones wait, more than the bound), and the backlog, oldest
# first, filled in at the end -- 950 recomputed against 900.
K_O=$K/order
mkdir -p "$K_O/a" "$K_O/b"
k_mk() { "$K_PY" "$K_MK" "$1" --seed "$2" --n 64 --p 8 --layers fc >/dev/null; }
for s in 100 200 300 400 500 600 700 800; do k_mk "$K_O/a/step-$s.safetensors" "$s"; done
k_mk "$K_O/b/step-1000.safetensors" 1000
rm -f "$K/inside"
touch "$K/hold"
K_PORT=$("$K_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
k_metrics() {
    "$K_PY" -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
        "http://127.0.0.1:$K_PORT/metrics" 2>/dev/null
}
k_start "--watch $K_O --metrics 127.0.0.1:$K_PORT" "$K/order.db" "$K/order.log" LD_PRELOAD="$K_SHIM" \
    PW_SLOW_LAPACK_HOLD="$K/hold" PW_SLOW_LAPACK_MARK="$K/inside" PW_SLOW_LAPACK_S=60
# k_counts: "CHECKPOINTS_OF_A CHECKPOINTS_OF_B" as the daemon knows them.
k_counts() {
    "$PWCCA" --socket "$K/k.sock" status --format json 2>/dev/null | "$K_PY" -c '
import json, sys
r = {x["name"]: x["checkpoints"] for x in json.load(sys.stdin)["runs"]}
print(r.get("a", 0), r.get("b", 0))'
}
if pw_wait 20 test -e "$K/inside"; then
    k_mk "$K_O/a/step-900.safetensors" 900
    k_mk "$K_O/a/step-950.safetensors" 950
    k_mk "$K_O/b/step-2000.safetensors" 2000
    pw_expect_wait "the daemon sees the new checkpoints while the thread is held" 20 \
        bash -c "[ \"\$($(declare -f k_counts); K='$K' K_PY='$K_PY' PWCCA='$PWCCA' k_counts)\" = '10 2' ]"
    # Where it stands, while a's newest is being computed.
    "$PWCCA" --socket "$K/k.sock" status --format json >"$K/status.json" 2>&1
    expect_output "status names the job in progress: run, step, reference, layer, elapsed" \
        "^a 800 previous 700 fc [0-9.]+$" "$K_PY" -c '
import json, sys
w = json.load(open(sys.argv[1]))["working"][0]
print(w["run"], w["step"], w["ref"], w["ref_step"], w["layer"], w["elapsed_s"])' "$K/status.json"
    # b: 2000, and 1000 too when a's job was handed out first.
    expect_output "status gives the queue of each run (a: its backlog and the job running)" \
        "^a 10 b [12]$" "$K_PY" -c '
import json, sys
r = json.load(open(sys.argv[1]))["runs"]
print(" ".join("%s %d" % (x["name"], x["queue"]) for x in sorted(r, key=lambda x: x["name"])))' "$K/status.json"
    expect_output "pwcca status says what is being computed" \
        "^working: a step 800 against the previous checkpoint \(step 700\), layer fc, for [0-9]" \
        "$PWCCA" --socket "$K/k.sock" --db "$K/order.db" status
    k_metrics >"$K/metrics.txt"
    expect_output "/metrics has the run's queue" '^pwccad_run_queue_length\{run="a"\} 10$' cat "$K/metrics.txt"
    expect_output "/metrics has the elapsed time of the job in progress" \
        '^pwccad_run_job_elapsed_seconds\{run="a"\} [0-9]' cat "$K/metrics.txt"
    rm -f "$K/hold"
    k_done="SELECT count(*) FROM checkpoints"
    pw_expect_wait "every checkpoint of both runs is stored" 30 \
        bash -c "[ \"\$(sqlite3 -cmd '.timeout 2000' '$K/order.db' '$k_done')\" = 12 ]"
    pw_expect_wait "with backlog = fill the live pair is redone against its predecessor" 30 \
        bash -c "[ \"\$(sqlite3 -cmd '.timeout 2000' '$K/order.db' \"SELECT ref_step FROM scores WHERE step = 950 AND ref = 'previous'\")\" = 900 ]"
    # Commit order: rowids of the checkpoints table.
    k_order=$(kq "$K/order.db" "SELECT r.name || ':' || c.step FROM checkpoints c JOIN runs r ON r.id = c.run_id ORDER BY c.rowid" | paste -sd' ')
    k_pos() { local i=0 w; for w in $k_order; do [ "$w" = "$1" ] && { echo $i; return; }; i=$((i + 1)); done; echo 99; }
    if [ "$(k_pos a:800)" -lt "$(k_pos a:100)" ]; then ok "a run's newest checkpoint is scored before its backlog"
    else fail "a run's newest checkpoint is scored before its backlog" "order: $k_order"; fi
    if [ "$(k_pos b:2000)" -lt "$(k_pos a:100)" ] && [ "$(k_pos b:2000)" -lt "$(k_pos a:950)" ]; then
        ok "another run's new checkpoint goes before this run's backlog and next live one (round robin)"
    else fail "another run's new checkpoint goes before this run's backlog and next live one (round robin)" "order: $k_order"; fi
    if [ "$(k_pos a:950)" -lt "$(k_pos a:100)" ] && [ "$(k_pos a:950)" -lt "$(k_pos a:900)" ]; then
        ok "a checkpoint arriving during a long backlog is scored before it"
    else fail "a checkpoint arriving during a long backlog is scored before it" "order: $k_order"; fi
    expect_output "the live pair skipped to the last scored checkpoint, and says so" \
        "a: step 950 is scored first, against step 800 \(the last scored\); 8 older checkpoints wait \(backlog = fill\)" \
        cat "$K/order.log"
    k_pairs="SELECT group_concat(step || '>' || ref_step, ' ') FROM (SELECT s.step, s.ref_step FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 'a' AND s.ref = 'previous' ORDER BY s.step)"
    expect_output "in the end every pair is its checkpoint against its predecessor" \
        "^200>100 300>200 400>300 500>400 600>500 700>600 800>700 900>800 950>900$" kq "$K/order.db" "$k_pairs"
    # Once done: compute seconds, the live lag and an empty queue, per run.
    pw_expect_wait "status: nothing queued once done" 10 \
        bash -c "'$PWCCA' --socket '$K/k.sock' status --format json | grep -q '\"eta_s\": 0'"
    expect_output "status gives each run's compute seconds and live lag" \
        "^a: 0 queued, ETA 0\.0 s; per checkpoint [0-9.]+ s last, [0-9.]+ s mean; live lag [0-9.]+ s \(step 950\)$" \
        "$PWCCA" --socket "$K/k.sock" --db "$K/order.db" status
    k_metrics >"$K/metrics.txt"
    expect_output "/metrics has the live lag" '^pwccad_run_live_lag_seconds\{run="b"\} [0-9]' cat "$K/metrics.txt"
    expect_output "/metrics has the mean compute seconds" '^pwccad_run_compute_seconds_mean\{run="a"\} [0-9]' cat "$K/metrics.txt"
    expect_output "foreground log lines carry the time" \
        '^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\.[0-9]{3}[+-][0-9]{4} pwccad: info: ready' cat "$K/order.log"

    # --- pwcca finalize --wait: progress until done, failures make it exit 1 ----
    # The backfill of a is held inside LAPACK for 6 s while a checkpoint that
    # cannot be read arrives; stdout is a file, so plain periodic lines.
    rm -f "$K/inside"
    touch "$K/hold"
    "$PWCCA" --socket "$K/k.sock" finalize a --step 950 --wait >"$K/wait.out" 2>"$K/wait.err" &
    k_fpid=$!
    k_t0=$SECONDS
    if pw_wait 20 test -e "$K/inside"; then
        k_mk "$K_O/a/step-1100.safetensors" 1100
        truncate -s -64 "$K_O/a/step-1100.safetensors"
        while [ $((SECONDS - k_t0)) -lt 7 ]; do sleep 0.2; done
    fi
    rm -f "$K/hold"
    k_i=0
    while kill -0 "$k_fpid" 2>/dev/null && [ $k_i -lt 600 ]; do sleep 0.05; k_i=$((k_i + 1)); done
    kill "$k_fpid" 2>/dev/null
    wait "$k_fpid"
    k_rc=$?
    [ "$k_rc" = 1 ] && ok "finalize --wait exits 1 when the daemon reported a failure meanwhile" \
        || fail "finalize --wait exits 1 when the daemon reported a failure meanwhile" "exit $k_rc: $(cat "$K/wait.err")"
    expect_output "it says which run failed and why" "pwcca: 1 job of run a failed meanwhile; last error: .*step-1100" cat "$K/wait.err"
    expect_output "not on a terminal it prints a plain progress line every 5 s" \
        "^a: jobs [0-9]+/[0-9]+, .*ETA " head -2 "$K/wait.out"
    expect_output "and a last line with everything done" "^a: jobs ([0-9]+)/\1, .*ETA 0 s$" tail -1 "$K/wait.out"
    # On a terminal (util-linux's script gives it one): a bar, redrawn in place.
    if command -v script >/dev/null; then
        script -qec "'$PWCCA' --socket '$K/k.sock' finalize b --wait" /dev/null >"$K/tty.out" 2>&1
        k_rc=$?
        [ "$k_rc" = 0 ] && ok "finalize --wait exits 0 when all went well" || fail "finalize --wait exits 0 when all went well" "exit $k_rc: $(cat -v "$K/tty.out")"
        expect_output "on a terminal it draws a progress bar" '\[[#.]{30}\] b: jobs [0-9]+/[0-9]+, ' cat "$K/tty.out"
    else
        echo "  skip: no script(1) for a terminal"
    fi

    # --- backlog = skip: what the live pair passes over is never computed --------
    # Run s (skip in k.conf) starts with 100 and 200; while 200 is held inside
    # LAPACK, 300 to 600 arrive: 600 goes against 200, and 300-500 get nothing.
    rm -f "$K/inside"
    touch "$K/hold"
    # Made outside the watched root and renamed in: a loaded daemon would
    # otherwise watch s.tmp as a run of its own before the rename.
    mkdir -p "$K/s.tmp"
    k_mk "$K/s.tmp/step-100.safetensors" 100
    k_mk "$K/s.tmp/step-200.safetensors" 200
    mv "$K/s.tmp" "$K_O/s"
    if pw_wait 20 test -e "$K/inside"; then
        for k_s in 300 400 500 600; do k_mk "$K_O/s/step-$k_s.safetensors" "$k_s"; done
        k_scount() { "$PWCCA" --socket "$K/k.sock" status --format json | "$K_PY" -c '
import json, sys
r = [x for x in json.load(sys.stdin)["runs"] if x["name"] == "s"]
print(r[0]["checkpoints"] if r else 0)'; }
        pw_expect_wait "the daemon sees s's new checkpoints while 200 is held" 20 \
            bash -c "[ \"\$($(declare -f k_scount); K='$K' K_PY='$K_PY' PWCCA='$PWCCA' k_scount)\" = 6 ]"
    else
        fail "s: a thread is held inside LAPACK" "no mark after 20 s"
    fi
    rm -f "$K/hold"
    k_sdone="SELECT count(*) FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 's' AND s.step = 600"
    pw_expect_wait "backlog = skip: the newest is scored" 40 \
        bash -c "[ \"\$(sqlite3 -cmd '.timeout 2000' '$K/order.db' \"$k_sdone\")\" = 1 ]"
    pw_expect_wait "backlog = skip: nothing is left queued" 30 \
        bash -c "'$PWCCA' --socket '$K/k.sock' status --format json | '$K_PY' -c 'import json, sys; sys.exit(0 if [x for x in json.load(sys.stdin)[\"runs\"] if x[\"name\"] == \"s\" and x[\"queue\"] == 0] else 1)'"
    expect_output "backlog = skip: 600 against 200, and 300 to 500 never stored" "^100 200:100 600:200$" \
        kq "$K/order.db" "SELECT group_concat(x, ' ') FROM (SELECT c.step || COALESCE(':' || (SELECT ref_step FROM scores WHERE run_id = c.run_id AND step = c.step AND ref = 'previous'), '') AS x FROM checkpoints c JOIN runs r ON r.id = c.run_id WHERE r.name = 's' ORDER BY c.step)"
else
    fail "a compute thread is held inside LAPACK" "no mark after 20 s: $(tail -5 "$K/order.log")"
fi
rm -f "$K/hold"
pw_stop_pid "$K_PID"

# --- a run's first checkpoint is not a measured job --------------------------
# It scores nothing (no reference) and takes a millisecond; counted, it made
# the mean compute seconds, and so the ETA, about 0 while the run's first pair
# ran for minutes (bench/keepup_scenario.sh: "ETA 0.0 s" with 10 queued).
K_F=$K/first
mkdir -p "$K_F"
k_mk "$K_F/step-100.safetensors" 100
rm -f "$K/inside" "$K/hold"
k_start "--run $K_F" "$K/first.db" "$K/first.log" LD_PRELOAD="$K_SHIM" PW_SLOW_LAPACK_HOLD="$K/hold" \
    PW_SLOW_LAPACK_MARK="$K/inside" PW_SLOW_LAPACK_S=20
k_fig() {
    "$PWCCA" --socket "$K/k.sock" status --format json 2>/dev/null | "$K_PY" -c '
import json, sys
r = json.load(sys.stdin)["runs"]
r = r[0] if r else {}
f = lambda v: "null" if v is None else ("%.6g" % v if isinstance(v, float) else str(v))
print(" ".join(f(r.get(k)) for k in ("checkpoints", "queue", "compute_last_s", "compute_mean_s", "eta_s")))'
}
pw_expect_wait "the first checkpoint is stored" 20 \
    bash -c "$(declare -f k_fig); K='$K' K_PY='$K_PY' PWCCA='$PWCCA' k_fig | grep -q '^1 0 '"
touch "$K/hold"
k_mk "$K_F/step-200.safetensors" 200
if pw_wait 20 test -e "$K/inside"; then
    expect_output "while the first pair runs: no compute seconds and no ETA yet" \
        "^2 1 null null null$" k_fig
else
    fail "the first pair is held inside LAPACK" "no mark after 20 s: $(tail -5 "$K/first.log")"
fi
rm -f "$K/hold"
pw_expect_wait "the first pair is stored" 20 \
    bash -c "$(declare -f k_fig); K='$K' K_PY='$K_PY' PWCCA='$PWCCA' k_fig | grep -q '^2 0 '"
expect_output "then the mean is that pair's compute seconds" \
    "^2 0 ([0-9.e-]+) \1 0$" k_fig
pw_stop_pid "$K_PID"
