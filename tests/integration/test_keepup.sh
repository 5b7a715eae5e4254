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

# k_start DIR LOG [ENV=VALUE...]: pwccad on the run DIR, foreground, socket
# and database in $K; K_PID is its pid.
k_start() {
    local dir=$1 log=$2; shift 2
    env ASAN_OPTIONS="${K_ASAN}${ASAN_OPTIONS:-}" "$@" "$PWCCAD" --run "$dir" --db "$K/k.db" \
        --socket "$K/k.sock" --config "$K/k.conf" --foreground >>"$log" 2>&1 &
    K_PID=$!
}
cat >"$K/k.conf" <<CONF
settle_time = 0.05
rescan_interval = 1
CONF

# --- SIGTERM while a compute thread is inside LAPACK ------------------------
mkdir -p "$K/stop"
"$K_PY" "$K_MK" "$K/stop/step-000001.safetensors" --seed 1 --n 64 --p 8 --layers fc >/dev/null
"$K_PY" "$K_MK" "$K/stop/step-000002.safetensors" --seed 2 --n 64 --p 8 --layers fc >/dev/null
k_start "$K/stop" "$K/stop.log" LD_PRELOAD="$K_SHIM" PW_SLOW_LAPACK_MARK="$K/inside" PW_SLOW_LAPACK_S=30
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
    k_start "$K/stop" "$K/stop.log"
    pw_expect_wait "after a restart the abandoned pair is scored" 30 \
        bash -c "[ \"\$(sqlite3 -cmd '.timeout 2000' '$K/k.db' \"SELECT count(*) FROM scores WHERE step = 2 AND ref = 'previous' AND status = 'ok'\")\" = 1 ]"
    pw_stop_pid "$K_PID"
else
    fail "a compute thread is inside a (30 s) LAPACK call" "no mark after 20 s: $(tail -5 "$K/stop.log")"
    pw_stop_pid "$K_PID"
fi
