#!/usr/bin/env bash
# bench_share.sh -- throughput of daemons sharing one PostgreSQL store (issue #24).
#
# Usage: bash bench/bench_share.sh [BUILD_DIR]      (default build)
#
# A backlog of 40 checkpoints in two runs (the C trainer, build/examples/trainer,
# writes both runs whole first, no sleeps), then the wall time from starting
# the daemons until every score and chance level of both runs is stored:
#
#   one daemon, SQLite        for context (the default store)
#   one daemon, PostgreSQL    the baseline of the ratio
#   two daemons, PostgreSQL   sharing the work through one database
#
# Each daemon has one compute thread and one BLAS thread (workers = 1,
# blas_threads = 1), and each measurement gets a fresh database.  The issue's
# target: two daemons finish in <= 0.65x the time of one (this machine has 2
# cores; a server of its own runs beside them).  Override the size with
# BENCH_SHARE_HIDDEN (widths, default 256,256,256), BENCH_SHARE_PROBE (inputs,
# default 2048), BENCH_SHARE_LEASE (seconds, default 30).  Timings are wall clock
# on a shared machine: rerun when it is quiet.
#
# The PostgreSQL server is a private one (initdb in a temporary directory, a
# unix socket there only; run as nobody when root, as initdb refuses root).
# Skipped with a line when its binaries are absent (make deps-postgres).
set -uo pipefail
BUILD=$(cd "${1:-build}" && pwd)
PWCCAD=$BUILD/pwccad
TRAINER=$BUILD/examples/trainer
HIDDEN=${BENCH_SHARE_HIDDEN:-256,256,256}
PROBE=${BENCH_SHARE_PROBE:-2048}
LEASE=${BENCH_SHARE_LEASE:-30}
CKPTS=20 # per run: steps 0, 100, ..., 1900
PY=/usr/bin/python3

echo "== sharing benchmark: 2 runs x $CKPTS checkpoints, hidden $HIDDEN, probe $PROBE, 1 worker + 1 BLAS thread per daemon =="
PG_BIN=$(pg_config --bindir 2>/dev/null)
[ -x "$PG_BIN/initdb" ] || PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/pg_ctl" ] || [ ! -x "$PG_BIN/psql" ]; then
    echo "skipped: no PostgreSQL server binaries (initdb, pg_ctl, psql; make deps-postgres)"
    exit 0
fi
AS=()
if [ "$(id -u)" = 0 ]; then
    if ! command -v runuser >/dev/null || ! id nobody >/dev/null 2>&1; then
        echo "skipped: running as root without runuser or a nobody user for the server"
        exit 0
    fi
    AS=(runuser -u nobody --)
fi
[ -x "$TRAINER" ] || { echo "bench_share: $TRAINER is missing (make all)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/pwccad-share.XXXXXX)
chmod 0755 "$TMP"
[ ${#AS[@]} = 0 ] || { mkdir "$TMP/pg" && chown nobody "$TMP/pg"; }
PIDS=()
pg_ctl() { "${AS[@]}" "$PG_BIN/pg_ctl" -D "$TMP/pg/data" -l "$TMP/pg/server.log" -w -t 60 "$@"; }
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    pg_ctl stop -m immediate >/dev/null 2>&1
    rm -rf "$TMP"
}
trap cleanup EXIT

mkdir -p "$TMP/pg" "$TMP/root"
if ! "${AS[@]}" "$PG_BIN/initdb" -D "$TMP/pg/data" --no-locale -E UTF8 --auth=trust -U pwccad \
    >"$TMP/initdb.log" 2>&1 || ! pg_ctl -o "-k $TMP/pg -c listen_addresses=''" start >/dev/null 2>&1; then
    echo "bench_share: cannot start a private PostgreSQL server:" >&2
    tail -3 "$TMP/initdb.log" "$TMP/pg/server.log" >&2 2>/dev/null
    exit 1
fi
URL0="postgresql://pwccad@/postgres?host=$TMP/pg"

# The backlog: both runs written whole (and FINAL) before any daemon starts.
T=$(date +%s.%N)
for s in 1 2; do
    "$TRAINER" --out "$TMP/root/run$s" --seed "$s" --hidden "$HIDDEN" --probe "$PROBE" \
        --steps $(((CKPTS - 1) * 100)) --every 100 --quiet >/dev/null ||
        { echo "bench_share: the trainer failed" >&2; exit 1; }
done
# Layers per checkpoint: the tensors of one file.
L=$("$PY" - "$TMP/root/run1/step-000000.safetensors" <<'PYEOF'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    print(sum(1 for k in json.loads(f.read(n)) if k != "__metadata__"))
PYEOF
)
# Per run and layer: CKPTS - 1 previous pairs, CKPTS final ones, one chance level.
WANT_SCORES=$((2 * L * (2 * CKPTS - 1)))
WANT_CHANCE=$((2 * L))
printf '  backlog: %d checkpoints of %d layers, written in %.1f s; %d scores + %d chance levels to store\n' \
    $((2 * CKPTS)) "$L" "$(echo "$(date +%s.%N) - $T" | bc)" "$WANT_SCORES" "$WANT_CHANCE"

cat >"$TMP/pwccad.conf" <<CONF
settle_time = 0.2
rescan_interval = 1
workers = 1
blas_threads = 1
log_level = info
CONF
# `lease` exists once daemons share a store; an older pwccad refuses unknown keys.
if "$PWCCAD" --help 2>&1 | grep -q -- "--lease"; then
    echo "lease = $LEASE" >>"$TMP/pwccad.conf"
fi

# counts DB: "SCORES CHANCE" stored so far.
counts() {
    local q="SELECT (SELECT COUNT(*) FROM scores), (SELECT COUNT(*) FROM chance)"
    case $1 in
    postgresql://*) "$PG_BIN/psql" -qAt -F ' ' "$1" -c "$q" 2>/dev/null ;;
    *) "$PY" -c 'import sqlite3, sys
c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=2)
print(*c.execute(sys.argv[2]).fetchone())' "$1" "$q" 2>/dev/null ;;
    esac
}

# measure TAG NAME DB NDAEMONS: start NDAEMONS daemons on DB at once (files TAG-*), wait
# until every score is stored; prints NAME and the seconds, and sets SECS ("" on failure).
SECS=
measure() {
    local tag=$1 name=$2 db=$3 nd=$4 i t0 t1 got=(0 0) last=-1 stall=$((SECONDS + 120))
    PIDS=()
    t0=$(date +%s.%N)
    for i in $(seq "$nd"); do
        "$PWCCAD" --watch "$TMP/root" --db "$db" --socket "$TMP/$tag-$i.sock" \
            --config "$TMP/pwccad.conf" --foreground >"$TMP/$tag-$i.log" 2>&1 &
        PIDS+=($!)
    done
    while :; do
        read -r -a got < <(counts "$db")
        [ "${got[0]:-0}" -ge "$WANT_SCORES" ] && [ "${got[1]:-0}" -ge "$WANT_CHANCE" ] && break
        for i in "${!PIDS[@]}"; do
            if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
                echo "  $name: daemon $((i + 1)) exited: $(tail -1 "$TMP/$tag-$((i + 1)).log")"
                SECS=
                cleanup_daemons
                return 1
            fi
        done
        # Two minutes without a new score: something is wrong (the logs say what).
        [ "${got[0]:-0}" != "$last" ] && last=${got[0]:-0} && stall=$((SECONDS + 120))
        if [ $SECONDS -gt $stall ]; then
            echo "  $name: no progress for 120 s, gave up with ${got[0]:-0} of $WANT_SCORES scores:" \
                "$(tail -n 1 "$TMP/$tag-1.log")"
            SECS=
            cleanup_daemons
            return 1
        fi
        sleep 0.1
    done
    t1=$(date +%s.%N)
    SECS=$(echo "$t1 - $t0" | bc)
    cleanup_daemons
    if [ "${got[0]}" -ne "$WANT_SCORES" ]; then
        echo "  $name: WARNING: ${got[0]} score rows, expected $WANT_SCORES (a pair stored twice?)"
    fi
    printf '  %-28s %8.1f s\n' "$name" "$SECS"
    # How the work was split: the pair jobs each daemon logged (log_level = info).
    if [ "$nd" -gt 1 ]; then
        local split=""
        for i in $(seq "$nd"); do
            split="$split, daemon $i $(grep -c 'computing step' "$TMP/$tag-$i.log")"
        done
        echo "    pair jobs computed: ${split#, }"
    fi
}
cleanup_daemons() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    PIDS=()
}

measure lite "one daemon, SQLite" "$TMP/one.db" 1
LITE=$SECS
"$PG_BIN/psql" -q "$URL0" -c "CREATE DATABASE one" -c "CREATE DATABASE two" >/dev/null ||
    { echo "bench_share: CREATE DATABASE failed" >&2; exit 1; }
measure one "one daemon, PostgreSQL" "postgresql://pwccad@/one?host=$TMP/pg" 1
ONE=$SECS
measure two "two daemons, one PostgreSQL" "postgresql://pwccad@/two?host=$TMP/pg" 2
TWO=$SECS
if [ -n "$ONE" ] && [ -n "$TWO" ]; then
    awk -v one="$ONE" -v two="$TWO" -v lite="$LITE" 'BEGIN {
        r = two / one
        printf "  ratio two/one (PostgreSQL)   %8.2f   target <= 0.65: %s\n", r, r <= 0.65 ? "met" : "NOT met"
        if (lite != "") printf "  PostgreSQL/SQLite, one daemon %7.2f\n", one / lite
    }'
else
    echo "  ratio two/one: not measured (two daemons cannot share this store: a pwccad before #24's sharing?)"
fi
