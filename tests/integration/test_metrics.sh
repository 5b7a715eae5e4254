# test_metrics.sh -- /metrics as Prometheus sees it: `promtool check metrics`
# on the exposition, and a real Prometheus server (Debian's prometheus package,
# our own process on a free loopback port, never the packaged service)
# scraping it and answering queries about it.
#
# The endpoint is served by tests/integration/metrics_serve.c (built here
# against $BUILD/libpwcca.a: the daemon's own endpoint and renderer, with a
# fixed snapshot); once pwccad accepts --metrics, the daemon is checked too.
# Everything listens on 127.0.0.1 only and every wait is bounded.

pw_m_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pw_m_dir="$PW_TMP/metrics"
mkdir -p "$pw_m_dir"

# pw_m_get URL: the body on stdout; non-zero when the request fails (5 s bound).
pw_m_get() {
    /usr/bin/python3 -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode("utf-8"))' "$1" 2>/dev/null
}

# pw_m_free_port: a loopback TCP port nobody listens on right now.
pw_m_free_port() {
    /usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# pw_m_wait_file FILE SECONDS: wait until FILE is non-empty.
pw_m_wait_file() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do [ -s "$1" ] && return 0; sleep 0.1; done
    return 1
}

# pw_m_stop PID: SIGTERM, then wait up to 10 s (SIGKILL after that); sets
# pw_m_status to the exit status, or "killed".  Not in $(...): wait needs
# the shell that started the process.
pw_m_stop() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; pw_m_status=$?; return; fi
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    pw_m_status=killed
}

# pw_m_promtool NAME FILE: promtool check metrics finds nothing to say.
pw_m_promtool() {
    local out
    if out=$(promtool check metrics <"$2" 2>&1) && [ -z "$out" ]; then ok "$1"
    else fail "$1" "promtool: $(head -c 600 <<<"$out")"; fi
}

# pw_m_scrape NAME TARGET_PORT QUERY PATTERN: a Prometheus server of our own
# scrapes 127.0.0.1:TARGET_PORT every second; passes when up == 1 and the
# result of QUERY matches the grep -E PATTERN, within 40 s.
pw_m_scrape() {
    local name=$1 target=$2 query=$3 pat=$4
    local pdir="$pw_m_dir/prom-$target" pport up res i
    mkdir -p "$pdir/data"
    pport=$(pw_m_free_port)
    cat >"$pdir/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: pwccad
    static_configs:
      - targets: ['127.0.0.1:$target']
EOF
    prometheus --config.file="$pdir/prometheus.yml" --storage.tsdb.path="$pdir/data" \
        --web.listen-address="127.0.0.1:$pport" --log.level=warn >"$pdir/log" 2>&1 &
    local ppid=$!
    for ((i = 0; i < 40; i++)); do
        up=$(pw_m_get "http://127.0.0.1:$pport/api/v1/query?query=up%7Bjob%3D%22pwccad%22%7D" |
             jq -r '.data.result[0].value[1] // empty' 2>/dev/null)
        [ "$up" = 1 ] && break
        kill -0 "$ppid" 2>/dev/null || break
        sleep 1
    done
    res=$(pw_m_get "http://127.0.0.1:$pport/api/v1/query?query=$query")
    pw_m_stop "$ppid"
    if [ "$up" != 1 ]; then
        fail "$name" "up was '${up}' after 40 s (prometheus exit: $pw_m_status): $(tail -c 600 "$pdir/log")"
    elif ! grep -Eq -- "$pat" <<<"$res"; then
        fail "$name" "query $query gave $(head -c 600 <<<"$res")"
    else
        ok "$name"
    fi
}

if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    echo "  skip metrics: Debian's prometheus package is not installed" \
         "(apt-get install --no-install-recommends prometheus)"
elif ! command -v jq >/dev/null || ! [ -x /usr/bin/python3 ]; then
    echo "  skip metrics: jq and /usr/bin/python3 are needed"
else
    # --- the endpoint and renderer, serving a fixed snapshot -----------------
    pw_m_san=""
    nm "$BUILD/libpwcca.a" 2>/dev/null | grep -q __asan_ && pw_m_san="-fsanitize=address,undefined"
    # shellcheck disable=SC2046,SC2086
    if ${CC:-cc} -std=c11 -O1 -g -Wall -Wextra -Werror -D_GNU_SOURCE $pw_m_san -I"$pw_m_repo/lib" \
        $(pkg-config --cflags libuv) -o "$pw_m_dir/metrics_serve" \
        "$pw_m_repo/tests/integration/metrics_serve.c" "$BUILD/libpwcca.a" \
        $(pkg-config --libs libh2o libuv) -lm -lpthread >"$pw_m_dir/cc.log" 2>&1; then
        ok "metrics_serve builds against libpwcca"
        "$pw_m_dir/metrics_serve" 127.0.0.1:0 "$pw_m_dir/port" 2>"$pw_m_dir/serve.log" &
        pw_m_pid=$!
        if pw_m_wait_file "$pw_m_dir/port" 10; then
            pw_m_port=$(cat "$pw_m_dir/port")
            pw_m_get "http://127.0.0.1:$pw_m_port/metrics" >"$pw_m_dir/exposition.txt"
            expect_output "the exposition carries the documented metrics" \
                '^pwccad_layer_distance\{run="resnet-a",layer="conv1",ref="final"\} 0.21$' \
                cat "$pw_m_dir/exposition.txt"
            expect_output "label values are escaped" \
                'run="run \\"quoted\\"\\\\b",layer="fc\\nhead"' cat "$pw_m_dir/exposition.txt"
            pw_m_promtool "promtool check metrics accepts the exposition" "$pw_m_dir/exposition.txt"
            pw_m_scrape "a real Prometheus scrapes it (up == 1, a distance is queryable)" \
                "$pw_m_port" 'pwccad_layer_distance%7Blayer%3D%22conv1%22%2Cref%3D%22final%22%7D' \
                '"value":\[[0-9.]+,"0.21"\]'
            pw_m_stop "$pw_m_pid"
            if [ "$pw_m_status" = 0 ]; then ok "the endpoint stops cleanly on SIGTERM"
            else fail "the endpoint stops cleanly on SIGTERM" "exit $pw_m_status: $(tail -c 600 "$pw_m_dir/serve.log")"; fi
        else
            fail "metrics_serve listens" "no port after 10 s: $(tail -c 600 "$pw_m_dir/serve.log")"
            pw_m_stop "$pw_m_pid"
        fi
    else
        fail "metrics_serve builds against libpwcca" "$(tail -c 800 "$pw_m_dir/cc.log")"
    fi

    # --- the daemon itself, once it has --metrics --------------------------------
    if "$PWCCAD" --help 2>/dev/null | grep -q -- '--metrics'; then
        mkdir -p "$pw_m_dir/runs"
        pw_m_dport=$(pw_m_free_port)
        "$PWCCAD" --watch "$pw_m_dir/runs" --db "$pw_m_dir/d.db" --socket "$pw_m_dir/d.sock" \
            --metrics "127.0.0.1:$pw_m_dport" 2>"$pw_m_dir/daemon.log" &
        pw_m_pid=$!
        for ((pw_m_i = 0; pw_m_i < 100; pw_m_i++)); do
            pw_m_get "http://127.0.0.1:$pw_m_dport/metrics" >"$pw_m_dir/daemon.txt" && break
            sleep 0.1
        done
        expect_output "pwccad --metrics serves the exposition" '^pwccad_queue_length [0-9]+$' \
            cat "$pw_m_dir/daemon.txt"
        pw_m_promtool "promtool check metrics accepts pwccad's exposition" "$pw_m_dir/daemon.txt"
        pw_m_scrape "a real Prometheus scrapes pwccad" "$pw_m_dport" \
            'pwccad_checkpoints_processed_total' '"result":\[\{"metric"'
        pw_m_stop "$pw_m_pid"
        if [ "$pw_m_status" = 0 ]; then ok "pwccad with --metrics stops cleanly on SIGTERM"
        else fail "pwccad with --metrics stops cleanly on SIGTERM" "exit $pw_m_status: $(tail -c 600 "$pw_m_dir/daemon.log")"; fi
    else
        echo "  skip pwccad --metrics: this pwccad has no --metrics option yet"
    fi
fi
