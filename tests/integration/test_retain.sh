# test_retain.sh -- retention on the real pwccad: a writer that keeps only the last two
# checkpoints still gets every backfill score against the final, equal to `pwcca compare`
# on the original files; without retention those scores are reference_unavailable; a small
# budget evicts copies spread over the run; kill -9 during a burst leaves no duplicate and
# no temporary behind; `status`, `pwcca status` and /metrics count exactly the copies in
# the retention directory, the evictions the log reports and the last failure (a full
# disk).  Every wait is bounded.

RT_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RT_PY=$(pw_numpy_python)
pw_need "retention tests" numpy sqlite3 || { return 0 2>/dev/null || exit 0; }
R=$PW_TMP/retain
mkdir -p "$R/runs/keep" "$R/runs/full" "$R/runs/nokeep" "$R/runs/burst" "$R/runsb/small" "$R/orig"
RDB=$R/a.db
RSOCK=$R/a.sock
RLOG=$R/a.log
RT_MPORT=$("$RT_PY" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
cat >"$R/a.conf" <<CONF
settle_time = 0.3
rescan_interval = 1
incomplete_timeout = 2
log_level = debug
retain = exact
retain_budget_mb = 64
# no cached factorizations: a score from a copy is computed from the copy's own bytes
cache_mb = 0
metrics_listen = 127.0.0.1:$RT_MPORT
[run nokeep]
retain = off
CONF

rt_mk() { "$RT_PY" "$RT_HERE/mkckpt.py" "$@" --n 256 --p 8; }
rt_q() { sqlite3 -cmd ".timeout 2000" "$RDB" "$1" 2>/dev/null; }
rt_q_is() { [ "$(rt_q "$1")" = "$2" ]; }
RT_PID=
RT_LOGSTART=1 # first line of RLOG written by the running daemon
rt_start() { # CONF ROOT
    RT_LOGSTART=$(($(cat "$RLOG" 2>/dev/null | wc -l) + 1))
    "$PWCCAD" --watch "$2" --db "$RDB" --socket "$RSOCK" --config "$1" --foreground >>"$RLOG" 2>&1 &
    RT_PID=$!
    pw_wait 10 test -S "$RSOCK"
}
rt_stop() {
    [ -n "$RT_PID" ] || return 0
    kill -TERM "$RT_PID" 2>/dev/null
    wait "$RT_PID"
    local rc=$?
    RT_PID=
    return $rc
}
trap 'rt_stop' RETURN
# rt_evicted: evictions the running daemon has logged.
rt_evicted() { tail -n +"$RT_LOGSTART" "$RLOG" | grep -c 'retention: evicted the copy'; }
# rt_usage NAME RETAIN_DIR MODES BUDGET_BYTES ERROR: status (totals and per run) and
# /metrics count the copies in RETAIN_DIR and the evictions logged (retain_usage.py).
# Polled: a copy being rewritten is briefly absent from both, so only a lasting
# difference fails.
rt_usage() {
    local name=$1 dir=$2 modes=$3 budget=$4 error=$5 why
    rt_usage_once() {
        "$RT_PY" "$RT_HERE/retain_usage.py" "$RSOCK" "$RDB" "$dir" "$modes" "$budget" \
            "$(rt_evicted)" "$error" "http://127.0.0.1:$RT_MPORT/metrics"
    }
    if pw_wait 20 rt_usage_once; then ok "$name"
    else why=$(rt_usage_once 2>&1); fail "$name" "$(head -c 600 <<<"$why")"; fi
}
# rt_copies DIR: the copies in DIR (RUN_ID/STEP.safetensors files).
rt_copies() { find "$1" -mindepth 2 -maxdepth 2 -type f -regex '.*/[0-9]+/[0-9]+\.safetensors' | wc -l; }
rt_id() { rt_q "SELECT id FROM runs WHERE name = '$1'"; }
# Status of each final-reference group of a run: "step:status" by step.
rt_final() {
    rt_q "SELECT s.step || ':' || GROUP_CONCAT(DISTINCT s.status) FROM scores s JOIN runs r ON r.id = s.run_id
          WHERE r.name = '$1' AND s.ref = 'final' GROUP BY s.step ORDER BY s.step" | tr '\n' ' ' | sed 's/ $//'
}
rt_stored() { # RUN STEP: the checkpoint row of this file's identity is stored
    local f="$3"
    rt_q_is "SELECT c.inode FROM checkpoints c JOIN runs r ON r.id = c.run_id
             WHERE r.name = '$1' AND c.step = $2 AND c.status = 'ok'" "$(stat -c %i "$f")"
}
# keep_last_2 ROOT RUN [KEEP_ALL]: steps 1..8, each deleted two steps later once the daemon
# stored it (a training script's keep-last-2; with KEEP_ALL nothing is deleted), the
# original kept in orig/RUN for `pwcca compare`.
keep_last_2() {
    local root=$1 run=$2 s f
    mkdir -p "$R/orig/$run"
    for s in 1 2 3 4 5 6 7 8; do
        f=$root/$run/step-$s.safetensors
        rt_mk "$f" --seed "$s"
        cp "$f" "$R/orig/$run/"
        pw_wait 20 rt_stored "$run" "$s" "$f" || return 1
        [ "$s" -le 2 ] || [ -n "${3:-}" ] || rm "$root/$run/step-$((s - 2)).safetensors"
    done
}
# same_as_compare RUN: every final score of RUN is what `pwcca compare` prints for the
# original files (to 1e-12, as test_daemon.sh: compare uses more BLAS threads).
same_as_compare() {
    local run=$1 s out=0
    for s in 1 2 3 4 5 6 7 8; do
        "$PWCCA" compare "$R/orig/$run/step-$s.safetensors" "$R/orig/$run/step-8.safetensors" --json |
            "$RT_PY" -c '
import json, sqlite3, sys
db, run, step = sys.argv[1], sys.argv[2], int(sys.argv[3])
con = sqlite3.connect(db)
bad = 0
layers = json.load(sys.stdin)["layers"]
for l in layers:
    row = con.execute("SELECT pwcca, distance, mean_cca, svcca, cka, status, n, p_kept, q_kept FROM scores s "
                      "JOIN runs r ON r.id = s.run_id WHERE r.name = ? AND s.step = ? AND s.ref = ? AND s.layer = ?",
                      (run, step, "final", l["layer"])).fetchone()
    want = (l["pwcca"], l["distance"], l["mean_cca"], l["svcca"], l["cka"], l["status"], l["n"], l["p_kept"], l["q_kept"])
    bad += row is None or any(abs(a - b) > 1e-12 if isinstance(b, float) else a != b for a, b in zip(row, want))
sys.exit(1 if bad or not layers else 0)' "$RDB" "$run" "$s" || out=1
    done
    return $out
}
# Final scores of a run, every column that matters, in full precision.
rt_final_rows() {
    "$RT_PY" -c '
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
for row in con.execute("SELECT s.layer, s.step, s.ref_step, s.pwcca, s.distance, s.mean_cca, s.svcca, s.cka, "
                       "s.status, s.n, s.p_kept, s.q_kept FROM scores s JOIN runs r ON r.id = s.run_id "
                       "WHERE r.name = ? AND s.ref = ? ORDER BY s.step, s.layer", (sys.argv[2], "final")):
    print(*(repr(v) for v in row))' "$RDB" "$1"
}

# --- exact retention: keep-last-2 writer, a replaced checkpoint, finalize --------------------
if rt_start "$R/a.conf" "$R/runs"; then ok "pwccad starts with retention on"; else fail "pwccad starts with retention on" "$(tail -3 "$RLOG")"; fi
if keep_last_2 "$R/runs" keep; then ok "a keep-last-2 writer's checkpoints are each stored before deletion"; else fail "keep-last-2 writer" "a step was not stored in time"; fi
KEEP=$(rt_id keep)
expect "every stored checkpoint has a copy named by run id and step" \
    test "$(cd "$R/retained/$KEEP" 2>/dev/null && ls | sort -n | tr '\n' ' ')" = "1.safetensors 2.safetensors 3.safetensors 4.safetensors 5.safetensors 6.safetensors 7.safetensors 8.safetensors "
# Step 7 is replaced, then deleted: its copy must follow the new content.
rt_mk "$R/runs/keep/step-7.safetensors" --seed 77
cp "$R/runs/keep/step-7.safetensors" "$R/orig/keep/"
pw_expect_wait "a replaced checkpoint is recomputed" 20 rt_stored keep 7 "$R/runs/keep/step-7.safetensors"
rm "$R/runs/keep/step-7.safetensors"
pw_expect_wait "the deletion is noticed" 10 \
    rt_q_is "SELECT present FROM checkpoints WHERE run_id = $KEEP AND step = 7" 0
: >"$R/runs/keep/FINAL"
pw_expect_wait "FINAL makes the last step final and every step gets a final score" 30 \
    rt_q_is "SELECT COUNT(*) FROM scores WHERE run_id = $KEEP AND ref = 'final' AND ref_step = 8" 16
expect_output "with retention every backfill score of deleted checkpoints is ok" \
    "^1:ok 2:ok 3:ok 4:ok 5:ok 6:ok 7:ok 8:ok$" rt_final keep
if same_as_compare keep; then ok "backfill scores from exact copies equal pwcca compare on the originals"; else fail "exact copies" "a final score differs from pwcca compare on the original files"; fi
# The same checkpoints, never deleted: the daemon's scores from the originals.
keep_last_2 "$R/runs" full keep-all
rt_mk "$R/runs/full/step-7.safetensors" --seed 77
pw_wait 20 rt_stored full 7 "$R/runs/full/step-7.safetensors"
: >"$R/runs/full/FINAL"
pw_expect_wait "the run that deletes nothing is backfilled too" 30 \
    rt_q_is "SELECT COUNT(*) FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 'full' AND ref = 'final'" 16
expect "scores from exact copies are bit for bit those from the original files" \
    test "$(rt_final_rows keep)" = "$(rt_final_rows full)"
rt_usage "status and /metrics count the copies and bytes in the retention directory, per run too" \
    "$R/retained" exact 67108864 none
NCOPIES=$(rt_copies "$R/retained")
expect_output "pwcca status shows retention in one line" \
    "^retention: exact, [0-9.]+ [KM]iB of 64 MiB, $NCOPIES copies, 0 evicted$" \
    "$PWCCA" --socket "$RSOCK" status
expect "status gives each run its retention mode" "$RT_PY" -c '
import json, sys
runs = {r["name"]: r for r in json.loads(sys.stdin.read())["runs"]}
assert runs["keep"]["retain"] == "exact" and runs["keep"]["retained_copies"] >= 1, runs["keep"]
assert runs["nokeep"]["retain"] == "off" and runs["nokeep"]["retained_copies"] == 0, runs["nokeep"]' \
    < <("$RT_PY" "$RT_HERE/sockreq.py" "$RSOCK" '{"cmd": "status"}')

# --- the same writer without retention ----------------------------------------------------------
keep_last_2 "$R/runs" nokeep
: >"$R/runs/nokeep/FINAL"
pw_expect_wait "without retention the backfill still completes" 30 \
    rt_q_is "SELECT COUNT(*) FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 'nokeep' AND ref = 'final'" 16
expect_output "without retention deleted checkpoints get reference_unavailable" \
    "^1:reference_unavailable 2:reference_unavailable 3:reference_unavailable 4:reference_unavailable 5:reference_unavailable 6:reference_unavailable 7:ok 8:ok$" \
    rt_final nokeep
expect "a run with retain = off has no copies" test ! -e "$R/retained/$(rt_id nokeep)"
rt_usage "a run with retain = off adds nothing to the counts" "$R/retained" exact 67108864 none

# --- kill -9 during a burst with retention on ---------------------------------------------------------
BURST=
for s in $(seq 1 12); do rt_mk "$R/runs/burst/step-$s.safetensors" --seed "$s" & BURST="$BURST $!"; done
wait $BURST
sleep 1.2
kill -9 "$RT_PID" 2>/dev/null
wait "$RT_PID" 2>/dev/null
RT_PID=
rm -f "$RSOCK"
BID=$(rt_id burst)
mkdir -p "$R/retained/$BID"
echo partial >"$R/retained/$BID/.3.safetensors.tmp.99999"
echo stray >"$R/retained/$BID/77" # not a copy's name: ignored
rt_start "$R/a.conf" "$R/runs"
pw_expect_wait "after kill -9 and a restart every burst pair is stored" 60 \
    rt_q_is "SELECT COUNT(*) FROM scores WHERE run_id = $BID AND ref = 'previous' AND status = 'ok'" 22
expect "no score key has two rows after kill -9" \
    rt_q_is "SELECT COUNT(*) FROM (SELECT 1 FROM scores GROUP BY run_id, layer, step, ref HAVING COUNT(*) > 1)" 0
expect "no temporary copy survives the restart" test -z "$(find "$R/retained" -name '.*')"
pw_expect_wait "every burst checkpoint has a copy" 10 \
    test "$(ls "$R/retained/$BID" | grep -c '^[0-9]*\.safetensors$')" = 12
rt_usage "after kill -9 and a restart status counts the copies found in the directory" \
    "$R/retained" exact 67108864 none
expect "each copy records the identity of the stored checkpoint it was made from" "$RT_PY" -c '
import json, os, sqlite3, struct, sys
db, rid, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
con = sqlite3.connect(db)
for step, path, inode, mtime, size in con.execute(
        "SELECT step, path, inode, mtime_ns, size FROM checkpoints WHERE run_id = ?", (rid,)):
    with open(os.path.join(d, "%d.safetensors" % step), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        meta = json.loads(f.read(n))["__metadata__"]
    assert meta["pwccad_source"] == "%d:%s:%d:%d:%d" % (rid, path, inode, mtime, size), (step, meta)
    assert meta["pwccad_retain"] == "exact"' "$RDB" "$BID" "$R/retained/$BID"
SIZE=$(stat -c %s "$R/retained/$KEEP/1.safetensors")
rt_stop
expect "pwccad with retention stops with status 0" test $? = 0

# --- a budget of four and a half copies ------------------------------------------------------------
RDB=$R/b.db
rm -rf "$R/retained"
BUDGET=$("$RT_PY" -c "print(4.5 * $SIZE / 1048576)")
sed "s/^retain_budget_mb = .*/retain_budget_mb = $BUDGET/" "$R/a.conf" >"$R/b.conf"
: >"$RLOG"
rt_start "$R/b.conf" "$R/runsb"
keep_last_2 "$R/runsb" small
: >"$R/runsb/small/FINAL"
SMALL=$(rt_id small)
pw_expect_wait "with a small budget the backfill completes" 30 \
    rt_q_is "SELECT COUNT(*) FROM scores WHERE run_id = $SMALL AND ref = 'final'" 16
expect_output "evicted steps give reference_unavailable, the retained ones (spread over the run) are ok" \
    "^1:ok 2:reference_unavailable 3:ok 4:reference_unavailable 5:ok 6:reference_unavailable 7:ok 8:ok$" \
    rt_final small
expect "the oldest and the newest copies are kept, the thinned ones are gone" \
    test "$(cd "$R/retained/$SMALL" && ls | sort -n | tr '\n' ' ')" = "1.safetensors 3.safetensors 5.safetensors 8.safetensors "
expect "each eviction is logged once" test "$(grep -c 'evicted the copy' "$RLOG")" = 4
rt_usage "status and /metrics count the evictions the log reports, and the copies left" \
    "$R/retained" exact "$("$RT_PY" -c "print(int(float('$BUDGET') * 1048576.0))")" none
expect_output "pwcca status shows the evictions" "^retention: exact, .* 4 copies, 4 evicted$" \
    "$PWCCA" --socket "$RSOCK" status
if command -v promtool >/dev/null; then
    "$RT_PY" -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode("utf-8"))' \
        "http://127.0.0.1:$RT_MPORT/metrics" >"$R/metrics.txt" 2>&1
    expect "promtool check metrics accepts the retention families" \
        bash -c 'grep -q "^pwccad_retain_evictions_total 4$" "$1" && out=$(promtool check metrics <"$1" 2>&1) && [ -z "$out" ]' _ "$R/metrics.txt"
else
    echo "  skip: promtool check metrics needs promtool"
fi
# A reload to a budget smaller than one copy: the new checkpoint is not copied, which
# status names as the last error, and the copies held alone exceed the new budget, so
# the next copy's plan thins them (never a run's newest) -- evictions the log shows too.
sed -i "s/^retain_budget_mb = .*/retain_budget_mb = 0.01/" "$R/b.conf"
kill -HUP "$RT_PID"
pw_wait 10 grep -q 'SIGHUP: reloading' "$RLOG"
mkdir -p "$R/runsb/tiny"
rt_mk "$R/runsb/tiny/step-1.safetensors" --seed 1
pw_expect_wait "after a reload to a budget below one copy checkpoints are still stored" 20 \
    rt_stored tiny 1 "$R/runsb/tiny/step-1.safetensors"
rt_usage "status follows the reloaded budget and names a copy larger than all of it" \
    "$R/retained" exact 10485 "larger than retain_budget_mb"
expect "the lowered budget evicted all but the newest copy of the run" \
    test "$(cd "$R/retained/$SMALL" && ls | tr '\n' ' ')" = "8.safetensors "
rt_stop

# --- a full disk: copies fail, scores do not --------------------------------------------------------
# A 64 KiB tmpfs holds three copies; needs root (mount), skipped otherwise.
mkdir -p "$R/tiny" "$R/runsc/fill"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=64k tmpfs "$R/tiny" 2>/dev/null; then
    RDB=$R/c.db
    sed "s|^retain_budget_mb = .*|retain_budget_mb = 64\nretain_dir = $R/tiny|" "$R/a.conf" >"$R/c.conf"
    : >"$RLOG"
    rt_start "$R/c.conf" "$R/runsc"
    for s in 1 2 3 4 5 6; do rt_mk "$R/runsc/fill/step-$s.safetensors" --seed "$s"; done
    pw_expect_wait "with the copies' disk full every checkpoint is still scored" 30 \
        rt_q_is "SELECT COUNT(*) FROM scores WHERE ref = 'previous' AND status = 'ok'" 10
    expect "the full disk is reported once as a warning" \
        test "$(grep -c 'warning: .*not retained: .*No space left on device' "$RLOG")" = 1
    expect "no temporary is left on the full disk" test -z "$(find "$R/tiny" -name '.*')"
    expect "the copies that fitted are kept" test "$(find "$R/tiny" -name '*.safetensors' | wc -l)" -ge 2
    rt_usage "status reports the full disk as the last retention error, and counts what fitted" \
        "$R/tiny" exact 67108864 "No space left on device"
    expect_output "pwcca status shows the retention error" \
        "^retention error: fill: step [0-9]+ not retained: .*No space left on device" \
        "$PWCCA" --socket "$RSOCK" status
    rt_stop
    expect "pwccad stops with status 0 after a full disk" test $? = 0
    umount "$R/tiny"
else
    echo "  skip: a full disk needs root to mount a small tmpfs"
fi
trap - RETURN
