#!/usr/bin/env bash
# demo.sh -- what `make demo` runs: a real training run watched by pwccad.
#
#   bash examples/demo.sh [BUILD_DIR]      (BUILD_DIR defaults to build)
#
# Starts the daemon on a fresh directory and database (demo-out/ in the
# repository, recreated each time), trains the example MLP (examples/trainer.c)
# while the daemon scores each checkpoint as it lands, finalizes the run so
# every checkpoint is also scored against the final one, then shows what the
# product is for: the convergence summary, the bottom-up heatmap and an SVG
# plot.  Stops the daemon with SIGTERM at the end (and on any failure).
# Every wait is bounded; the whole demo takes well under two minutes on 2 cores.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
pwccad="$build/pwccad"
pwcca="$build/pwcca"
trainer="$build/examples/trainer"

out="$repo/demo-out"
root="$out/runs"        # watched like a TensorBoard logdir: each subdirectory is a run
run_name=mlp
run="$root/$run_name"
db="$out/pwccad.db"
log="$out/pwccad.log"
svg="$out/$run_name.svg"
# A Unix socket path must fit sockaddr_un (108 bytes); fall back to /tmp for deep checkouts.
sock="$out/pwccad.sock"
[ ${#sock} -lt 100 ] || sock="/tmp/pwccad-demo-$(id -u).sock"

steps=3000 every=100
nckpt=$((steps / every + 1)) # the trainer also writes step 0
nlayers=5                    # fc1..fc4 and the logits

if [ -t 1 ]; then bold=$'\e[1m' dim=$'\e[2m' off=$'\e[0m'; else bold='' dim='' off=''; fi
say() { printf '%s\n' "$*"; }
stage() { printf '\n%s== %s ==%s\n' "$bold" "$*" "$off"; }
# show CMD...: print the command the way a user would type it, then run it.
show() {
    local shown="$*"
    shown=${shown//$repo\//}
    printf '%s$ %s%s\n' "$dim" "$shown" "$off"
    "$@"
}
die() {
    printf 'demo: %s\n' "$*" >&2
    if [ -s "$log" ]; then
        printf 'demo: last daemon log lines (%s):\n' "$log" >&2
        tail -n 15 "$log" >&2
    fi
    exit 1
}
for b in "$pwccad" "$pwcca" "$trainer"; do
    [ -x "$b" ] || die "$b is missing: run 'make' first"
done
command -v sqlite3 >/dev/null || die "sqlite3 is missing: run 'make deps'"

# Scalar query against the daemon's database (schema/001_init.sql is a public contract).
q() { sqlite3 -readonly -cmd '.timeout 2000' "$db" "$1" 2>/dev/null || echo 0; }
run_where="run_id = (SELECT id FROM runs WHERE name = '$run_name')"

# wait_for WHAT SECONDS SQL TARGET: poll until the query reaches TARGET, printing progress.
wait_for() {
    local what=$1 limit=$2 sql=$3 target=$4 n=0 t0=$SECONDS
    while :; do
        n=$(q "$sql")
        [ -t 1 ] && printf '\r  %s: %s/%s ' "$what" "$n" "$target"
        [ "$n" -ge "$target" ] && break
        kill -0 "$daemon_pid" 2>/dev/null || die "the daemon exited while $what"
        [ $((SECONDS - t0)) -lt "$limit" ] || die "timed out after ${limit}s: $what reached $n of $target"
        sleep 0.2
    done
    [ -t 1 ] && printf '\r'
    say "  $what: $n/$target (${SECONDS}s since start)"
}

daemon_pid='' follow_pid=''
stop_daemon() {
    [ -z "$follow_pid" ] || kill "$follow_pid" 2>/dev/null || true
    [ -n "$daemon_pid" ] || return 0
    kill -TERM "$daemon_pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$daemon_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$daemon_pid" 2>/dev/null; then
        say "demo: the daemon did not stop within 10 s; sending SIGKILL" >&2
        kill -KILL "$daemon_pid" 2>/dev/null || true
    fi
    local rc=0
    wait "$daemon_pid" 2>/dev/null || rc=$?
    daemon_pid=
    return "$rc"
}
trap 'stop_daemon || true' EXIT
trap 'exit 130' INT TERM

SECONDS=0
say "${bold}pwccad demo${off}: watch every layer of a network converge while it trains."
say "A training job writes, every $every steps, each layer's activations on a fixed"
say "probe set.  The daemon pwccad measures, per layer, how far the representation"
say "moved (PWCCA distance: 0 = same up to a linear map, 1 = unrelated) against the"
say "previous checkpoint and, once the run is final, against the final one."

stage "1. Start the daemon on a fresh directory and database"
rm -rf "$out"
mkdir -p "$root"
rm -f "$sock"
# The dashboard: a free loopback port unless PWCCAD_DEMO_HTTP names one (e.g. 127.0.0.1:8765).
http=${PWCCAD_DEMO_HTTP:-127.0.0.1:0}
printf '%s$ %s%s\n' "$dim" "${pwccad#"$repo"/} --watch ${root#"$repo"/} --db ${db#"$repo"/} --socket ${sock#"$repo"/} --http $http --foreground 2>${log#"$repo"/} &" "$off"
"$pwccad" --watch "$root" --db "$db" --socket "$sock" --http "$http" --foreground 2>"$log" &
daemon_pid=$!
for _ in $(seq 100); do
    "$pwcca" --db "$db" --socket "$sock" status >/dev/null 2>&1 && break
    kill -0 "$daemon_pid" 2>/dev/null || die "the daemon failed to start"
    sleep 0.1
done
"$pwcca" --db "$db" --socket "$sock" status >/dev/null 2>&1 || die "the daemon did not answer on $sock within 10 s"
say "  pwccad (pid $daemon_pid) watches $root/ -- each subdirectory is a run; log in ${log#"$repo"/}"
url=$(sed -n 's|.*dashboard at \(http://[^ ]*\).*|\1|p' "$log" | head -1)
[ -n "$url" ] || die "the daemon did not log its dashboard address"
say "  ${bold}Dashboard: $url${off} -- open it now: the run appears and fills in live"

stage "2. Train a network while the daemon watches"
say "  An MLP 32-128-128-128-128-10 learns a synthetic task with SGD; every $every steps"
say "  the trainer writes $run_name/step-NNNNNN.safetensors (renamed into place)."
say "  Meanwhile 'pwcca alerts --follow' prints the daemon's alerts as layers stabilize"
say "  (distance to the previous checkpoint <= 0.01 three times in a row)."
"$pwcca" --db "$db" --socket "$sock" alerts --follow > >(sed -u 's/^/    alert: /') 2>/dev/null &
follow_pid=$!
# Every 500 steps is enough on screen (a bash loop, not awk: mawk buffers its input).
indent_every_500() {
    local line
    while IFS= read -r line; do
        if [[ $line =~ ^step\ +([0-9]+) ]] && ((BASH_REMATCH[1] % 500 != 0)); then continue; fi
        printf '  %s\n' "$line"
    done
}
if ! show "$trainer" --out "$run" --steps "$steps" --every "$every" --sleep-ms 100 --no-final |
    indent_every_500; then
    die "the trainer failed"
fi
wait_for "checkpoints scored against their predecessor" 60 \
    "SELECT count(*) FROM checkpoints WHERE $run_where" "$nckpt"
bad=$(q "SELECT count(*) FROM checkpoints WHERE $run_where AND status != 'ok'")
[ "$bad" = 0 ] || say "  note: $bad checkpoint(s) were not read cleanly (see 'pwcca runs')"

kill "$follow_pid" 2>/dev/null || true
wait "$follow_pid" 2>/dev/null || true
follow_pid=

stage "3. Declare the run final: every checkpoint is rescored against the last one"
show "$pwcca" --db "$db" --socket "$sock" finalize "$run_name" | sed 's/^/  /'
wait_for "scores against the final checkpoint" 60 \
    "SELECT count(*) FROM scores WHERE $run_where AND ref = 'final'" $((nckpt * nlayers))

stage "4. Which layer converged when"
say "  Per layer: the step from which its distance to the final checkpoint stays small,"
say "  and whether the layers settled bottom-up."
show "$pwcca" --db "$db" --socket "$sock" convergence "$run_name"

stage "5. The picture: distance to the final checkpoint, layers bottom to top"
show "$pwcca" --db "$db" --socket "$sock" plot "$run_name"

stage "6. The same as an SVG file"
show "$pwcca" --db "$db" --socket "$sock" plot "$run_name" -o "$svg"
say "  wrote $svg -- open it in a browser."
say "  The dashboard ($url) showed the same, live, until the daemon stops next."

stage "7. Stop the daemon"
show kill -TERM "$daemon_pid"
pid=$daemon_pid
rc=0
stop_daemon || rc=$?
if [ "$rc" = 0 ]; then say "  pwccad (pid $pid) stopped cleanly"
elif [ "$rc" -gt 128 ]; then die "pwccad was killed by signal $((rc - 128)) ($(kill -l "$rc" 2>/dev/null)) while stopping"
else die "pwccad exited with status $rc"; fi

stage "Done in ${SECONDS}s"
say "  Everything is in ${out#"$repo"/}/; the scores are plain SQLite, e.g."
say "    sqlite3 ${db#"$repo"/} \"SELECT layer, step, distance FROM scores WHERE ref = 'final' LIMIT 5\""
say "  and, with a daemon running, 'pwcca runs', 'pwcca curve $run_name --format csv' and"
say "  'pwcca alerts --follow' show the same live.  See examples/README.md."
