# lib.sh -- what the end-to-end tests share: starting and stopping the real
# daemon with bounded waits, and polling its database.  Sourced (after
# tests/integration/lib.sh) with $PWCCAD and $PWCCA set; every name starts
# with e2e_ because the integration runner sources all tests into one shell.

# e2e_ready: the daemon and the client's live commands exist in this build
# (not the foundation's placeholder pwccad, which only says it is not built yet).
e2e_ready() {
    "$PWCCA" status --help >/dev/null 2>&1 && "$PWCCA" compare --help >/dev/null 2>&1 &&
        ! grep -q "daemon is not built yet" "$PWCCAD" 2>/dev/null
}

# e2e_start DB SOCK LOG [PWCCAD ARGS...]: start pwccad in the background
# (E2E_PID) and wait up to 10 s until it answers `pwcca status`.  Returns 1
# when it exits or does not answer in time.
e2e_start() {
    local db=$1 sock=$2 log=$3 _
    shift 3
    rm -f "$sock"
    "$PWCCAD" --db "$db" --socket "$sock" --foreground "$@" 2>>"$log" &
    E2E_PID=$!
    for _ in $(seq 100); do
        "$PWCCA" --db "$db" --socket "$sock" status >/dev/null 2>&1 && return 0
        kill -0 "$E2E_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# e2e_stop [SIGNAL]: send SIGNAL (default TERM) to E2E_PID and wait up to 10 s
# (then SIGKILL).  Returns the daemon's exit status, 137 when it had to be killed.
e2e_stop() {
    local sig=${1:-TERM} rc=0 _
    [ -n "${E2E_PID:-}" ] || return 0
    # The braces' 2>/dev/null also silences bash's "Killed" job notice.
    {
        kill -"$sig" "$E2E_PID"
        for _ in $(seq 100); do
            kill -0 "$E2E_PID" || break
            sleep 0.1
        done
        if kill -0 "$E2E_PID"; then
            kill -KILL "$E2E_PID"
            wait "$E2E_PID"
            rc=137
        else
            wait "$E2E_PID" || rc=$?
        fi
    } 2>/dev/null
    E2E_PID=
    return "$rc"
}

# e2e_sql DB SQL: one scalar from the database (read-only, waits on locks).
e2e_sql() {
    sqlite3 -readonly -cmd '.timeout 3000' "$1" "$2" 2>/dev/null
}

# e2e_wait_sql DB SQL TARGET SECONDS: poll every 0.2 s until the query's value
# is at least TARGET.  Returns 1 on timeout; E2E_LAST holds the last value.
e2e_wait_sql() {
    local db=$1 sql=$2 target=$3 limit=$4 t0=$SECONDS
    while :; do
        E2E_LAST=$(e2e_sql "$db" "$sql")
        [ "${E2E_LAST:-0}" -ge "$target" ] 2>/dev/null && return 0
        [ $((SECONDS - t0)) -lt "$limit" ] || return 1
        sleep 0.2
    done
}

# e2e_wait_quiet DB SECONDS: wait until the scores table has not changed for
# 1.5 s (the daemon has nothing left to do), at most SECONDS.
e2e_wait_quiet() {
    local db=$1 limit=$2 t0=$SECONDS prev="" cur stable=0
    while [ $((SECONDS - t0)) -lt "$limit" ]; do
        cur=$(e2e_sql "$db" "SELECT count(*), max(computed_at) FROM scores")
        if [ "$cur" = "$prev" ]; then
            stable=$((stable + 1))
            [ "$stable" -ge 6 ] && return 0
        else
            stable=0
        fi
        prev=$cur
        sleep 0.25
    done
    return 1
}
