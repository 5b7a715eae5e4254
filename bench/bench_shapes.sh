#!/usr/bin/env bash
# bench_shapes.sh -- pwccad on checkpoints shaped like real models (issue #18).
#
# Usage: bash bench/bench_shapes.sh [BUILD_DIR] [CASE...]   (PW_BENCH_QUICK=1: small sizes)
# Cases (bench/shapes_gen.py): resnet18 resnet18_s16 gpt2 mlp8k mlp16k (default: all).
# BENCH_CKPTS checkpoints per case (default 4; 3 in quick mode); BENCH_TMP the
# scratch directory (a case needs CKPTS x its bytes per checkpoint: up to 2.5 GB).
#
# Per case, a fresh daemon (default settings: one compute thread, one BLAS
# thread, reduce = auto) is handed the checkpoints one at a time: each is
# renamed into the run directory once the previous one is scored, so every
# job is a checkpoint against its predecessor with the predecessor's sides
# cached, and nothing else runs. Reported per case:
#   compute s    the daemon's compute seconds per checkpoint job (status
#                compute_last_s after each job): "first" is the first pair (the
#                first checkpoint alone is no work), which also decides
#                reduce = auto per layer and, for a reduced layer, is computed
#                without cached sides; "steady" the mean of the later ones
#   peak RSS     the daemon's VmHWM at the end
#   bytes/ckpt   the checkpoint file's size
#   modes        per layer, what reduce = auto resolved to (scores.reduce)
#   x Gram       compute s over the Gram pass cost the job cannot avoid: per
#                layer one syrk (n p^2 flops) for the new checkpoint and one
#                cross gemm (2 n p^2) with the cached predecessor, at the dgemm
#                rate measured just before the case with one BLAS thread
# and the load average when the case ran (a shared machine: the ratio to the
# dgemm rate of the same moment is what compares across runs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-build}
shift || true
PWCCAD=$(cd "$BUILD" && pwd)/pwccad
PY=/usr/bin/python3
QUICK=${PW_BENCH_QUICK:-0}
QFLAG=$([ "$QUICK" = 1 ] && echo --quick || true)
C=${BENCH_CKPTS:-$([ "$QUICK" = 1 ] && echo 3 || echo 4)}
CASES=${*:-resnet18 resnet18_s16 gpt2 mlp8k mlp16k}
TMP=$(mktemp -d "${BENCH_TMP:-/tmp}/pwccad-shapes.XXXXXX")
PID=
cleanup() { [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

dgemm_rate() {
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "$PY" - <<'PYEOF'
import time
import numpy as np
n = 2048
a = np.random.default_rng(1).standard_normal((n, n))
b = np.random.default_rng(2).standard_normal((n, n))
a @ b
best = 0.0
for _ in range(4):
    t = time.perf_counter(); a @ b; dt = time.perf_counter() - t
    best = max(best, 2 * n**3 / dt)
print(f"{best:.6e}")
PYEOF
}

echo "== shapes benchmark: $CASES; $C checkpoints each$([ "$QUICK" = 1 ] && echo ', quick sizes') =="
: >"$TMP/rows"
for CASE in $CASES; do
    D=$TMP/$CASE
    mkdir -p "$D/stage" "$D/$CASE"
    "$PY" "$here/shapes_gen.py" layers "$CASE" $QFLAG >"$D/layers"
    "$PY" "$here/shapes_gen.py" series "$CASE" "$D/stage" "$C" $QFLAG >/dev/null
    RATE=$(dgemm_rate)
    LOAD=$(cut -d' ' -f1 /proc/loadavg)
    cat >"$D/pwccad.conf" <<CONF
settle_time = 0.2
rescan_interval = 1
log_level = warning
CONF
    "$PWCCAD" --run "$D/$CASE" --db "$D/bench.db" --socket "$D/sock" \
        --config "$D/pwccad.conf" --foreground 2>"$D/daemon.log" &
    PID=$!
    for _ in $(seq 100); do [ -S "$D/sock" ] && break; sleep 0.1; done
    # Hand the checkpoints over one at a time; per job its compute seconds.
    "$PY" - "$D" "$CASE" "$PID" "$RATE" "$LOAD" >>"$TMP/rows" <<'PYEOF'
import json, os, socket, sqlite3, sys, time
d, case, pid, rate, load = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]

def status():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(os.path.join(d, "sock"))
    s.sendall(b'{"cmd":"status"}\n')
    line = s.makefile("rb").readline()
    s.close()
    return json.loads(line)

files = sorted(os.listdir(os.path.join(d, "stage")))
size = os.path.getsize(os.path.join(d, "stage", files[0]))
per_job = []
for k, f in enumerate(files, 1):
    os.rename(os.path.join(d, "stage", f), os.path.join(d, case, f))
    deadline = time.time() + 3600
    while True:
        st = status()
        run = st["runs"][0] if st["runs"] else None
        if run and run["checkpoints"] >= k and run["queue"] == 0 and not st["working"]:
            break
        if time.time() > deadline:
            sys.exit("bench_shapes: %s: checkpoint %d not scored within an hour" % (case, k))
        time.sleep(0.2)
    if k > 1:
        per_job.append(run["compute_last_s"])
with open("/proc/%d/status" % pid) as f:
    hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))
db = sqlite3.connect(os.path.join(d, "bench.db"))
modes = db.execute("SELECT layer, reduce, status FROM scores WHERE ref = 'previous' AND step = "
                   "(SELECT MAX(step) FROM scores) ORDER BY layer").fetchall()
bad = db.execute("SELECT COUNT(*) FROM scores WHERE status != 'ok'").fetchone()[0]
layers = [l.split() for l in open(os.path.join(d, "layers"))]
order = {name: i for i, (name, _, _) in enumerate(layers)}
modes.sort(key=lambda m: order.get(m[0], 99))
gram = sum(3.0 * int(n) * int(p) ** 2 for _, n, p in layers) / rate
steady = per_job[1:] or per_job
mean = sum(steady) / len(steady)
shape = ",".join("%sx%s" % (n, p) for _, n, p in layers)
# Consecutive identical modes are shown once: "none x4, dims:102".
runs = []
for _, m, _ in modes:
    if runs and runs[-1][0] == m:
        runs[-1][1] += 1
    else:
        runs.append([m, 1])
mode = ",".join(m if c == 1 else "%s*%d" % (m, c) for m, c in runs)
print("%s\t%s\t%.2f\t%.2f\t%.2f\t%.0f\t%.1f\t%s\t%.2f\t%.2f\t%s\t%d\t%s" % (
    case, shape, mean, min(steady), per_job[0], hwm / 1024, size / 1e6, mode, gram,
    mean / gram, load, bad, "%.1f" % (rate / 1e9)))
PYEOF
    kill -TERM "$PID"
    wait "$PID" || true
    PID=
    rm -rf "$D"
done

"$PY" - "$TMP/rows" <<'PYEOF'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
print("%-13s %9s %15s %9s %10s %9s %8s %6s %7s  %s" % (
    "case", "steady s", "(min) first", "peak RSS", "bytes/ckpt", "Gram s", "x Gram", "dgemm", "load1", "modes (per layer)"))
for r in rows:
    case, shape, mean, lo, first, rss, mb, mode, gram, ratio, load, bad, gf = r
    print("%-13s %9s %15s %6s MB %7s MB %9s %7sx %6s %7s  %s" % (
        case, mean, "(%s) %s" % (lo, first), rss, mb, gram, ratio, gf, load, mode))
    if bad != "0":
        print("  WARNING: %s scores of %s are not ok" % (bad, case))
print("shapes (rows x neurons per layer):")
for r in rows:
    print("  %-13s %s" % (r[0], r[1]))
print("steady s: mean compute s of the jobs after the first pair (its minimum in brackets); first: the "
      "first pair's;\nx Gram: steady s over the Gram pass cost; dgemm in GFLOP/s (1 thread, numpy's "
      "OpenBLAS); load1: 1-minute load average at the case's start")
PYEOF
