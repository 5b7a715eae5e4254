# test_dashboard.sh -- pwccad --http over real HTTP: the dashboard and /metrics
# on one listener, the access token as a browser carries it, configuration
# mistakes refused at start, hostile requests over the socket (raw odd bytes
# libh2o sees first, requests that never finish, a reader that never reads)
# answered or dropped while others are still served, and the daemon alive
# after all of it.  Loopback only; every wait is bounded.
# (tests/unit/test_web.c has the table of hostile targets and parameters;
# test_dashboard_browser.sh drives the pages in Chromium.)

pw_d_dir="$PW_TMP/dashboard"
mkdir -p "$pw_d_dir/runs"
pw_d_py=$(pw_numpy_python)

# pw_d_http PORT METHOD TARGET [COOKIE]: "STATUS\nheaders...\n\nbody" of one request.
pw_d_http() {
    /usr/bin/python3 - "$@" <<'PY'
import socket, sys
port, method, target = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cookie = sys.argv[4] if len(sys.argv) > 4 else ""
s = socket.create_connection(("127.0.0.1", port), timeout=5)
req = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
if cookie:
    req += f"Cookie: {cookie}\r\n"
s.sendall(req.encode("latin-1") + b"\r\n")
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
head, _, body = data.partition(b"\r\n\r\n")
lines = head.decode("latin-1").split("\r\n")
print(lines[0].split(" ")[1])
print("\n".join(lines[1:]))
print()
sys.stdout.write(body.decode("utf-8", "replace"))
PY
}

pw_d_port_of() { sed -n 's|.*dashboard at http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$1" | head -1; }

# A finished run for the daemon to load.
"$BUILD/examples/trainer" --out "$pw_d_dir/runs/small" --steps 200 --every 50 --hidden 16,16 \
    --probe 128 --seed 5 --quiet >/dev/null 2>&1
printf 'settle_time = 0.3\nrescan_interval = 1\n' >"$pw_d_dir/pwccad.conf"

# Mistakes refused at start, with the reason.
pw_d_out=$("$PWCCAD" --foreground --db "$pw_d_dir/x.db" --socket "$pw_d_dir/x.sock" \
    --http 127.0.0.1:0 --metrics 127.0.0.1:1 --watch "$pw_d_dir/runs" 2>&1)
if [ $? = 1 ] && grep -q "one HTTP listener" <<<"$pw_d_out"; then
    ok "--http and --metrics on different addresses: refused at start, saying why"
else
    fail "--http and --metrics differ" "$pw_d_out"
fi
printf 'tok-%s\n' "$RANDOM$RANDOM" >"$pw_d_dir/token"
chmod 644 "$pw_d_dir/token"
pw_d_out=$(printf 'http_token_file = %s\n' "$pw_d_dir/token" | cat "$pw_d_dir/pwccad.conf" - >"$pw_d_dir/tok.conf";
    "$PWCCAD" --foreground --config "$pw_d_dir/tok.conf" --db "$pw_d_dir/x.db" --socket "$pw_d_dir/x.sock" \
    --http 127.0.0.1:0 --watch "$pw_d_dir/runs" 2>&1)
if [ $? = 1 ] && grep -q "nobody else may" <<<"$pw_d_out"; then
    ok "a token file others may read is refused"
else
    fail "a readable token file is refused" "$pw_d_out"
fi
expect_status "http_listen is checked like metrics_listen" 2 "$PWCCAD" --http 10.0.0.1.5:80 --watch "$pw_d_dir/runs"

# The daemon with a token.
chmod 600 "$pw_d_dir/token"
pw_d_tok=$(head -1 "$pw_d_dir/token")
"$PWCCAD" --foreground --config "$pw_d_dir/tok.conf" --db "$pw_d_dir/db" --socket "$pw_d_dir/sock" \
    --http 127.0.0.1:0 --watch "$pw_d_dir/runs" >"$pw_d_dir/daemon.log" 2>&1 &
pw_d_pid=$!
pw_d_port=""
pw_d_ready() { pw_d_port=$(pw_d_port_of "$pw_d_dir/daemon.log"); [ -n "$pw_d_port" ] &&
    "$PWCCA" --db "$pw_d_dir/db" curve small --ref final --format csv | grep -q ',ok,'; }
if pw_wait 30 pw_d_ready; then
    ok "pwccad --http logs the dashboard's address and scores the run"
    if grep -q "$pw_d_tok" "$pw_d_dir/daemon.log"; then fail "the token is never logged" "found in the log"
    else ok "the token is never logged"; fi
    pw_d_r=$(pw_d_http "$pw_d_port" GET /api/runs)
    if [ "$(head -1 <<<"$pw_d_r")" = 401 ]; then ok "without the token: 401"; else fail "without the token: 401" "$pw_d_r"; fi
    pw_d_r=$(pw_d_http "$pw_d_port" GET "/run/small?token=$pw_d_tok")
    if [ "$(head -1 <<<"$pw_d_r")" = 303 ] && grep -qi "^location: /run/small$" <<<"$pw_d_r" &&
        grep -qi "^set-cookie: pwccad_token=$pw_d_tok; Path=/; HttpOnly; SameSite=Strict" <<<"$pw_d_r"; then
        ok "the token in the first URL: a cookie, and the same page without the token"
    else
        fail "token in the URL sets the cookie" "$pw_d_r"
    fi
    pw_d_r=$(pw_d_http "$pw_d_port" GET /api/run/small "pwccad_token=$pw_d_tok")
    if [ "$(head -1 <<<"$pw_d_r")" = 200 ] && grep -q '"name":"fc1"' <<<"$pw_d_r"; then
        ok "with the cookie: the run's JSON, its layers listed"
    else
        fail "with the cookie: 200" "$(head -c 300 <<<"$pw_d_r")"
    fi
    pw_d_r=$(pw_d_http "$pw_d_port" GET /metrics)
    if [ "$(head -1 <<<"$pw_d_r")" = 200 ] && grep -q '^pwccad_layer_distance{run="small"' <<<"$pw_d_r"; then
        ok "/metrics is served on the --http listener too"
    else
        fail "/metrics on --http" "$(head -c 300 <<<"$pw_d_r")"
    fi
    # The JSON curve is `pwcca curve --format json`, row for row.
    if [ -n "$pw_d_py" ] && pw_d_http "$pw_d_port" GET "/api/run/small/curve?ref=final" "pwccad_token=$pw_d_tok" |
        sed '1,/^$/d' >"$pw_d_dir/web.json" && "$PWCCA" --db "$pw_d_dir/db" curve small --ref final --format json >"$pw_d_dir/cli.json" &&
        "$pw_d_py" -c 'import json, sys; a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]));
assert a == b and len(a) > 0, (len(a), len(b))' "$pw_d_dir/web.json" "$pw_d_dir/cli.json" 2>"$pw_d_dir/cmp.err"; then
        ok "/api/run/NAME/curve equals pwcca curve --format json"
    else
        fail "the curve endpoint equals pwcca curve" "$(head -c 300 "$pw_d_dir/cmp.err")"
    fi
    # Unchanged answers: a conditional GET with the ETag gets 304 and no body
    # (what a page that stays open asks every few seconds), a stale tag 200.
    pw_d_ck="Cookie: pwccad_token=$pw_d_tok"
    for pw_d_u in /api/run/small "/api/run/small/plot.svg?kind=heatmap" /api/runs; do
        pw_d_h=$(curl -s --max-time 5 -H "$pw_d_ck" -D - -o /dev/null "http://127.0.0.1:$pw_d_port$pw_d_u")
        pw_d_tag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' <<<"$pw_d_h" | tr -d '\r')
        pw_d_r=$(curl -s --max-time 5 -H "$pw_d_ck" -H "If-None-Match: $pw_d_tag" \
            -w '%{http_code} %{size_download}' -o /dev/null "http://127.0.0.1:$pw_d_port$pw_d_u")
        pw_d_r2=$(curl -s --max-time 5 -H "$pw_d_ck" -H 'If-None-Match: "0-0"' \
            -w '%{http_code}' -o /dev/null "http://127.0.0.1:$pw_d_port$pw_d_u")
        if [ -n "$pw_d_tag" ] && grep -qi '^cache-control: no-cache' <<<"$pw_d_h" &&
            [ "$pw_d_r" = "304 0" ] && [ "$pw_d_r2" = 200 ]; then
            ok "$pw_d_u unchanged: 304 without a body for its ETag, 200 for another"
        else
            fail "$pw_d_u: 304 for an unchanged answer" "tag '$pw_d_tag', with it: $pw_d_r, stale: $pw_d_r2"
        fi
    done
    # after=: only the runs changed since a version; a bad value is a 400 saying why.
    pw_d_r=$(curl -s --max-time 5 -H "$pw_d_ck" -w '\n%{http_code}' "http://127.0.0.1:$pw_d_port/api/runs?after=12x")
    if [ "$(tail -1 <<<"$pw_d_r")" = 400 ] && grep -q "after must be a change counter" <<<"$pw_d_r"; then
        ok "/api/runs?after=12x: 400, saying what after must be"
    else
        fail "/api/runs?after=12x: 400" "$pw_d_r"
    fi
    pw_d_v=$(curl -s --max-time 5 -H "$pw_d_ck" "http://127.0.0.1:$pw_d_port/api/runs" |
        sed -n 's/.*"version":\([0-9]*\).*/\1/p')
    pw_d_r=$(curl -s --max-time 5 -H "$pw_d_ck" "http://127.0.0.1:$pw_d_port/api/runs?after=$pw_d_v")
    if [ -n "$pw_d_v" ] && /usr/bin/python3 -c 'import json, sys; d = json.loads(sys.argv[1]); v = int(sys.argv[2])
assert d["after"] == v and d["order"] == ["small"] and all(r["version"] > v for r in d["runs"])' "$pw_d_r" "$pw_d_v"; then
        ok "/api/runs?after=VERSION: only runs changed since, the order of all"
    else
        fail "/api/runs?after=VERSION" "version '$pw_d_v': $(head -c 300 <<<"$pw_d_r")"
    fi
    # Hostile clients on the socket: raw bytes libh2o sees first, requests that
    # never finish, a reader that never reads a large answer; meanwhile a
    # normal request is still answered, and the daemon survives.
    if pw_d_out=$(/usr/bin/python3 - "$pw_d_port" "$pw_d_tok" <<'PY' 2>&1
import socket, sys, time
port, tok = int(sys.argv[1]), sys.argv[2]
def conn():
    return socket.create_connection(("127.0.0.1", port), timeout=5)
def status(raw):
    s = conn(); s.sendall(raw)
    data = b""
    try:
        while b"\r\n" not in data:
            b = s.recv(4096)
            if not b: break
            data += b
    except OSError:
        pass
    s.close()
    return data.split(b"\r\n")[0].decode("latin-1")
cookie = f"Cookie: pwccad_token={tok}\r\n".encode()
host = f"Host: 127.0.0.1:{port}\r\n".encode()
cases = [
    (b"GET /run/\xff\xfe\x01 HTTP/1.1\r\n" + host + cookie + b"\r\n", ("400", "404")),
    (b"GET /api/run/small/curve?since=" + b"9" * 40 + b" HTTP/1.1\r\n" + host + cookie + b"\r\n", ("400",)),
    (b"GET /api/run/small/curve?layer=%00 HTTP/1.1\r\n" + host + cookie + b"\r\n", ("400",)),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + host + cookie + b"\r\n", ("414", "400", "")),
    (b"BREW / HTTP/1.1\r\n" + host + cookie + b"\r\n", ("405", "400")),
    (b"\x00\x01\x02garbage\r\n\r\n", ("400", "")),
    (b"GET / HTTP/1.1\r\nHost: evil.example\r\n" + cookie + b"\r\n", ("421",)),
]
for raw, want in cases:
    got = status(raw)
    code = got.split(" ")[1] if " " in got else ""
    assert code in want, (raw[:60], got)
# Slow clients: half a request each, and one that never reads its answer.
slow = [conn() for _ in range(20)]
for s in slow:
    s.sendall(b"GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n")
sink = conn()
sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
for _ in range(50):
    sink.sendall(b"GET /api/run/small/plot.svg?kind=lines HTTP/1.1\r\n" + host + cookie + b"\r\n")
got = status(b"GET /api/version HTTP/1.1\r\n" + host + cookie + b"\r\n")
assert got.startswith("HTTP/1.1 200"), got
for s in slow + [sink]:
    s.close()
print("ok")
PY
    ); then
        ok "hostile requests on the socket get 4xx or are dropped; slow clients do not hold up others"
    else
        fail "hostile requests on the socket" "$pw_d_out"
    fi
    expect "the daemon is alive after the hostile requests" kill -0 "$pw_d_pid"
    expect "and still answers on its control socket" "$PWCCA" --socket "$pw_d_dir/sock" status
else
    fail "pwccad --http starts and scores" "$(tail -5 "$pw_d_dir/daemon.log")"
fi
pw_stop_pid "$pw_d_pid"
