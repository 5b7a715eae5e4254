#!/usr/bin/env bash
# bench_daemon.sh -- pwccad end to end: checkpoints dropped as fast as possible.
#
# Usage: bash bench/bench_daemon.sh [BUILD_DIR]      (default build)
# Scenario (issue #5): one run, 8 layers, n = 16384 datapoints, p = 512
# neurons, F32, 20 checkpoints renamed into the run directory at once.
# Override with BENCH_LAYERS, BENCH_N, BENCH_P, BENCH_CKPTS, BENCH_BLAS (pwccad's
# blas_threads: default 1 as in pwccad, 0 = cores / workers); BENCH_TMP picks
# the scratch directory (needs layers*n*p*4*ckpts bytes: 5.4 GB by default).
#
# Reports checkpoints per second and the ratio of the steady-state time per
# checkpoint to the Gram cost it cannot avoid: per layer one syrk (n p^2
# flops) for the new checkpoint and one cross gemm (2 n p^2) with its cached
# predecessor, at the dgemm rate measured here with the same BLAS threads.
# The LAPACK share is the time inside LAPACKE (measured by an LD_PRELOAD shim,
# build/bench/preload_lapack_clock.so) over the compute threads' job time
# (pwccad's own pwccad_compute_seconds histogram, read from --metrics).
set -euo pipefail
BUILD=${1:-build}
PWCCAD=$(cd "$BUILD" && pwd)/pwccad
L=${BENCH_LAYERS:-8} N=${BENCH_N:-16384} P=${BENCH_P:-512} C=${BENCH_CKPTS:-20}
PY=/usr/bin/python3
TMP=$(mktemp -d "${BENCH_TMP:-/tmp}/pwccad-bench.XXXXXX")
PID=
cleanup() { [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
mkdir -p "$TMP/stage" "$TMP/run"

echo "== daemon benchmark: $L layers, n=$N, p=$P, F32, $C checkpoints =="
"$PY" - "$TMP/stage" "$L" "$N" "$P" "$C" <<'PYEOF'
import json, struct, sys
import numpy as np
out, L, N, P, C = sys.argv[1], *map(int, sys.argv[2:])
rng = np.random.default_rng(0)
base = [rng.standard_normal((N, P), dtype=np.float32) for _ in range(L)]
for c in range(C):
    header, off = {}, 0
    blobs = []
    for i in range(L):
        x = base[i] + np.float32(0.5 / (c + 1)) * rng.standard_normal((N, P), dtype=np.float32)
        b = x.astype("<f4").tobytes()
        header[f"layer{i}"] = {"dtype": "F32", "shape": [N, P], "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(f"{out}/step-{(c + 1) * 100:06d}.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
PYEOF

CORES=$(nproc)
BLAS=${BENCH_BLAS:-1}
# dgemm rate with the BLAS thread count pwccad is given.
NT=$([ "$BLAS" -gt 0 ] && echo "$BLAS" || echo "$CORES")
RATE=$(OPENBLAS_NUM_THREADS=$NT OMP_NUM_THREADS=$NT "$PY" - <<'PYEOF'
import time
import numpy as np
n = 2048
a = np.random.default_rng(1).standard_normal((n, n))
b = np.random.default_rng(2).standard_normal((n, n))
a @ b
best = 0.0
for _ in range(5):
    t = time.perf_counter(); a @ b; dt = time.perf_counter() - t
    best = max(best, 2 * n**3 / dt)
print(f"{best:.6e}")
PYEOF
)

cat >"$TMP/pwccad.conf" <<CONF
settle_time = 0.2
rescan_interval = 1
blas_threads = $BLAS
log_level = warning
CONF
MPORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
CLOCK=$(cd "$BUILD" && pwd)/bench/preload_lapack_clock.so
LD_PRELOAD=$CLOCK PW_LAPACK_CLOCK_OUT=$TMP/lapack \
    "$PWCCAD" --run "$TMP/run" --db "$TMP/bench.db" --socket "$TMP/bench.sock" \
    --config "$TMP/pwccad.conf" --metrics "127.0.0.1:$MPORT" --foreground 2>"$TMP/daemon.log" &
PID=$!
for _ in $(seq 100); do [ -S "$TMP/bench.sock" ] && break; sleep 0.1; done

# Socket latency while the daemon computes: a status request every 100 ms.
"$PY" - "$TMP/bench.sock" "$TMP/latency" "$TMP/latency.stop" <<'PYEOF' &
import os, socket, sys, time
path, out, stop = sys.argv[1:4]
lat = []
while not os.path.exists(stop):
    t = time.perf_counter()
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(path)
        s.sendall(b'{"cmd":"status"}\n')
        f = s.makefile("rb")
        f.readline()
        s.close()
        lat.append(time.perf_counter() - t)
    except OSError:
        lat.append(5.0)
    time.sleep(0.1)
lat.sort()
with open(out, "w") as f:
    f.write(f"{len(lat)} {lat[len(lat) // 2] * 1e3:.1f} {lat[int(len(lat) * 0.99)] * 1e3:.1f} {lat[-1] * 1e3:.1f}\n")
PYEOF
SAMPLER=$!

T0=$(date +%s.%N)
mv "$TMP"/stage/*.safetensors "$TMP/run/"
WANT=$(( (C - 1) * L ))
LIMIT=$(( SECONDS + 3600 ))
while :; do
    GOT=$(sqlite3 -cmd ".timeout 2000" "$TMP/bench.db" "SELECT COUNT(*) FROM scores WHERE ref = 'previous'" 2>/dev/null || echo 0)
    [ "${GOT:-0}" -ge "$WANT" ] && break
    if [ $SECONDS -gt $LIMIT ] || ! kill -0 "$PID" 2>/dev/null; then
        echo "bench_daemon: gave up with $GOT of $WANT scores" >&2; tail -5 "$TMP/daemon.log" >&2; exit 1
    fi
    sleep 0.2
done
T1=$(date +%s.%N)
touch "$TMP/latency.stop"
wait "$SAMPLER"
read -r LN LMED LP99 LMAX <"$TMP/latency"
COMPUTE=$("$PY" -c '
import sys, urllib.request
text = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
print(next(l.split()[1] for l in text.splitlines() if l.startswith("pwccad_compute_seconds_sum")))
' "http://127.0.0.1:$MPORT/metrics")
kill -TERM "$PID"
wait "$PID" || true
PID=
read -r LAPACK_S LAPACK_CALLS <"$TMP/lapack"

read -r FIRST LAST BAD < <(sqlite3 "$TMP/bench.db" \
    "SELECT MIN(processed_at), MAX(processed_at), SUM(status != 'ok') FROM checkpoints" | tr '|' ' ')
"$PY" - "$T0" "$T1" "$FIRST" "$LAST" "$C" "$L" "$N" "$P" "$RATE" "$BAD" "$COMPUTE" "$LAPACK_S" "$LAPACK_CALLS" <<'PYEOF'
import sys
t0, t1, first, last = map(float, sys.argv[1:5])
C, L, N, P = map(int, sys.argv[5:9])
rate, bad = float(sys.argv[9]), int(sys.argv[10])
compute, lapack, calls = float(sys.argv[11]), float(sys.argv[12]), int(sys.argv[13])
wall = t1 - t0
steady = (last - first) / (C - 1)            # per checkpoint, after the first one
gram = L * 3.0 * N * P * P / rate            # one syrk + one gemm per layer
print(f"  dgemm rate                 {rate / 1e9:8.2f} GFLOP/s")
print(f"  wall time, {C} checkpoints  {wall:8.2f} s  (from the drop to the last score)")
print(f"  checkpoints per second     {C / wall:8.3f}")
print(f"  steady time per checkpoint {steady:8.3f} s")
print(f"  Gram cost per checkpoint   {gram:8.3f} s  (syrk + gemm per layer at the dgemm rate)")
print(f"  ratio                      {steady / gram:8.2f} x  (target <= 2.5)")
print(f"  compute threads' job time  {compute:8.2f} s  (pwccad_compute_seconds_sum)")
print(f"  inside LAPACK              {lapack:8.2f} s  ({calls} calls): LAPACK share {100 * lapack / compute:.1f} %")
if bad:
    print(f"  WARNING: {bad} checkpoints were not read")
PYEOF
echo "  socket status latency while computing: median $LMED ms, p99 $LP99 ms, max $LMAX ms ($LN requests; goal < 100 ms)"
