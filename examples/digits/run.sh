#!/usr/bin/env bash
# run.sh -- do wider networks converge to more similar representations?  (Morcos,
# Raghu & Bengio 2018, §3.2, reproduced on sklearn's digits while pwccad watches.)
#
#   bash examples/digits/run.sh [--build DIR] [--out DIR] [--widths 8,128]
#                               [--seeds 1,2,3] [--epochs 20] [--every 5]
#
# Starts pwccad on a fresh database, socket and watched root in OUT (default
# digits-out/ in the repository, recreated each time), trains one small CNN
# per width and seed with examples/digits/train_digits.py (the PyTorch helper
# writes each run's checkpoints into OUT/runs/w{W}-s{S}/ and finalizes it),
# waits until the daemon has recorded every checkpoint and every run as final,
# waits until the daemon has scored every pair of runs of the group `digits`
# (all of them), then clusters the runs at their final checkpoints with
# `pwcca cluster digits`, one layer at a time, and prints per layer the mean distance between runs of the
# same width (and across widths) and which width's runs are closer together;
# the same at step 0 (untrained) is printed as the control.
# Writes OUT/cluster-LAYER.svg (matrix + dendrogram), the JSON behind the
# table and OUT/accuracy.tsv.  Stops the daemon with SIGTERM at the end.
#
# Needs python3 with torch, numpy and scikit-learn (`make deps-examples`
# installs Debian's packages); without them it exits 1 naming what is missing.
# Every wait is bounded; on a failure it prints the daemon's last log lines.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$repo/build out=$repo/digits-out
widths=8,128 seeds=1,2,3 epochs=20 every=5
usage() {
    cat <<'USAGE'
usage: bash examples/digits/run.sh [--build DIR] [--out DIR] [--widths 8,128]
                                   [--seeds 1,2,3] [--epochs 20] [--every 5]
USAGE
}
while [ $# -gt 0 ]; do
    case $1 in -h | --help) usage; exit 0 ;; esac
    [ $# -ge 2 ] || { usage >&2; exit 2; }
    case $1 in
    --build) build=$2 ;;
    --out) out=$2 ;;
    --widths) widths=$2 ;;
    --seeds) seeds=$2 ;;
    --epochs) epochs=$2 ;;
    --every) every=$2 ;;
    *) usage >&2; exit 2 ;;
    esac
    shift 2
done
build=$(cd "$build" && pwd)
pwccad=$build/pwccad pwcca=$build/pwcca
# Debian's torch and sklearn are for the system python; a PATH python may lack them.
python=${PYTHON:-/usr/bin/python3}
[ -x "$python" ] || python=python3

root=$out/runs db=$out/pwccad.db log=$out/pwccad.log conf=$out/pwccad.conf
sock=$out/pwccad.sock # sockaddr_un holds 108 bytes; fall back to /tmp for deep paths
[ ${#sock} -lt 100 ] || sock="/tmp/pwccad-digits-$(id -u)-$$.sock"
layers=(conv1 conv2 logits)

say() { printf '%s\n' "$*"; }
stage() { printf '\n== %s ==\n' "$*"; }
die() {
    printf 'digits: %s\n' "$*" >&2
    if [ -s "$log" ]; then
        printf 'digits: last daemon log lines (%s):\n' "$log" >&2
        tail -n 15 "$log" >&2
    fi
    exit 1
}
for b in "$pwccad" "$pwcca"; do
    [ -x "$b" ] || die "$b is missing: run 'make' first"
done
command -v sqlite3 >/dev/null || die "sqlite3 is missing: run 'make deps'"
missing=$("$python" - <<'PY'
import importlib.util as u
need = (("torch", "python3-torch"), ("numpy", "python3-numpy"), ("sklearn", "python3-sklearn"))
print(" ".join(pkg for mod, pkg in need if u.find_spec(mod) is None))
PY
) || die "$python does not run"
[ -z "$missing" ] || die "$python lacks $missing: run 'make deps-examples' (as root), or apt-get install --no-install-recommends $missing"

q() { sqlite3 -readonly -cmd '.timeout 2000' "$db" "$1" 2>/dev/null || echo 0; }

daemon_pid=''
stop_daemon() {
    [ -n "$daemon_pid" ] || return 0
    kill -TERM "$daemon_pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$daemon_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$daemon_pid" 2>/dev/null && kill -KILL "$daemon_pid" 2>/dev/null
    local rc=0
    wait "$daemon_pid" 2>/dev/null || rc=$?
    daemon_pid=
    return "$rc"
}
trap 'stop_daemon || true; [ "${sock#/tmp/}" = "$sock" ] || rm -f "$sock"' EXIT
trap 'exit 130' INT TERM

SECONDS=0
say "Do wider networks converge to more similar representations?  Seeds $seeds of a"
say "CNN at widths $widths (channels per conv layer) train on sklearn's digits while"
say "pwccad watches; then every pair of runs is compared at the final checkpoint."

stage "1. Start the daemon on a fresh root, database and socket"
# OUT is recreated: refuse a directory this script did not make (a mistyped --out).
if [ -d "$out" ] && [ -n "$(ls -A "$out")" ] && ! grep -qs '^# Written by examples/digits/run.sh' "$out/pwccad.conf"; then
    log='' die "$out is not empty and not an earlier output of this script: choose another --out"
fi
rm -rf "$out"
mkdir -p "$root"
rm -f "$sock"
cat >"$conf" <<CONF
# Written by examples/digits/run.sh.
[pwccad]
watch = $root
db = $db
socket = $sock
# PWCCA (the paper's distance) and the Procrustes distance only: a lighter
# daemon while the networks train on the same two cores.
metrics = pwcca,procrustes

# Every run of the example is one group: the daemon scores each pair of runs,
# layer by layer, at every step both have and at their finals (group_scores),
# and \`pwcca cluster digits\` reads those stored scores.
[group digits]
runs = w*-s*
CONF
"$pwccad" --config "$conf" --foreground 2>"$log" &
daemon_pid=$!
for _ in $(seq 100); do
    "$pwcca" --db "$db" --socket "$sock" status >/dev/null 2>&1 && break
    kill -0 "$daemon_pid" 2>/dev/null || die "the daemon failed to start"
    sleep 0.1
done
"$pwcca" --db "$db" --socket "$sock" status >/dev/null 2>&1 || die "the daemon did not answer on $sock within 10 s"
say "  pwccad (pid $daemon_pid) watches ${root#"$repo"/}/ (config ${conf#"$repo"/}, log ${log#"$repo"/})"

stage "2. Train every width and seed (accuracy on the 500 held-out probe images)"
rc=0
"$python" "$here/train_digits.py" --root "$root" --acc "$out/accuracy.tsv" --widths "$widths" \
    --seeds "$seeds" --epochs "$epochs" --every "$every" || rc=$?
[ "$rc" = 0 ] || die "train_digits.py failed (exit $rc)"

runs=()
for w in ${widths//,/ }; do for s in ${seeds//,/ }; do runs+=("w$w-s$s"); done; done
nruns=${#runs[@]}
nfiles=$(find "$root" -name 'step-*.safetensors' | wc -l)

stage "3. Wait until the daemon has recorded every checkpoint and every run as final"
t0=$SECONDS
while :; do
    nck=$(q "SELECT count(*) FROM checkpoints")
    nfin=$(q "SELECT count(*) FROM runs WHERE final_step IS NOT NULL")
    [ "$nck" -ge "$nfiles" ] && [ "$nfin" -ge "$nruns" ] && break
    kill -0 "$daemon_pid" 2>/dev/null || die "the daemon exited"
    [ $((SECONDS - t0)) -lt 120 ] || die "timed out after 120 s: $nck of $nfiles checkpoints, $nfin of $nruns runs final"
    sleep 0.2
done
say "  $nck checkpoints of $nruns runs recorded, all runs final (${SECONDS}s since start)"

stage "4. Wait until the daemon has scored the group: every pair of runs at step 0 and the finals"
# Cross pairs go after every run's own work (docs/DAEMON.md, "Run groups");
# cluster GROUP refuses while a pair of the asked step is missing.
t0=$SECONDS
until "$pwcca" --db "$db" cluster digits --layer "${layers[0]}" --final --json >/dev/null 2>&1 &&
    "$pwcca" --db "$db" cluster digits --layer "${layers[0]}" --step 0 --json >/dev/null 2>&1; do
    kill -0 "$daemon_pid" 2>/dev/null || die "the daemon exited"
    [ $((SECONDS - t0)) -lt 600 ] || die "timed out after 600 s: the group's pairs are not all scored"
    sleep 0.5
done
say "  $(q "SELECT count(*) FROM group_scores WHERE group_name = 'digits'") cross-run scores stored (${SECONDS}s since start)"

stage "5. Cluster the $nruns runs of group digits at their final checkpoints, layer by layer"
# The same at step 0, untrained, is the control: how close runs of each width
# are before any learning (a wider layer's random features already span more).
for layer in "${layers[@]}"; do
    for dist in pwcca procrustes; do
        suffix=; [ "$dist" = pwcca ] || suffix=-$dist
        printf '$ pwcca cluster digits --layer %s --final --distance %s --json -o %s\n' \
            "$layer" "$dist" "${out#"$repo"/}/cluster-$layer$suffix.svg"
        "$pwcca" --db "$db" --socket "$sock" cluster digits --layer "$layer" --final \
            --distance "$dist" --json -o "$out/cluster-$layer$suffix.svg" \
            >"$out/cluster-$layer$suffix.json" || die "pwcca cluster failed at layer $layer ($dist)"
        "$pwcca" --db "$db" --socket "$sock" cluster digits --layer "$layer" --step 0 \
            --distance "$dist" --json >"$out/cluster-$layer$suffix-init.json" ||
            die "pwcca cluster failed at layer $layer ($dist, step 0)"
    done
done
say "  (and the same with --step 0 instead of --final, without -o: the untrained control)"

stage "6. Mean distance between runs of the same width, at the final checkpoint"
"$python" "$here/summarize.py" "$out" "${layers[@]}" || die "summarize.py failed"

stage "7. Stop the daemon"
rc=0
stop_daemon || rc=$?
[ "$rc" = 0 ] || die "pwccad exited with status $rc"
say "  stopped cleanly.  Done in ${SECONDS}s; everything is in ${out#"$repo"/}/"
