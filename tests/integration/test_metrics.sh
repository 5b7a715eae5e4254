# test_metrics.sh -- /metrics as Prometheus sees it: `promtool check metrics`
# on the exposition, and a real Prometheus server (Debian's prometheus package,
# our own process on a free loopback port, never the packaged service)
# scraping it and answering queries about it.
#
# The endpoint is served by tests/integration/metrics_serve.c (built here
# against $BUILD/libpwcca.a: the daemon's own endpoint and renderer, with a
# fixed snapshot); once pwccad accepts --metrics, the daemon is checked too:
# on real checkpoints, its gauges must equal what `pwcca curve` and the
# database say (metrics_check.py), across a restart, with its errors.
# Without Debian's prometheus package the promtool and Prometheus checks are
# skipped, the rest still runs.  Everything listens on 127.0.0.1 only and
# every wait is bounded.

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

# pw_m_promtool NAME FILE: promtool check metrics finds nothing to say
# (skipped without promtool).
pw_m_promtool() {
    local out
    if ! command -v promtool >/dev/null; then echo "  skip $1: needs promtool ($pw_m_noprom)"; return; fi
    if out=$(promtool check metrics <"$2" 2>&1) && [ -z "$out" ]; then ok "$1"
    else fail "$1" "promtool: $(head -c 600 <<<"$out")"; fi
}

# pw_m_scrape NAME TARGET_PORT QUERY PATTERN: a Prometheus server of our own
# scrapes 127.0.0.1:TARGET_PORT every second; passes when up == 1 and the
# result of QUERY matches the grep -E PATTERN, within 40 s (skipped without
# prometheus and jq).
pw_m_scrape() {
    local name=$1 target=$2 query=$3 pat=$4
    if ! command -v prometheus >/dev/null || ! command -v jq >/dev/null; then
        echo "  skip $name: needs prometheus and jq ($pw_m_noprom)"; return
    fi
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

pw_m_noprom="apt-get install --no-install-recommends prometheus"
if pw_need "the metrics tests" /usr/bin/python3 numpy sqlite3; then
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

    # --- the daemon itself: values from real checkpoints, restart, errors --------------
    if "$PWCCAD" --help 2>/dev/null | grep -q -- '--metrics'; then
        pw_m_py=$(pw_numpy_python)
        pw_m_mk() { "$pw_m_py" "$pw_m_repo/tests/integration/mkckpt.py" "$@"; }
        # pw_m_scrape_to FILE PORT SECONDS: a scrape of /metrics into FILE.
        pw_m_scrape_to() {
            local i
            for ((i = 0; i < $3 * 10; i++)); do
                pw_m_get "http://127.0.0.1:$2/metrics" >"$1" && return 0
                sleep 0.1
            done
            return 1
        }
        # pw_m_sample FILE LINE-PREFIX: the value of the sample whose line starts so.
        pw_m_sample() { grep -F -- "$2 " "$1" | grep -v '^#' | head -1 | awk '{print $NF}'; }
        # pw_m_checks NAME-PREFIX ARGS...: metrics_check.py's verdicts as ok/fail lines.
        pw_m_checks() {
            local pre=$1 line n=0; shift
            while IFS= read -r line; do
                n=$((n + 1))
                case $line in
                    PASS\ *) ok "$pre${line#PASS }" ;;
                    FAIL\ *) line=${line#FAIL }; fail "$pre${line%%: *}" "${line#*: }" ;;
                    *) fail "${pre}metrics_check.py" "$line" ;;
                esac
            done < <("$pw_m_py" "$pw_m_repo/tests/integration/metrics_check.py" "$@" 2>&1)
            [ "$n" -gt 0 ] || fail "${pre}metrics_check.py runs" "no output"
        }
        pw_m_d=$pw_m_dir/daemon
        mkdir -p "$pw_m_d/runs/ra" "$pw_m_d/runs/rb"
        # Distances between mkckpt's default checkpoints are about 0.01, so with
        # these thresholds both layers become stable at the second distance;
        # --drift 3 jumps to about 0.7, which makes them unstable again.
        cat >"$pw_m_d/pwccad.conf" <<CONF
settle_time = 0.3
rescan_interval = 1
incomplete_timeout = 1
stable_threshold = 0.3
unstable_threshold = 0.5
stable_count = 2
log_level = debug
CONF
        for s in 100 200 300; do pw_m_mk "$pw_m_d/runs/ra/step-$s.safetensors" --seed "$s"; done
        for s in 1 2; do pw_m_mk "$pw_m_d/runs/rb/ckpt_$s.safetensors" --seed "$s"; done
        pw_m_dport=$(pw_m_free_port)
        "$PWCCAD" --watch "$pw_m_d/runs" --db "$pw_m_d/d.db" --socket "$pw_m_d/d.sock" \
            --config "$pw_m_d/pwccad.conf" --metrics "127.0.0.1:$pw_m_dport" --foreground \
            2>"$pw_m_d/daemon.log" &
        pw_m_pid=$!
        if pw_m_scrape_to "$pw_m_d/first.txt" "$pw_m_dport" 10; then
            ok "pwccad --metrics serves /metrics"
        else
            fail "pwccad --metrics serves /metrics" "nothing after 10 s: $(tail -c 600 "$pw_m_d/daemon.log")"
        fi
        # Live arrivals: an unreadable checkpoint, a later one, a FINAL file, a jump in rb.
        head -c 300 /dev/urandom >"$pw_m_d/runs/ra/step-350.safetensors"
        pw_m_mk "$pw_m_d/runs/ra/step-400.safetensors" --seed 400
        echo 400 >"$pw_m_d/runs/ra/FINAL"
        pw_m_mk "$pw_m_d/runs/rb/ckpt_3.safetensors" --seed 3
        pw_m_mk "$pw_m_d/runs/rb/ckpt_4.safetensors" --seed 4 --drift 3
        # Quiet: 4 + 4 checkpoints stored, 1 failed, ra's backfill against 400
        # done (4 checkpoints x 2 layers), nothing queued.
        for ((pw_m_i = 0; pw_m_i < 300; pw_m_i++)); do
            pw_m_get "http://127.0.0.1:$pw_m_dport/metrics" >"$pw_m_d/daemon.txt"
            [ "$(pw_m_sample "$pw_m_d/daemon.txt" pwccad_checkpoints_processed_total)" = 8 ] &&
                [ "$(pw_m_sample "$pw_m_d/daemon.txt" pwccad_checkpoints_failed_total)" = 1 ] &&
                [ "$(pw_m_sample "$pw_m_d/daemon.txt" pwccad_queue_length)" = 0 ] &&
                [ "$(grep -c '^pwccad_layer_distance{run="ra",layer="[a-z0-9]*",ref="final"}' "$pw_m_d/daemon.txt")" = 2 ] &&
                [ "$(sqlite3 -cmd '.timeout 2000' "$pw_m_d/d.db" "SELECT COUNT(*) FROM scores WHERE ref = 'final' AND ref_step = 400" 2>/dev/null)" = 8 ] &&
                break
            sleep 0.1
        done
        expect_output "pwccad processes the checkpoints (8 stored, 1 failed, queue empty)" \
            '^pwccad_checkpoints_processed_total 8$' cat "$pw_m_d/daemon.txt"
        pw_m_checks "" "$pw_m_d/daemon.txt" "$pw_m_d/d.db" "$PWCCA" fresh ra rb
        expect_output "alerts of every kind were raised and counted" \
            '^pwccad_alerts_total\{kind="layer_unstable"\} [1-9]' cat "$pw_m_d/daemon.txt"
        pw_m_promtool "promtool check metrics accepts pwccad's exposition" "$pw_m_d/daemon.txt"
        pw_m_stop "$pw_m_pid"
        if [ "$pw_m_status" = 0 ]; then ok "pwccad with --metrics stops cleanly on SIGTERM"
        else fail "pwccad with --metrics stops cleanly on SIGTERM" "exit $pw_m_status: $(tail -c 600 "$pw_m_d/daemon.log")"; fi

        # Restart with the address in the configuration file instead of a flag:
        # the gauges show what is stored before anything is computed.
        pw_m_dport=$(pw_m_free_port)
        cp "$pw_m_d/pwccad.conf" "$pw_m_d/listen.conf"
        echo "metrics_listen = 127.0.0.1:$pw_m_dport" >>"$pw_m_d/listen.conf"
        "$PWCCAD" --watch "$pw_m_d/runs" --db "$pw_m_d/d.db" --socket "$pw_m_d/d.sock" \
            --config "$pw_m_d/listen.conf" --foreground 2>"$pw_m_d/daemon2.log" &
        pw_m_pid=$!
        if pw_m_scrape_to "$pw_m_d/restart.txt" "$pw_m_dport" 10; then
            ok "metrics_listen in the configuration file serves /metrics"
            pw_m_checks "after a restart: " "$pw_m_d/restart.txt" "$pw_m_d/d.db" "$PWCCA" restarted ra rb
        else
            fail "metrics_listen in the configuration file serves /metrics" "nothing after 10 s: $(tail -c 600 "$pw_m_d/daemon2.log")"
        fi
        pw_m_val=$(pw_m_sample "$pw_m_d/restart.txt" 'pwccad_layer_distance{run="ra",layer="conv1",ref="previous"}')
        pw_m_scrape "a real Prometheus scrapes pwccad and reads the stored distance ($pw_m_val)" "$pw_m_dport" \
            'pwccad_layer_distance%7Brun%3D%22ra%22%2Clayer%3D%22conv1%22%2Cref%3D%22previous%22%7D' \
            "\"value\":\[[0-9.]+,\"${pw_m_val:-none}\"\]"

        # Errors: a port in use is fatal (1), and the flag wins over the file;
        # a malformed address is a usage error (2), on the command line or in the file.
        pw_m_out=$(timeout 20 "$PWCCAD" --watch "$pw_m_d/runs" --db "$pw_m_d/e.db" \
            --socket "$pw_m_d/e.sock" --config "$pw_m_d/listen.conf" \
            --metrics "127.0.0.1:$pw_m_dport" --foreground 2>&1)
        pw_m_rc=$?
        if [ "$pw_m_rc" = 1 ] && grep -q "cannot listen for metrics on 127.0.0.1:$pw_m_dport: address already in use" <<<"$pw_m_out"; then
            ok "a metrics port in use is a fatal start-up error (exit 1) naming the address"
        else
            fail "a metrics port in use is a fatal start-up error (exit 1) naming the address" "exit $pw_m_rc: $(tail -c 400 <<<"$pw_m_out")"
        fi
        expect_output "an address this host does not have is fatal too" \
            "cannot listen for metrics on 192.0.2.1:9464: address not available" \
            timeout 20 "$PWCCAD" --watch "$pw_m_d/runs" --db "$pw_m_d/e.db" \
            --socket "$pw_m_d/e.sock" --metrics 192.0.2.1:9464 --foreground
        expect_status "an address this host does not have exits with status 1" 1 \
            timeout 20 "$PWCCAD" --watch "$pw_m_d/runs" --db "$pw_m_d/e.db" \
            --socket "$pw_m_d/e.sock" --metrics 192.0.2.1:9464 --foreground
        expect_status "--metrics with a port out of range is a usage error" 2 \
            "$PWCCAD" --watch "$pw_m_d/runs" --metrics 127.0.0.1:99999 --foreground
        expect_output "--metrics with a host name says names are not resolved" \
            "not an IPv4 address \(names are not resolved" \
            "$PWCCAD" --watch "$pw_m_d/runs" --metrics prometheus.lan:9464 --foreground
        echo "metrics_listen = ::1:9464" >"$pw_m_d/bad.conf"
        expect_output "a malformed metrics_listen names file and line" "bad.conf:1: metrics_listen:.*in brackets" \
            "$PWCCAD" --watch "$pw_m_d/runs" --config "$pw_m_d/bad.conf" --foreground
        expect_status "a malformed metrics_listen is a configuration error (exit 2)" 2 \
            "$PWCCAD" --watch "$pw_m_d/runs" --config "$pw_m_d/bad.conf" --foreground

        # A checkpoint that turns unreadable loses its scores: rb's newest distance
        # is its predecessor's again, which only the database still knew.
        head -c 300 /dev/urandom >"$pw_m_d/rb4.tmp" && mv "$pw_m_d/rb4.tmp" "$pw_m_d/runs/rb/ckpt_4.safetensors"
        for ((pw_m_i = 0; pw_m_i < 200; pw_m_i++)); do
            pw_m_get "http://127.0.0.1:$pw_m_dport/metrics" >"$pw_m_d/replaced.txt"
            [ "$(pw_m_sample "$pw_m_d/replaced.txt" pwccad_checkpoints_failed_total)" = 1 ] &&
                [ "$(pw_m_sample "$pw_m_d/replaced.txt" pwccad_queue_length)" = 0 ] && break
            sleep 0.1
        done
        expect_output "the replaced checkpoint is recorded as failed" \
            '^pwccad_checkpoints_failed_total 1$' cat "$pw_m_d/replaced.txt"
        pw_m_checks "after a checkpoint turned unreadable: " "$pw_m_d/replaced.txt" "$pw_m_d/d.db" "$PWCCA" gauges rb
        expect_output "rb's newest distance is step 3's again" "^3 previous$" sqlite3 "$pw_m_d/d.db" \
            "SELECT MAX(step) || ' ' || ref FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 'rb' AND ref = 'previous'"

        pw_m_stop "$pw_m_pid"
        if [ "$pw_m_status" = 0 ]; then ok "the restarted pwccad stops cleanly on SIGTERM"
        else fail "the restarted pwccad stops cleanly on SIGTERM" "exit $pw_m_status: $(tail -c 600 "$pw_m_d/daemon2.log")"; fi
    else
        echo "  skip pwccad --metrics: this pwccad has no --metrics option yet"
    fi
fi
