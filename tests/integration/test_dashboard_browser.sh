# test_dashboard_browser.sh -- the dashboard in a real browser: Debian's
# chromium, driven by puppeteer-core from npm (pinned by tests/browser/
# package-lock.json, installed with `npm ci` into $BUILD/browser, never
# committed), against the real daemon watching a run the C trainer writes.
# tests/browser/dashboard.test.js does the checking: the runs page lists the
# run, the run page shows every layer, a checkpoint written after the page
# loaded appears without a reload, a hidden page makes no requests and
# catches up when shown, no console errors.  Screenshots go to
# $BUILD/test-output/dashboard/ for a person to look at.
#
# Skipped, with a line saying why, without chromium, node or npm (`make
# deps-browser` installs them) or when the npm registry cannot be reached.

pw_br_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pw_br_dir="$PW_TMP/dashboard-browser"
pw_br_chromium=${PW_CHROMIUM:-$(command -v chromium || true)}
pw_br_skip=""
[ -n "$pw_br_chromium" ] || pw_br_skip="no chromium (make deps-browser installs Debian's)"
command -v node >/dev/null || pw_br_skip="${pw_br_skip:+$pw_br_skip; }no node"
command -v npm >/dev/null || pw_br_skip="${pw_br_skip:+$pw_br_skip; }no npm"

# pw_br_install: puppeteer-core as the lockfile pins it, into $BUILD/browser;
# reinstalled only when the lockfile changed.
pw_br_install() {
    local dest="$BUILD/browser"
    if [ -d "$dest/node_modules/puppeteer-core" ] &&
        cmp -s "$pw_br_repo/tests/browser/package-lock.json" "$dest/package-lock.json"; then
        return 0
    fi
    rm -rf "$dest" && mkdir -p "$dest" &&
        cp "$pw_br_repo/tests/browser/package.json" "$pw_br_repo/tests/browser/package-lock.json" "$dest/" &&
        (cd "$dest" && timeout 300 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >"$pw_br_dir/npm.log" 2>&1
}

mkdir -p "$pw_br_dir"
if [ -z "$pw_br_skip" ] && ! pw_br_install; then
    pw_br_skip="npm ci failed (no registry?): $(tail -2 "$pw_br_dir/npm.log" | tr '\n' ' ')"
fi

if [ -n "$pw_br_skip" ]; then
    echo "  SKIP the dashboard in a browser: $pw_br_skip"
else
    pw_br_out="$BUILD/test-output/dashboard"
    rm -rf "$pw_br_out" && mkdir -p "$pw_br_out" "$pw_br_dir/runs"
    cat >"$pw_br_dir/pwccad.conf" <<'CONF'
settle_time = 0.3
rescan_interval = 1
CONF
    # A checkpoint about every 0.7 s for ~40 s: several land after the page
    # loaded, and while it is hidden.
    "$BUILD/examples/trainer" --out "$pw_br_dir/runs/mlp" --steps 6000 --every 100 --sleep-ms 700 \
        --hidden 32,32,32 --probe 256 --seed 3 --no-final --quiet >"$pw_br_dir/trainer.log" 2>&1 &
    pw_br_trainer=$!
    "$PWCCAD" --foreground --config "$pw_br_dir/pwccad.conf" --watch "$pw_br_dir/runs" \
        --db "$pw_br_dir/db" --socket "$pw_br_dir/sock" --http 127.0.0.1:0 >"$pw_br_dir/daemon.log" 2>&1 &
    pw_br_daemon=$!
    pw_br_port=""
    pw_br_port_of() {
        pw_br_port=$(sed -n 's|.*dashboard at http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$pw_br_dir/daemon.log" | head -1)
        [ -n "$pw_br_port" ]
    }
    # The page needs a run with two stored checkpoints to show scores.
    if pw_wait 20 pw_br_port_of &&
        pw_wait 30 sh -c "'$PWCCA' --db '$pw_br_dir/db' curve mlp --format csv | grep -q ',ok,'"; then
        ok "the daemon serves the dashboard on --http and scores the trainer's run"
        pw_br_res=$(PW_CHROMIUM="$pw_br_chromium" NODE_PATH="$BUILD/browser/node_modules" timeout 120 \
            node "$pw_br_repo/tests/browser/dashboard.test.js" "http://127.0.0.1:$pw_br_port" mlp \
            "$pw_br_dir/runs/mlp" "$pw_br_out" fc1 fc2 fc3 logits 2>&1)
        pw_br_rc=$?
        while IFS= read -r pw_br_line; do
            case "$pw_br_line" in
            "ok   "*) ok "${pw_br_line#ok   }" ;;
            "FAIL "*) pw_br_what=${pw_br_line#FAIL }; fail "${pw_br_what%%: *}" "${pw_br_what#*: }" ;;
            esac
        done <<<"$pw_br_res"
        if [ "$pw_br_rc" != 0 ] && ! grep -q '^FAIL ' <<<"$pw_br_res"; then
            fail "the browser test runs" "exit $pw_br_rc: $(tail -5 <<<"$pw_br_res")"
        fi
        if [ -s "$pw_br_out/run.png" ]; then
            ok "screenshots written for a person to look at: $pw_br_out/{runs,run}.png"
        else
            fail "a screenshot is written" "no $pw_br_out/run.png"
        fi
    else
        fail "the daemon serves the dashboard and scores the run" "$(tail -5 "$pw_br_dir/daemon.log")"
    fi
    pw_stop_pid "$pw_br_trainer"
    pw_stop_pid "$pw_br_daemon"
fi
