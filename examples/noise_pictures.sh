#!/usr/bin/env bash
# noise_pictures.sh -- draw the pictures of examples/README.md, "Reading stable_rule =
# noise alerts from the band" (issue #21): real runs scored by a real pwccad with
# noise = jackknife:10 every 1 and stable_rule = noise, plotted against the previous
# checkpoint with the stability threshold and a +-2 SE band (the rule's z), and against
# the final checkpoint with the settle ranges.
#
#   bash examples/noise_pictures.sh [BUILD_DIR]
#
# Runs (each a subdirectory of demo-out/noise/runs, moved in whole once written):
#   mlp      the demo's trainer run (examples/demo.sh: 3000 steps, every 100, 2048 probe
#            inputs), stable_rule = noise;
#   mlp512   the same trainer with a 512-input probe (n = 4p for its 128-wide layers),
#            stable_rule = noise, and mlp512t the same files under the threshold rule;
#   torch    examples/noise_torch.py (PyTorch, CPU), stable_rule = noise; skipped when
#            /usr/bin/python3 has no torch.
# Writes examples/img/noise-*.svg and, with rsvg-convert, .png; prints every run's
# alerts.  Takes a few minutes on two cores.  Every wait is bounded.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
out=$repo/demo-out/noise
root=$out/runs
img=$repo/examples/img
db=$out/pwccad.db
sock=$out/pwccad.sock
[ ${#sock} -lt 100 ] || sock="/tmp/pwccad-noise-$(id -u).sock"
rm -rf "$out"
mkdir -p "$root" "$out/tmp" "$img"
cat >"$out/pwccad.conf" <<'CONF'
settle_time = 0.2
rescan_interval = 1
noise = jackknife:10 every 1
stable_rule = noise
[run mlp512t]
stable_rule = threshold
CONF

"$build/pwccad" --watch "$root" --db "$db" --socket "$sock" --config "$out/pwccad.conf" \
    --foreground 2>"$out/pwccad.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT

q() { sqlite3 -readonly -cmd '.timeout 2000' "$db" "$1" 2>/dev/null || echo 0; }
# scored RUN N: every one of its N checkpoints but the final has a distance to the
# previous one (bar the first) and to the final one, for every layer.
scored() {
    local w="run_id = (SELECT id FROM runs WHERE name = '$1') AND distance IS NOT NULL"
    local nl; nl=$(q "SELECT COUNT(DISTINCT layer) FROM scores WHERE run_id = (SELECT id FROM runs WHERE name = '$1')")
    [ "$nl" -gt 0 ] &&
        [ "$(q "SELECT COUNT(*) FROM scores WHERE $w AND ref = 'previous'")" -ge $((nl * ($2 - 1))) ] &&
        [ "$(q "SELECT COUNT(*) FROM scores WHERE $w AND ref = 'final' AND step < ref_step")" -ge $((nl * ($2 - 1))) ]
}
wait_scored() {
    local t0=$SECONDS
    until scored "$1" "$2"; do
        kill -0 $pid 2>/dev/null || { tail -5 "$out/pwccad.log"; exit 1; }
        [ $((SECONDS - t0)) -lt 900 ] || { echo "timed out scoring $1" >&2; exit 1; }
        sleep 1
    done
    echo "  $1 scored (${SECONDS}s)"
}

"$build/examples/trainer" --out "$out/tmp/mlp" --quiet
"$build/examples/trainer" --out "$out/tmp/mlp512" --probe 512 --quiet
cp -r "$out/tmp/mlp512" "$out/tmp/mlp512t"
for r in mlp mlp512 mlp512t; do mv "$out/tmp/$r" "$root/$r"; done
torch=0
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    /usr/bin/python3 "$repo/examples/noise_torch.py" "$out/tmp/torch"
    mv "$out/tmp/torch" "$root/torch"
    torch=1
fi
for r in mlp mlp512 mlp512t; do wait_scored $r 31; done
[ $torch = 0 ] || wait_scored torch 26

pwcca() { "$build/pwcca" --db "$db" "$@"; }
draw() { # draw NAME pwcca-plot-args...: examples/img/noise-NAME.svg (and .png)
    local name=$1; shift
    pwcca plot "$@" --kind lines -o "$img/noise-$name.svg"
    if command -v rsvg-convert >/dev/null; then
        rsvg-convert "$img/noise-$name.svg" -o "$img/noise-$name.png"
    fi
}
# stable_threshold 0.01, stable_z 2: the daemon's defaults.
draw mlp-previous mlp --theta 0.01 --z 2 --ymax 0.03
draw mlp512-previous mlp512 --theta 0.01 --z 2 --ymax 0.02
[ $torch = 0 ] || draw torch-previous torch --theta 0.01 --z 2 --ymax 0.05
[ $torch = 0 ] || draw torch-final torch --ref final --ymax 0.15
for r in mlp mlp512 mlp512t torch; do
    [ $r != torch ] || [ $torch = 1 ] || continue
    echo "== $r"
    pwcca alerts $r
    pwcca convergence $r | tail -4
done
