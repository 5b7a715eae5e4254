#!/usr/bin/env bash
# bench_dashboard.sh -- the dashboard at scale: 200 runs x 50 layers x 500
# checkpoints (a synthesised database, bench/dashboard_db.py), and what five
# open browsers cost the daemon's scoring.
#
#   bash bench/bench_dashboard.sh BUILD_DIR      (needs chromium, node, and
#   puppeteer-core installed by tests/integration/test_dashboard_browser.sh
#   into BUILD_DIR/browser; PW_BENCH_TRIALS=N pairs, default 3;
#   PW_BENCH_REFRESH=S the pages' refresh interval, default theirs (5 s);
#   PW_BENCH_DB=FILE keeps the synthesised database for the next run)
#
# 1. First render, cold: each page opened once in Chromium, timed from the
#    navigation to the page drawn (runs table filled; run page's layer table
#    filled and heatmap loaded), plus each JSON/SVG endpoint's time by curl.
# 2. Scoring throughput: the daemon (one compute thread) scores a copy of the
#    same trainer run (checkpoints written beforehand; PW_BENCH_STEPS, default
#    6000: 60 checkpoints) moved into its watched root: with nothing open, with
#    five pages polled the way the pages poll (bench/dashboard_poll.js: the
#    daemon's own cost), and with five Chromium windows on this same machine
#    (two on /, two on the run being scored, one on a synthetic run; a window
#    each, so every page is visible and live), in turn, TRIALS times each;
#    checkpoints per second in steady state (from every page open on the run's
#    second checkpoint to its last), medians compared, with the CPU time of the
#    daemon's loop thread and of the clients.  Wall clock on a shared machine:
#    the load average is printed before and after.
set -u
here=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${1:?usage: bench_dashboard.sh BUILD_DIR}" && pwd)
trials=${PW_BENCH_TRIALS:-3}
nodemods="$BUILD/browser/node_modules"
[ -d "$nodemods/puppeteer-core" ] || { echo "no puppeteer-core in $nodemods: run the browser test once"; exit 1; }
work=$(mktemp -d /tmp/pwcca-bench-dash.XXXXXX)
daemon=''
cleanup() { [ -z "$daemon" ] || { kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; }; rm -rf "$work"; }
trap cleanup EXIT

# PW_BENCH_DB=FILE keeps the synthesised database there for the next run
# (each run adds its trial runs to it).
db=${PW_BENCH_DB:-$work/db}
if [ ! -s "$db" ]; then
    echo "== synthesising 200 runs x 50 layers x 500 checkpoints =="
    t0=$SECONDS
    /usr/bin/python3 "$here/dashboard_db.py" "$db" "$here/../schema" 200 50 500 || exit 1
    echo "database: $(du -m "$db" | cut -f1) MB in $((SECONDS - t0)) s"
fi

# The run the daemon scores in each trial, written once.
"$BUILD/examples/trainer" --out "$work/src" --steps "${PW_BENCH_STEPS:-6000}" --every 100 --hidden 256,256,256,256 \
    --probe 2048 --seed 2 --no-final --quiet >/dev/null 2>&1 || exit 1
nck=$(ls "$work/src" | grep -c '^step-')

mkdir -p "$work/root"
printf 'settle_time = 0.2\nrescan_interval = 1\nworkers = 1\n' >"$work/conf"
"$BUILD/pwccad" --foreground --config "$work/conf" --watch "$work/root" --db "$db" \
    --socket "$work/sock" --http 127.0.0.1:0 2>"$work/log" &
daemon=$!
port=''
for _ in $(seq 200); do
    port=$(sed -n 's|.*dashboard at http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$work/log" | head -1)
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { echo "the daemon did not start"; tail "$work/log"; exit 1; }
base="http://127.0.0.1:$port"

echo
echo "== first render, cold (one Chromium tab each) =="
NODE_PATH="$nodemods" node "$here/dashboard_load.js" "$base" / /run/run-100 /run/run-007 </dev/null |
    awk '$1 == "first_render" { printf "%-16s %6d ms\n", $2, $3 }'
echo "endpoints (curl, run-150 not rendered before):"
for u in /api/runs /api/run/run-150 "/api/run/run-150/plot.svg?kind=heatmap" \
    "/api/run/run-150/plot.svg?kind=lines" "/api/run/run-150/curve?ref=previous"; do
    curl -s -o /dev/null -w "  %{time_total} s  %{size_download} bytes  $u\n" "$base$u"
done

# loop_ticks: CPU clock ticks of the daemon's loop thread (its main thread) so far.
loop_ticks() { awk '{ print $14 + $15 }' "/proc/$daemon/task/$daemon/stat"; }
# tree_ticks PID: CPU clock ticks of PID and every process below it (the load
# script and its Chromium), of those alive now.
tree_ticks() {
    local all; all=$(ps -e -o pid=,ppid= | awk -v root="$1" '
        { kids[$2] = kids[$2] " " $1 }
        END { q = root; out = root; while (q != "") { split(q, a, " "); q = "";
              for (i in a) { n = split(kids[a[i]], k, " "); for (j = 1; j <= n; j++) { out = out " " k[j]; q = q " " k[j] } } }
              print out }')
    local t=0 p v
    for p in $all; do
        v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }')
        t=$((t + ${v:-0}))
    done
    echo "$t"
}
hz=$(getconf CLK_TCK)

# trial NAME MODE: "CKPT_PER_S LOOP_CPU_S CLIENT_CPU_S" for storing the checkpoints of a
# fresh copy; MODE quiet (nothing open), poll (five simulated pages) or chromium (five
# Chromium windows, each visible).  Timed in steady state: from the moment the run has
# two checkpoints stored and every page is open (the two on the run itself can only be
# opened once it exists) to the last checkpoint stored, the same in every mode.
trial() {
    local name=$1 mode=$2 pid='' fifo="$work/fifo-$1" n=0
    cp -r "$work/src" "$work/stage-$name"
    if [ "$mode" != quiet ]; then
        mkfifo "$fifo"
        if [ "$mode" = poll ]; then
            node "$here/dashboard_poll.js" "$base" / / /run/run-042 "/run/$name" "/run/$name" <"$fifo" >"$work/load-$name" 2>&1 &
        else
            NODE_PATH="$nodemods" node "$here/dashboard_load.js" "$base" / / /run/run-042 <"$fifo" >"$work/load-$name" 2>&1 &
        fi
        pid=$!
        exec 9>"$fifo"
        for _ in $(seq 600); do grep -q '^ready' "$work/load-$name" && break; sleep 0.1; done
    fi
    count() {
        sqlite3 -readonly -cmd '.timeout 2000' "$db" \
            "SELECT count(*) FROM checkpoints c JOIN runs r ON r.id = c.run_id WHERE r.name = '$name'" 2>/dev/null || echo 0
    }
    mv "$work/stage-$name" "$work/root/$name"
    while n=$(count); [ "${n:-0}" -lt 2 ]; do sleep 0.05; done
    if [ "$mode" = chromium ]; then
        # Two more pages on the run being scored, now that it exists.
        echo "open /run/$name /run/$name" >&9
        for _ in $(seq 600); do grep -q '^opened\|^open failed' "$work/load-$name" && break; sleep 0.05; done
        grep -q '^opened' "$work/load-$name" || echo "trial $name: $(grep '^open failed' "$work/load-$name")" >&2
    fi
    local n0; n0=$(count)
    local c0; c0=$(loop_ticks)
    local b0=0; [ -z "$pid" ] || b0=$(tree_ticks "$pid")
    local t0; t0=$(date +%s.%N)
    while n=$(count); [ "${n:-0}" -lt "$nck" ]; do sleep 0.05; done
    local t1; t1=$(date +%s.%N)
    local c1; c1=$(loop_ticks)
    local b1=0; [ -z "$pid" ] || b1=$(tree_ticks "$pid")
    if [ "$mode" != quiet ]; then
        grep '^visible' "$work/load-$name" | tail -1 | sed "s/^/  ($name: /; s/\$/ pages)/" >&2
        exec 9>&-; wait $pid 2>/dev/null; rm -f "$fifo"
    fi
    awk -v a="$t0" -v b="$t1" -v n=$((nck - n0)) -v c=$((c1 - c0)) -v w=$((b1 - b0)) -v hz="$hz" \
        'BEGIN { printf "%.3f %.2f %.2f\n", n / (b - a), c / hz, w / hz }'
}

echo
echo "== scoring throughput, $nck checkpoints of 5 layers (256 wide, 2048 probes) per trial =="
echo "(ckpt/s in steady state, from the second checkpoint stored with every page open to the"
echo " last; loop CPU = the daemon's main thread, where the dashboard is served; client CPU ="
echo " the load script and its browser; all during the timed part of the trial)"
echo "pages' refresh interval: ${PW_BENCH_REFRESH:-5 (their default)} s"
echo "load before: $(uptime)"
# Run names unique to this invocation: a kept database (PW_BENCH_DB) has the last ones.
tag=t$(date +%s)
: >"$work/quiet"; : >"$work/poll"; : >"$work/chromium"
for i in $(seq "$trials"); do
    for mode in quiet poll chromium; do
        r=$(trial "$tag-$mode$i" $mode); echo "$r" >>"$work/$mode"
        printf 'trial %d %-9s %s ckpt/s, loop CPU %s s, client CPU %s s\n' "$i" "$mode" $r
    done
done
echo "load after: $(uptime)"
med() { awk -v k="$2" '{ print $k }' "$1" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mq=$(med "$work/quiet" 1)
for mode in poll chromium; do
    m=$(med "$work/$mode" 1)
    awk -v q="$mq" -v l="$m" -v mode="$mode" -v cq="$(med "$work/quiet" 2)" -v cl="$(med "$work/$mode" 2)" \
        -v bl="$(med "$work/$mode" 3)" \
        'BEGIN { printf "median, five %s pages: %.3f ckpt/s against %.3f with none: %+.1f %%; loop CPU %.2f s against %.2f s; client CPU %.2f s\n", mode, l, q, 100 * (l - q) / q, cl, cq, bl }'
done
