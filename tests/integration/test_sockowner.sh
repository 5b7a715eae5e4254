# test_sockowner.sh -- the fallback socket cannot be taken over by another local user.
# Anyone may create /tmp/pwccad-UID first, so the daemon keeps its fallback socket in a
# private directory it checks (a directory it owns, mode 0700), and the client believes
# only a daemon that runs as its own user, as root, or as the owner of a directory no one
# else may write.  Runs the daemon, the client and an impostor (tests/integration/
# fake_pwccad.py) as two unprivileged test uids; needs root and setpriv.  Every wait is
# bounded.

SO_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
    echo "  skip: the socket-owner tests run processes as other uids: they need root and setpriv"
    return 0 2>/dev/null || exit 0
fi
SO_U=54321 # the user
SO_X=54322 # another local user, the impostor
SO_FB=/tmp/pwccad-$SO_U
SO=$(mktemp -d /tmp/pwcca-owner.XXXXXX)
chmod 0755 "$SO"
mkdir -p "$SO/u" "$SO/x" "$SO/pub" "$SO/runs/r"
chown "$SO_U:$SO_U" "$SO/u"
chown "$SO_X:$SO_X" "$SO/x"
chmod 1777 "$SO/pub" # like /tmp
rm -rf "$SO_FB" "$SO_FB.sock"

# "${SO_AS[@]}" UID CMD...: CMD as UID, without the variables that name another socket
# (an array, not a function: "&" on it gives the PID of the command itself).
SO_AS=(env -u XDG_RUNTIME_DIR -u RUNTIME_DIRECTORY -u PWCCAD_SOCKET -u PWCCAD_DB
    -u STATE_DIRECTORY HOME="$SO/home" setpriv --clear-groups)
so_as() { local uid=$1; shift; "${SO_AS[@]}" --reuid="$uid" --regid="$uid" "$@"; }
SO_PIDS=()
# so_impostor PATH: the impostor answers at PATH (a socket anyone may connect to).
so_impostor() {
    "${SO_AS[@]}" --reuid="$SO_X" --regid="$SO_X" sh -c 'umask 0; exec /usr/bin/python3 "$0" "$1" "$2"' \
        "$SO_HERE/fake_pwccad.py" "$1" "$SO/x/requests.log" >/dev/null 2>>"$SO/x/err.log" &
    SO_PIDS+=($!)
    pw_wait 10 test -S "$1"
}
so_cleanup() {
    local p
    for p in "${SO_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${SO_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    SO_PIDS=()
}

# --- an impostor got there first ------------------------------------------------------------
# Its directory (0700, its own) at the new fallback, and its socket at the old one.
mkdir -m 0700 "$SO_FB" && chown "$SO_X:$SO_X" "$SO_FB"
so_impostor "$SO_FB/pwccad.sock"
so_impostor "$SO_FB.sock"
expect_output "the client refuses a fallback directory another user owns, and says why" \
    "/tmp/pwccad-$SO_U belongs to uid $SO_X, not to uid $SO_U: another user may be impersonating" \
    so_as "$SO_U" "$PWCCA" status
expect_output "the daemon refuses to start there, naming the directory and its owner" \
    "/tmp/pwccad-$SO_U belongs to uid $SO_X.*impersonating" \
    so_as "$SO_U" timeout 10 "$PWCCAD" --run "$SO/runs/r" --db "$SO/u/p.db" --foreground
# A socket in a directory anyone may write, bound by someone else: SO_PEERCRED tells.
so_impostor "$SO/pub/pwccad.sock"
expect_output "the client refuses a daemon that runs as another user in a shared directory" \
    "refusing the daemon at $SO/pub/pwccad.sock: it runs as uid $SO_X.*impersonating" \
    so_as "$SO_U" "$PWCCA" --socket "$SO/pub/pwccad.sock" status
expect "and the impostor never got a request" test ! -s "$SO/x/requests.log"
so_cleanup
rm -rf "$SO_FB" "$SO_FB.sock"

# --- the user's own daemon on the fallback ------------------------------------------------
"${SO_AS[@]}" --reuid="$SO_U" --regid="$SO_U" "$PWCCAD" --run "$SO/runs/r" --db "$SO/u/p.db" \
    --foreground >"$SO/u.log" 2>&1 &
SO_D=$!
if pw_wait 10 test -S "$SO_FB/pwccad.sock"; then
    ok "the daemon listens in its private fallback directory"
else
    fail "the daemon listens on the fallback" "$(tail -3 "$SO/u.log")"
fi
expect_output "which it created as its own, mode 0700" "^700 $SO_U directory$" stat -c '%a %u %F' "$SO_FB"
expect_output "the user's client finds it without flags and is answered" 'runs' \
    so_as "$SO_U" "$PWCCA" status
expect_output "root's client trusts it too (its owner's directory)" 'runs' \
    "$PWCCA" --socket "$SO_FB/pwccad.sock" status
kill -TERM "$SO_D" 2>/dev/null
for _ in $(seq 100); do kill -0 "$SO_D" 2>/dev/null || break; sleep 0.05; done
kill -9 "$SO_D" 2>/dev/null
wait "$SO_D" 2>/dev/null
rm -rf "$SO_FB" "$SO_FB.sock" "$SO"
