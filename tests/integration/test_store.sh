# test_store.sh -- the database and the log against a hostile or careless
# neighbour: names that would forge log lines, a hook that leaves children
# behind, a second daemon on the same database, the database deleted while
# running, and a database the daemon cannot write.  Every wait is bounded.

S_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
S_PY=$(pw_numpy_python)
pw_need "store tests" numpy sqlite3 || { return 0 2>/dev/null || exit 0; }
S=$PW_TMP/store
mkdir -p "$S/runs/r1"
S_DB=$S/pwccad.db
S_SOCK=$S/pwccad.sock
S_LOG=$S/daemon.log
cat >"$S/hook.sh" <<HOOK
#!/bin/sh
# A hook that hangs, with a child of its own: both must go at the timeout.
# What it prints goes through the daemon's log, escaped like the rest.
printf 'alert for %s\n<0>forged by the hook\033[31m\n' "\$PWCCAD_ALERT_RUN"
sleep 300 &
echo \$! >"$S/hook.child"
echo \$\$ >"$S/hook.pid"
echo \$! \$\$ >>"$S/hook.all"
exec sleep 300
HOOK
chmod +x "$S/hook.sh"
cat >"$S/pwccad.conf" <<CONF
settle_time = 0.2
rescan_interval = 0.5
stable_threshold = 0.5
unstable_threshold = 0.6
stable_count = 1
hook = $S/hook.sh
hook_timeout = 1
CONF

s_mk() { "$S_PY" "$S_HERE/mkckpt.py" "$@"; }
s_q() { sqlite3 -cmd ".timeout 2000" "$S_DB" "$1" 2>/dev/null; }
s_q_is() { [ "$(s_q "$1")" = "$2" ]; }
# s_alive PID: the process exists and is not a zombie.
s_alive() { [ -r "/proc/$1/stat" ] && [ "$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]; }
# s_group_alive PGID: some live process is in that process group.
s_group_alive() {
    local f st
    for f in /proc/[0-9]*/stat; do
        st=$(sed 's/^.*) //' "$f" 2>/dev/null) || continue
        # shellcheck disable=SC2086
        set -- $st
        [ "${3:-}" = "$S_PGID" ] && [ "$1" != Z ] && return 0
    done
    return 1
}
s_status() { PWCCAD_SOCKET=$S_SOCK "$PWCCA" status; }

S_PID=
# /metrics on a free loopback port: it must show a reopened database too.
S_MPORT=$(/usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
s_metrics() {
    /usr/bin/python3 -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode("utf-8"))' \
        "http://127.0.0.1:$S_MPORT/metrics" 2>/dev/null
}
s_start() {
    # JOURNAL_STREAM makes the log look like journald's: "<N>" starts each line.
    JOURNAL_STREAM=8:1 "$PWCCAD" --watch "$S/runs" --db "$S_DB" --socket "$S_SOCK" \
        --metrics "127.0.0.1:$S_MPORT" --config "$S/pwccad.conf" --foreground >>"$S_LOG" 2>&1 &
    S_PID=$!
    pw_wait 10 test -S "$S_SOCK"
}
s_stop() {
    pw_stop_pid "$S_PID"
    local rc=$?
    S_PID=
    return $rc
}
s_cleanup() {
    s_stop
    local p
    # What a broken build would leave behind (every hook's pid and its child's).
    for p in $(cat "$S/hook.all" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    [ -n "${S_RO:-}" ] && rm -rf "$S_RO"
    return 0
}
trap 's_cleanup' RETURN

# --- a run name that would forge log lines ------------------------------------------------
EVIL="$S/runs/evil"$'\n''<0>forged'$'\x1b''[31m'
mkdir -p "$EVIL"
for s in 100 200; do s_mk "$S/runs/r1/step-$s.safetensors" --seed 7 --drift 0.01; done
if s_start; then ok "pwccad starts on the store test's runs"; else fail "pwccad starts" "$(tail -5 "$S_LOG")"; fi
# Such a name is no run at all (the watcher refuses control characters in
# names); the log says so without the name, so nothing of it is forged.
pw_expect_wait "a directory whose name holds a newline is not a run, and the log says so" 10 \
    grep -q 'name holds control characters is not a run' "$S_LOG"
if ! grep -q evil "$S_LOG"; then
    ok "no part of that name reaches the log"
else
    fail "no part of that name reaches the log" "$(grep -a -n -A1 evil "$S_LOG" | head -5)"
fi

# --- a hook that hangs with a child: its whole process group goes at the timeout ----------
pw_expect_wait "the stable layers raise an alert that starts the hook" 15 test -s "$S/hook.child"
pw_wait 5 test -s "$S/hook.pid"
S_PGID=$(cat "$S/hook.pid" 2>/dev/null)
S_CHILD=$(cat "$S/hook.child" 2>/dev/null)
# hook_timeout 1 s, then SIGTERM to the group and SIGKILL 1 s later.
pw_expect_wait "the hook's background child does not outlive the hook's timeout" 10 \
    eval '! s_alive "$S_CHILD"'
pw_expect_wait "no process of the hook's process group survives the timeout" 10 \
    eval '! s_group_alive'
pw_expect_wait "the log says the hook was stopped with its children" 5 \
    grep -q 'took longer than 1 s; stopping it and its children' "$S_LOG"
expect "the hook's output is logged line by line, escaped" \
    grep -qF "hook $S/hook.sh: <0>forged by the hook\x1b[31m" "$S_LOG"
if grep -q '^<0>' "$S_LOG" || grep -q $'\x1b' "$S_LOG"; then
    fail "no forged priority or raw escape in the log" "$(grep -a -n '^<0>' "$S_LOG" | head -3)"
else
    ok "no line of the log forges an emergency priority or carries a raw escape"
fi
# Only one alert hook runs at a time: no more queued ones, so do not start another.
sed -i '/^hook/d' "$S/pwccad.conf"
kill -HUP "$S_PID"

# --- one daemon per database --------------------------------------------------------------
out=$(timeout 10 "$PWCCAD" --watch "$S/runs" --db "$S_DB" --socket "$S/second.sock" --foreground 2>&1)
rc=$?
if [ $rc = 1 ] && grep -q "database $S_DB is in use by another pwccad (pid $S_PID" <<<"$out"; then
    ok "a second daemon on the same database is refused, naming the holder's pid"
else
    fail "a second daemon is refused" "exit $rc: $(head -c 300 <<<"$out")"
fi
expect_output "the client still reads the database while the daemon runs" "r1 +running +2" \
    env PWCCAD_DB="$S_DB" PWCCAD_SOCKET="$S_SOCK" "$PWCCA" runs
expect "the first daemon still runs" kill -0 "$S_PID"

# --- the database deleted while running ---------------------------------------------------
pw_wait 10 s_q_is "SELECT COUNT(*) FROM scores WHERE ref = 'previous' AND status = 'ok'" 2
expect_output "/metrics: the database was not reopened" '^pwccad_database_reopened 0$' s_metrics
rm -f "$S_DB"
pw_expect_wait "a deleted database shows in status as the last error" 15 \
    eval 's_status | grep -q "last error: database $S_DB was deleted or replaced"'
expect "the daemon keeps its pid across the reopen" kill -0 "$S_PID"
pw_expect_wait "/metrics says the database was reopened" 10 eval 's_metrics | grep -q "^pwccad_database_reopened 1$"'
pw_expect_wait "the log says the database vanished" 5 grep -q "database $S_DB was deleted or replaced while pwccad was running" "$S_LOG"
pw_expect_wait "the reopened database gets the scores of the checkpoints on disk again" 20 \
    s_q_is "SELECT COUNT(*) FROM scores WHERE ref = 'previous' AND status = 'ok'" 2
s_mk "$S/runs/r1/step-300.safetensors" --seed 8 --drift 0.01
pw_expect_wait "a new checkpoint after the reopen is stored in the new database" 20 \
    s_q_is "SELECT COUNT(*) FROM checkpoints WHERE step = 300" 1
s_stop

# --- a database the daemon cannot write ---------------------------------------------------
# Root writes through file modes, so as root the daemon runs as nobody on a
# file root owns; otherwise the file is simply made read-only.
S_RO=$(mktemp -d /tmp/pwcca-store-ro.XXXXXX)
chmod 755 "$S_RO"
mkdir -p "$S_RO/runs/r" "$S_RO/db"
# A database pwccad made, with the WAL and shm files another user's process
# leaves beside it (persist_wal): SQLite then opens it for reading without a word.
"$PWCCAD" --watch "$S_RO/runs" --db "$S_RO/db/ro.db" --socket "$S_RO/db/ro.sock" \
    --foreground >/dev/null 2>&1 &
S_PID=$!
pw_wait 10 test -S "$S_RO/db/ro.sock"
s_stop
sqlite3 "$S_RO/db/ro.db" ".filectrl persist_wal 1" "SELECT COUNT(*) FROM runs" >/dev/null
chmod 644 "$S_RO/db/ro.db"*
S_AS=
if [ "$(id -u)" = 0 ]; then
    if command -v setpriv >/dev/null; then
        S_AS="setpriv --reuid=nobody --regid=nogroup --clear-groups"
    elif command -v runuser >/dev/null; then
        S_AS="runuser -u nobody --"
    fi
    chown nobody "$S_RO/db"
    if [ -n "$S_AS" ] && ! $S_AS test -x "$PWCCAD"; then S_AS=; fi
else
    chmod 444 "$S_RO/db/ro.db"*
    S_AS=env
fi
if [ -z "$S_AS" ]; then
    echo "  skip: read-only database (as root it needs setpriv or runuser, and nobody able to run $PWCCAD)"
else
    out=$(timeout 10 $S_AS "$PWCCAD" --watch "$S_RO/runs" --db "$S_RO/db/ro.db" \
        --socket "$S_RO/db/ro.sock" --foreground 2>&1)
    rc=$?
    if [ $rc = 1 ] && grep -q "database $S_RO/db/ro.db is read-only: attempt to write a readonly database" <<<"$out"; then
        ok "a read-only database stops the start with the real cause"
    else
        fail "a read-only database stops the start" "exit $rc: $(head -c 300 <<<"$out")"
    fi
fi
