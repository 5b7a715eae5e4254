#!/usr/bin/env bash
# run.sh -- `make bench`: the benchmarks, one section after another.
#
#   bash bench/run.sh BUILD_DIR       (PW_BENCH_QUICK=1 for small sizes)
#
# Section "engine": build/bench/bench_engine against this machine's dgemm rate.
# Section "numpy": bench/numpy_ref.py on the very same data, and the speedups.
# Section "shapes": bench/bench_shapes.sh; "keep-up": bench/keepup_scenario.sh and "sharing":
# bench/bench_share.sh (full mode only).
# Timings are wall clock on a shared machine: rerun when it is quiet.
set -u
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:?usage: run.sh BUILD_DIR}
PY=/usr/bin/python3
work=$(mktemp -d /tmp/pwcca-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

section() { printf '\n== %s ==\n' "$1"; }

# ---- engine ---------------------------------------------------------------------
section "engine"
export PW_BENCH_SUMMARY=$work/summary PW_BENCH_DUMP=$work
"$BUILD/bench/bench_engine" || { echo "bench_engine failed" >&2; exit 1; }

# ---- numpy baseline -----------------------------------------------------------------
section "numpy baseline (same data, same OpenBLAS)"
if ! "$PY" -c 'import numpy' 2>/dev/null; then
    echo "skipped: $PY has no numpy (apt-get install python3-numpy)"
elif [ ! -s "$work/X.f32" ]; then
    echo "skipped: bench_engine wrote no comparison case"
else
    dims=$(awk '$1 == "engine_pwcca_value" { print $2 }' "$work/summary")
    IFS=x read -r n p q <<<"$dims"
    "$PY" "$here/numpy_ref.py" "$work" "$n" "$p" "$q" >"$work/numpy" || exit 1
    get() { awk -v k="$1" -v d="$dims" '$1 == k && (NF == 2 || $2 == d) { print $NF }' "$2"; }
    np_pw=$(get numpy_pwcca_ms "$work/numpy")
    np_all=$(get numpy_all_ms "$work/numpy")
    en_pw=$(get engine_pwcca_ms "$work/summary")
    en_all=$(get engine_all_ms "$work/summary")
    printf '%-22s %12s %12s %9s\n' "n x p x q = $dims" "numpy_ms" "pwccad_ms" "speedup"
    awk -v a="$np_pw" -v b="$en_pw" 'BEGIN { printf "%-22s %12.1f %12.1f %8.2fx\n", "pwcca alone", a, b, a / b }'
    awk -v a="$np_all" -v b="$en_all" 'BEGIN { printf "%-22s %12.1f %12.1f %8.2fx\n", "all four metrics", a, b, a / b }'
    printf 'pwcca value: numpy %s, pwccad %s\n' "$(get numpy_pwcca_value "$work/numpy")" \
        "$(get engine_pwcca_value "$work/summary")"
    grep '^numpy_values' "$work/numpy"
fi

# ---- daemon ---------------------------------------------------------------------------
section "daemon (8 layers, n = 16384, p = 512, F32, 20 checkpoints)"
if [ "${PW_BENCH_QUICK:-0}" = 1 ]; then
    echo "skipped in quick mode"
else
    bash "$here/bench_daemon.sh" "$BUILD" || { echo "bench_daemon failed" >&2; exit 1; }
fi

# ---- the Probe in a training loop -----------------------------------------------------
section "Probe (integrations/python) in a ResNet-18 training loop"
if ! "$PY" -c 'import torch' 2>/dev/null; then
    echo "skipped: $PY has no torch (make deps-torch)"
elif [ "${PW_BENCH_QUICK:-0}" = 1 ]; then
    "$PY" "$here/probe_resnet.py" "$work" --quick || { echo "probe_resnet failed" >&2; exit 1; }
else
    "$PY" "$here/probe_resnet.py" "$work" || { echo "probe_resnet failed" >&2; exit 1; }
fi

# ---- real shapes ------------------------------------------------------------------------
section "real shapes (ResNet-18 probe, GPT-2 small, wide MLP): per-checkpoint cost"
bash "$here/bench_shapes.sh" "$BUILD" || { echo "bench_shapes failed" >&2; exit 1; }

# ---- keeping up beside training -------------------------------------------------------
section "keep-up: wide MLP at n = 8192, one checkpoint per 10 s beside a busy process"
if [ "${PW_BENCH_QUICK:-0}" = 1 ]; then
    echo "skipped in quick mode"
else
    bash "$here/keepup_scenario.sh" "$BUILD" || { echo "keepup_scenario failed" >&2; exit 1; }
fi

# ---- daemons sharing one PostgreSQL store -------------------------------------------
section "sharing: one daemon vs two on one PostgreSQL store, 40 checkpoints in two runs"
if [ "${PW_BENCH_QUICK:-0}" = 1 ]; then
    echo "skipped in quick mode"
else
    bash "$here/bench_share.sh" "$BUILD" || { echo "bench_share failed" >&2; exit 1; }
fi
