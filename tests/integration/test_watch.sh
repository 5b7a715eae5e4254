# test_watch.sh -- what the writers of a watch root can do to pwccad: symlinks out of
# the root (not followed unless follow_symlinks = yes), files that are not checkpoints
# (described, never quoted), two names for one step (one kept, once), and tens of
# thousands of files in a run (the socket keeps answering while they are scanned).
# Every wait is bounded.

W_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
W_PY=$(pw_numpy_python)
pw_need "watch tests" numpy sqlite3 || { return 0 2>/dev/null || exit 0; }
W=$PW_TMP/watch
mkdir -p "$W/runs/r1" "$W/runs/dup" "$W/runs/r3/store" "$W/outside/secretrun"
W_DB=$W/pwccad.db
W_SOCK=$W/pwccad.sock
W_LOG=$W/daemon.log
w_conf() {
    cat >"$W/pwccad.conf" <<CONF
settle_time = 0.3
rescan_interval = 1
incomplete_timeout = 1
log_level = info
$1
[run big]
incomplete_timeout = 3600
CONF
}
w_mk() { "$W_PY" "$W_HERE/mkckpt.py" "$@"; }
w_sock() { "$W_PY" "$W_HERE/sockreq.py" "$W_SOCK" "$@"; }
w_q() { sqlite3 -cmd ".timeout 2000" "$W_DB" "$1" 2>/dev/null; }
w_q_is() { [ "$(w_q "$1")" = "$2" ]; }

W_PID=
w_start() {
    rm -f "$W_SOCK"
    pw_daemon_start W_PID "$W_LOG" "$W_SOCK" --watch "$W/runs" --db "$W_DB" --config "$W/pwccad.conf"
}
w_stop() { pw_daemon_stop W_PID; }
trap 'w_stop' RETURN

# The secret: a 0600 file outside the root whose first 8 bytes, read as a safetensors
# header length, are 6072350121458360129.  Neither may appear anywhere the daemon writes.
W_SECRET='A_SECRET-PASSWORD:root:$6$salt'
W_SECRET_LEN=6072350121458360129
printf '%s' "$W_SECRET" >"$W/outside/secret.safetensors"
chmod 600 "$W/outside/secret.safetensors"
w_mk "$W/outside/secretrun/step-100.safetensors" --seed 1
w_mk "$W/outside/secretrun/step-200.safetensors" --seed 2
ln -s "$W/outside/secretrun" "$W/runs/linkrun"
w_mk "$W/runs/r1/step-100.safetensors" --seed 1
ln -s "$W/outside/secret.safetensors" "$W/runs/r1/step-200.safetensors"
printf '%s' "$W_SECRET" >"$W/runs/r1/step-300.safetensors" # in the root, but no checkpoint
# r3's checkpoints are symlinks to files inside the root.
w_mk "$W/runs/r3/store/a.safetensors" --seed 1
w_mk "$W/runs/r3/store/b.safetensors" --seed 2
ln -s store/a.safetensors "$W/runs/r3/step-100.safetensors"
ln -s store/b.safetensors "$W/runs/r3/step-200.safetensors"
# Two names for step 200; "ckpt-200" comes first in byte order.
w_mk "$W/runs/dup/step-000100.safetensors" --seed 1
w_mk "$W/runs/dup/step-000200.safetensors" --seed 2
w_mk "$W/runs/dup/ckpt-200.safetensors" --seed 3

w_conf ""
if w_start; then ok "pwccad starts on a root with symlinks"; else fail "pwccad starts" "$(tail -5 "$W_LOG")"; fi
pw_expect_wait "r1's own checkpoint is scored, its bad file recorded" 20 \
    w_q_is "SELECT group_concat(c.step || ':' || c.status, ' ') FROM checkpoints c JOIN runs r ON r.id = c.run_id WHERE r.name = 'r1' ORDER BY c.step" "100:ok 300:read_error"
if [ "$(w_q "SELECT COUNT(*) FROM runs WHERE name IN ('linkrun', 'secretrun') OR path LIKE '%outside%'")" = 0 ]; then
    ok "a run symlinked out of the root is not scanned"
else
    fail "symlinked run" "$(w_q "SELECT name, path FROM runs")"
fi
if [ "$(grep -c "linkrun: run directory is a symbolic link" "$W_LOG")" = 1 ]; then
    ok "the symlinked run is logged once, with the reason"
else
    fail "symlinked run logged once" "$(grep -c linkrun "$W_LOG") lines about it"
fi
expect_output "a checkpoint symlinked out of the root is not opened (logged)" \
    "step-200.safetensors: a symbolic link.*not followed" cat "$W_LOG"
if [ "$(w_q "SELECT COUNT(*) FROM checkpoints WHERE step = 200 AND path LIKE '%/r1/%'")" = 0 ]; then
    ok "the symlinked checkpoint has no row"
else
    fail "symlinked checkpoint row" "$(w_q "SELECT step, status, error FROM checkpoints WHERE path LIKE '%/r1/%'")"
fi
w_err=$(w_q "SELECT error FROM checkpoints WHERE step = 300 AND path LIKE '%/r1/%'")
w_status=$(w_sock '{"cmd":"status"}')
if [ -n "$w_err" ] && ! grep -qF -e "SECRET" -e "$W_SECRET_LEN" -e 'root:' <<<"$w_err$w_status$(cat "$W_LOG")"; then
    ok "no message quotes a refused file's bytes (error: $w_err)"
else
    fail "no file bytes in messages" "error '$w_err'; $(grep -F -e SECRET -e "$W_SECRET_LEN" "$W_LOG" | head -2)"
fi
if [ "$(w_q "SELECT COUNT(*) FROM checkpoints c JOIN runs r ON r.id = c.run_id WHERE r.name = 'r3'")" = 0 ]; then
    ok "in-root symlinked checkpoints are not read by default"
else
    fail "r3 by default" "$(w_q "SELECT step, status FROM checkpoints c JOIN runs r ON r.id = c.run_id WHERE r.name = 'r3'")"
fi

# --- two names for one step ----------------------------------------------------------------
# The checkpoints of run dup as "STEP:FILE ...".
w_dup() { w_q "SELECT group_concat(c.step || ':' || replace(c.path, '$W/runs/dup/', ''), ' ') FROM (SELECT * FROM checkpoints ORDER BY step) c JOIN runs r ON r.id = c.run_id WHERE r.name = 'dup'"; }
w_dup_is() { [ "$(w_dup)" = "100:step-000100.safetensors 200:ckpt-200.safetensors" ]; }
pw_expect_wait "two names for one step: the first in byte order is scored" 20 w_dup_is
w_rows=$(w_q "SELECT COUNT(*) FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 'dup'")
sleep 3.5 # three rescans: the old code recomputed step 200 on every one
expect_output "the other name is logged as ignored" \
    "both claim step 200; using .*dup/ckpt-200.safetensors .*ignoring .*dup/step-000200.safetensors" \
    cat "$W_LOG"
if [ "$(grep -c "both claim step 200" "$W_LOG")" = 1 ] && w_dup_is &&
    [ "$(grep -c "dup: step 200 stored" "$W_LOG")" = 1 ]; then
    ok "it settles: logged once, never recomputed"
else
    fail "two names settle" "$(grep -c "both claim step 200" "$W_LOG") conflict lines; $(w_dup); $(grep "dup" "$W_LOG" | tail -3)"
fi
if [ "$(w_q "SELECT COUNT(*) FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 'dup'")" = "$w_rows" ]; then
    ok "its scores stay as they were"
else
    fail "dup scores" "score rows moved from $w_rows"
fi

# --- tens of thousands of files in one run ---------------------------------------------------
# Empty step files (never complete: [run big] waits an hour before recording them),
# made outside the root and renamed in: a run of 50,000 files appears at once.
mkdir -p "$W/big"
"$W_PY" -c '
import os, sys
d = sys.argv[1]
for i in range(int(sys.argv[2])):
    open(os.path.join(d, "step-%06d.npy" % i), "w").close()
' "$W/big" "${W_BIG_FILES:-50000}"
mv "$W/big" "$W/runs/big"
# One connection asks for status every 0.1 s for 6 s while the daemon scans; each
# answer must come within 3 s (the old daemon stalled for many seconds at a time).
w_status_loop=$("$W_PY" - "$W_SOCK" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(3)
s.connect(sys.argv[1])
f = s.makefile("rb")
n = late = 0
end = time.time() + 6
while time.time() < end:
    n += 1
    try:
        s.sendall(b'{"cmd":"status"}\n')
        if b'"ok":true' not in f.readline().replace(b" ", b""):
            late += 1
    except OSError:
        late += 1
        break
    time.sleep(0.1)
print(n, late)
PY
)
if [ "${w_status_loop#* }" = 0 ] && [ "${w_status_loop% *}" -ge 10 ]; then
    ok "status answers all through a 50,000-file scan (${w_status_loop% *} requests)"
else
    fail "status during a huge scan" "requests, unanswered within 3 s: ${w_status_loop:-none}"
fi
w_mk "$W/runs/r1/step-400.safetensors" --seed 4
pw_expect_wait "other runs keep being watched meanwhile" 20 \
    w_q_is "SELECT COUNT(*) FROM checkpoints c JOIN runs r ON r.id = c.run_id WHERE r.name = 'r1' AND c.step = 400 AND c.status = 'ok'" 1
rm -rf "$W/runs/big"
w_stop

# --- follow_symlinks = yes ------------------------------------------------------------------
w_conf "follow_symlinks = yes"
w_start
pw_expect_wait "with follow_symlinks = yes, in-root symlinked checkpoints are scored" 20 \
    w_q_is "SELECT COUNT(DISTINCT s.step) FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 'r3' AND s.ref = 'previous' AND s.status = 'ok' AND s.step = 200" 1
w_stop
