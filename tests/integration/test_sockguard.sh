# test_sockguard.sh -- the control socket and /metrics as a hostile or careless local user
# sees them: a client that sends requests and never reads does not make the daemon grow; idle
# connections do not lock a fresh client out and are closed after socket_idle_timeout;
# a subscriber that reads is never idle-closed; subscribers are capped; slow /metrics
# clients that reconnect do not make scrapes fail.
# Every wait is bounded, so a broken daemon fails these tests instead of hanging them.

SG_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SG=$PW_TMP/sockguard
mkdir -p "$SG/runs"
# Many runs make each status answer a few kB, as on a busy machine.
for i in $(seq -w 1 40); do mkdir -p "$SG/runs/run-with-a-long-enough-name-$i"; done
SG_SOCK=$SG/s.sock
SG_MPORT=$(/usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
sg_conf() {
    printf 'rescan_interval = 1\nsocket_idle_timeout = %s\nlog_level = debug\nmetrics_listen = 127.0.0.1:%s\n' \
        "$1" "$SG_MPORT" >"$SG/pwccad.conf"
}
sg_conf 60
sg() { /usr/bin/python3 "$SG_HERE/sockguard.py" "$1" "$SG_SOCK" "${@:2}"; }
"$PWCCAD" --watch "$SG/runs" --db "$SG/p.db" --socket "$SG_SOCK" --config "$SG/pwccad.conf" \
    --foreground >"$SG/daemon.log" 2>&1 &
SG_PID=$!
if pw_wait 10 test -S "$SG_SOCK" && pw_wait 10 grep -q 'run-with-a-long-enough-name-40' <(sg crowd 0); then
    ok "pwccad serves its socket with 40 runs"
else
    fail "pwccad starts" "no socket or runs; log: $(tail -5 "$SG/daemon.log")"
fi

# --- a client that never reads its answers -------------------------------------------------
# 100,000 status requests (1.7 MB) would queue about 500 MB of answers without a cap.
sg flood "$SG_PID" 100000 >"$SG/flood.out" 2>&1
sg_before=$(awk '/^rss_before_kb/ {print $2}' "$SG/flood.out")
sg_after=$(awk '/^rss_after_kb/ {print $2}' "$SG/flood.out")
if [ -n "$sg_before" ] && [ -n "$sg_after" ] && [ $((sg_after - sg_before)) -lt 65536 ]; then
    ok "a client that never reads does not grow the daemon by 64 MB ($sg_before -> $sg_after kB)"
else
    fail "the daemon's memory stays bounded" "$(tr '\n' ' ' <"$SG/flood.out")"
fi
expect_output "another client is answered while one never reads" 'other client: \{"ok":true' \
    cat "$SG/flood.out"

# --- /metrics beside slow clients -----------------------------------------------------------
expect_output "every scrape is answered while 80 slowloris clients hold and retake connections" \
    '^answered 10 of 10$' /usr/bin/python3 "$SG_HERE/sockguard.py" slowscrape "$SG_MPORT" 80 10

# --- idle connections -----------------------------------------------------------------------
expect_output "with 70 idle connections held, a fresh client is answered" \
    'fresh client: \{"ok":true' sg crowd 70
expect_output "the idle connections held longest are closed for newer ones, not the newest" \
    'closed ([1-9]|[1-9][0-9]) of 70 the oldest closed the newest open' \
    bash -c "/usr/bin/python3 '$SG_HERE/sockguard.py' crowd '$SG_SOCK' 70 | tr '\n' ' '"
expect_output "at most 32 connections may subscribe" 'last subscribe: \{"ok":false,"error":"too many subscribers' \
    sg subscribers 33
expect_output "32 subscribers are accepted" 'last subscribe: \{"ok":true' sg subscribers 32

# --- idle timeouts: 1 s from here on (SIGHUP applies it) ------------------------------------------
sg_conf 1
kill -HUP "$SG_PID"
pw_wait 10 grep -q 'SIGHUP' "$SG/daemon.log"
expect_output "a connection idle for socket_idle_timeout is closed" '^closed$' sg idle 8
expect_output "a subscriber waiting for events is not idle-closed and still answers" \
    'open then status: \{"ok":true' bash -c "/usr/bin/python3 '$SG_HERE/sockguard.py' follow '$SG_SOCK' 3 | tr '\n' ' '"
sg flood "$SG_PID" 100000 >"$SG/flood2.out" 2>&1
if pw_wait 10 grep -q 'closing the connection of uid [0-9]* pid [0-9]*: [0-9]* bytes of output unread' "$SG/daemon.log"; then
    ok "a client that leaves its answers unread is closed with a log line naming it"
else
    fail "a stalled reader is closed and logged" "$(grep -i 'control socket' "$SG/daemon.log" | tail -3)"
fi
expect_output "the daemon still answers after all that" '"ok":true' sg crowd 0

kill -TERM "$SG_PID" 2>/dev/null
for _ in $(seq 100); do kill -0 "$SG_PID" 2>/dev/null || break; sleep 0.05; done
kill -9 "$SG_PID" 2>/dev/null
if wait "$SG_PID"; then ok "pwccad stops cleanly after the socket tests"; else fail "pwccad stops cleanly" "exit $?; log: $(tail -5 "$SG/daemon.log")"; fi
