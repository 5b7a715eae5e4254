# test_client.sh -- pwcca's query and control subcommands, run as a user would.
#
# The database comes from client_fixture.py (the daemon's schema, rows shaped
# like the daemon's).  The format checks (pw_client_checks) read their
# expectations from the database itself, so they also run against a database
# the real daemon wrote: set PW_CLIENT_DB=FILE and PW_CLIENT_RUN=NAME (a run with
# scores; with final scores the convergence checks run too).  The
# control commands talk to fake_pwccad.py, a stand-in daemon on a Unix socket.

here_client=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pw_py=/usr/bin/python3
[ -x "$pw_py" ] || pw_py=python3
cdir="$PW_TMP/client"
mkdir -p "$cdir"
fixture_db="$cdir/fixture.db"
nosock="$cdir/no-daemon.sock"

# pwcca against database $1 (socket: nobody listening unless PWCCAD_SOCKET says otherwise).
pwq() { local db=$1; shift; PWCCAD_SOCKET=${PWCCAD_SOCKET_TEST:-$nosock} "$PWCCA" --db "$db" "$@"; }

# check_py NAME FILE CODE [ARGS...]: run python CODE with sys.argv[1:] = FILE ARGS; pass on exit 0.
check_py() {
    local name=$1 file=$2 code=$3; shift 3
    local out
    if out=$("$pw_py" -c "$code" "$file" "$@" 2>&1); then ok "$name"; else fail "$name" "$(head -c 600 <<<"$out")"; fi
}

# ---- format checks valid for any pwccad database ------------------------------
# pw_client_checks DB RUN: every query subcommand on RUN, outputs parsed back and
# compared with the database row by row.
pw_client_checks() {
    local db=$1 run=$2 d="$cdir/checks-$2"
    mkdir -p "$d"

    pwq "$db" runs --format json >"$d/runs.json" 2>"$d/err"
    check_py "runs --format json lists $run with every key" "$d/runs.json" '
import json, sys
runs = json.load(open(sys.argv[1]))
keys = ["name", "path", "state", "checkpoints", "layers", "measured_layers", "stable_layers",
        "last_step", "final_step", "final_source", "converged_step", "unmeasured",
        "probe_fingerprint"]
assert all(list(r) == keys for r in runs), [list(r) for r in runs]
assert sys.argv[2] in [r["name"] for r in runs]
assert all(r["state"] == ("running" if r["final_step"] is None else "final") for r in runs)' "$run"

    pwq "$db" layers "$run" --format json >"$d/layers.json" 2>"$d/err"
    check_py "layers $run come in depth order" "$d/layers.json" '
import json, sys
ls = json.load(open(sys.argv[1]))
assert [l["depth"] for l in ls] == sorted(l["depth"] for l in ls) and ls'

    pwq "$db" curve "$run" --format json >"$d/curve.json" 2>"$d/curve.err"
    pwq "$db" curve "$run" --format csv >"$d/curve.csv" 2>"$d/csv.err"
    check_py "curve $run json and csv equal the database bit for bit" "$d/curve.json" '
import csv, json, sqlite3, sys
rows = json.load(open(sys.argv[1]))
cols = ["run", "layer", "depth", "step", "ref", "ref_step", "n", "p_kept", "q_kept", "pwcca",
        "distance", "mean_cca", "svcca", "cka", "cka_debiased", "procrustes", "status", "message",
        "reduce", "k_x", "k_y", "pwcca_se", "distance_se", "mean_cca_se", "svcca_se", "cka_se",
        "procrustes_se", "noise_blocks", "chance_distance"]
assert rows, "no rows"
assert all(list(r) == cols for r in rows)
db = sqlite3.connect("file:" + sys.argv[2] + "?mode=ro", uri=True)
ref = rows[0]["ref"]
n = db.execute("SELECT COUNT(*) FROM scores s JOIN runs r ON r.id = s.run_id"
               " WHERE r.name = ? AND s.ref = ?", (sys.argv[3], ref)).fetchone()[0]
assert len(rows) == n, (len(rows), n)
for r in rows:
    want = db.execute("SELECT s.n, s.p_kept, s.q_kept, s.pwcca, s.distance, s.mean_cca, s.svcca,"
                      " s.cka, s.cka_debiased, s.procrustes, s.status, s.message, s.ref_step,"
                      " s.reduce, s.k_x, s.k_y, s.pwcca_se, s.cka_se, s.procrustes_se,"
                      " s.noise_blocks"
                      " FROM scores s JOIN runs r"
                      " ON r.id = s.run_id WHERE r.name = ? AND s.layer = ? AND s.step = ?"
                      " AND s.ref = ?", (sys.argv[3], r["layer"], r["step"], ref)).fetchone()
    got = tuple(r[k] for k in ["n", "p_kept", "q_kept", "pwcca", "distance", "mean_cca", "svcca",
                               "cka", "cka_debiased", "procrustes", "status", "message", "ref_step",
                               "reduce", "k_x", "k_y", "pwcca_se", "cka_se", "procrustes_se",
                               "noise_blocks"])
    assert got == want, (got, want)
with open(sys.argv[4], newline="") as f:
    table = list(csv.reader(f))
assert table[0] == cols, table[0]
assert len(table) == len(rows) + 1
for r, line in zip(rows, table[1:]):
    for k, cell in zip(cols, line):
        v = r[k]
        if v is None:
            assert cell == "", (k, cell)
        elif isinstance(v, float):
            assert float(cell) == v, (k, cell, v)
        else:
            assert cell == str(v), (k, cell, v)' "$db" "$run" "$d/curve.csv"
    if [ ! -s "$d/curve.err" ] && [ ! -s "$d/csv.err" ]; then ok "curve $run writes no progress when stderr is not a terminal"
    else fail "curve $run writes no progress when stderr is not a terminal" "$(cat "$d/curve.err" "$d/csv.err")"; fi

    local expect_heat
    expect_heat=$("$pw_py" -c '
import json, sys
rows = json.load(open(sys.argv[1]))
print(len({r["layer"] for r in rows}), len({r["step"] for r in rows}))' "$d/curve.json")
    pwq "$db" plot "$run" -o "$d/heat.svg" && pwq "$db" plot "$run" -o "$d/lines.svg" --kind lines
    check_py "plot $run: well-formed SVGs, a cell per layer and step, a series per layer" "$d/heat.svg" '
import sys, xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
layers, steps = map(int, sys.argv[3].split())
heat = ET.parse(sys.argv[1]).getroot()
cells = [e for e in heat.iter(ns + "rect") if e.get("class", "").split()[:1] == ["cell"]]
assert len(cells) == layers * steps, (len(cells), layers, steps)
lines = ET.parse(sys.argv[2]).getroot()
series = [e for e in lines.iter(ns + "g") if e.get("class") == "series"]
assert len(series) == layers, (len(series), layers)' "$d/lines.svg" "$expect_heat"
    if command -v rsvg-convert >/dev/null; then
        if rsvg-convert "$d/heat.svg" -o "$d/heat.png" && [ "$(head -c 4 "$d/heat.png" | tail -c 3)" = PNG ]; then
            ok "plot $run renders to PNG with rsvg-convert"
        else
            fail "plot $run renders to PNG with rsvg-convert" "rsvg-convert failed"
        fi
    fi

    pwq "$db" plot "$run" >"$d/term.txt" 2>&1
    check_py "plot $run in a pipe: plain ASCII, one row per layer, bottom layer last" "$d/term.txt" '
import sys
text = open(sys.argv[1], "rb").read()
assert all(b < 0x80 for b in text), "non-ASCII in plain output"
rows = [l for l in text.decode().splitlines() if l.count("|") >= 2]
assert len(rows) == int(sys.argv[2].split()[0]), rows' "$expect_heat"

    local nalerts
    nalerts=$("$pw_py" -c '
import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(db.execute("SELECT COUNT(*) FROM alerts a JOIN runs r ON r.id = a.run_id WHERE r.name = ?",
                 (sys.argv[2],)).fetchone()[0])' "$db" "$run")
    pwq "$db" alerts "$run" --format json >"$d/alerts.jsonl" 2>/dev/null
    check_py "alerts $run --format json: one object per alert in the database" "$d/alerts.jsonl" '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == int(sys.argv[2]), (len(lines), sys.argv[2])
assert [a["id"] for a in lines] == sorted(a["id"] for a in lines)' "$nalerts"

    if pwq "$db" convergence "$run" --format json >"$d/conv.json" 2>"$d/conv.err"; then
        check_py "convergence $run --format json is complete" "$d/conv.json" '
import json, sys
c = json.load(open(sys.argv[1]))
assert c["verdict"] in ("bottom-up", "top-down", "mixed", "undetermined")
assert len(c["order"]) == c["ranked_layers"] and c["settled_layers"] <= c["ranked_layers"]'
    else
        expect_output "convergence $run without final scores says how to get them" "finalize" cat "$d/conv.err"
    fi
}

# ---- the fixture -------------------------------------------------------------
if ! "$pw_py" "$here_client/client_fixture.py" "$here_client/../../schema" "$fixture_db"; then
    fail "client fixture database" "client_fixture.py failed"
    return 0 2>/dev/null || exit 1
fi
db=$fixture_db

for cmd in runs layers curve convergence plot alerts status finalize rescan; do
    expect_output "pwcca $cmd --help" "^Usage: pwcca $cmd" "$PWCCA" "$cmd" --help
done

pw_client_checks "$db" deep
pw_client_checks "$db" live
if [ -n "${PW_CLIENT_DB:-}" ]; then
    pw_client_checks "$PW_CLIENT_DB" "${PW_CLIENT_RUN:?PW_CLIENT_RUN names a run in PW_CLIENT_DB}"
fi

# What the fixture's values must make the client say.
expect_output "runs shows a final and a running run" "^deep +final +21 +8 +7 +7 +2000 +2000 +1800\*" pwq "$db" runs
expect_output "runs names the fixture's layer never measured" \
    "^\* deep: 1 of 8 layers never measured .*: head.probe \(insufficient_datapoints\); CONVERGED 1800 covers only the 7 measured layers$" pwq "$db" runs
expect_output "layers shows the probe's status" "head.probe .*insufficient_datapoints" pwq "$db" layers deep
pwq "$db" convergence deep --format json >"$cdir/conv.json"
check_py "convergence deep: layers settled bottom-up, embed first" "$cdir/conv.json" '
import json, sys
c = json.load(open(sys.argv[1]))
assert c["verdict"] == "bottom-up" and c["spearman_rho"] > 0.9, c
assert c["order"][0] == "embed" and c["monotone"] is True, c["order"]
steps = [l["settled_step"] for l in c["layers"] if l["name"] != "head.probe"]
assert steps == sorted(steps), steps
probe = [l for l in c["layers"] if l["name"] == "head.probe"][0]
assert probe["settled_step"] is None and c["ranked_layers"] == 7'
expect_output "convergence table names the verdict" "bottom-up: bottom-up \(Spearman rho" pwq "$db" convergence deep
expect_output "convergence --tau changes the settle steps" "embed +[0-9]+" pwq "$db" convergence deep --tau 0.2
pwq "$db" curve deep --format json >"$cdir/deep.json"
pwq "$db" curve live --format json >"$cdir/live.json"
pwq "$db" curve deep --ref previous --layer head.probe --layer embed --format json >"$cdir/sel.json"
check_py "curve picks its reference and layers; NULL metrics are null" "$cdir/deep.json" '
import json, sys
deep, live, sel = (json.load(open(p)) for p in sys.argv[1:4])
assert {r["ref"] for r in deep} == {"final"} and {r["ref"] for r in live} == {"previous"}
assert [r["layer"] for r in sel][0] == "embed" and {r["layer"] for r in sel} == {"embed", "head.probe"}
probe = [r for r in sel if r["layer"] == "head.probe"]
assert all(r["pwcca"] is None and r["distance"] is None and r["cka"] == 0.91 for r in probe)
assert all(r["status"] == "insufficient_datapoints" and "," in r["message"] for r in probe)' \
    "$cdir/live.json" "$cdir/sel.json"
expect_output "csv quotes a message holding a comma" '"n = 32 <= p_kept \+ q_kept = 1024: too few datapoints, use' \
    pwq "$db" curve deep --ref previous --layer head.probe --format csv

pwq "$db" plot live -o - >"$cdir/stdout.svg"
check_py "plot -o - writes the SVG to stdout, one row of cells per layer" "$cdir/stdout.svg" '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
cells = [e for e in root.iter("{http://www.w3.org/2000/svg}rect") if "cell" in e.get("class", "")]
assert len(cells) == 3 * 5, len(cells)'

# Errors name what exists.
expect_status "unknown run exits 1" 1 pwq "$db" layers nope
expect_output "unknown run lists the known ones" "no run 'nope'; known runs: deep, live, /data/a/twin, /data/b/twin" pwq "$db" curve nope
expect_output "an ambiguous name asks for a path" "ambiguous.*/data/a/twin, /data/b/twin" pwq "$db" layers twin
expect_output "a run named by its path" "has no layers yet" pwq "$db" layers /data/b/twin
expect_status "unknown layer exits 1" 1 pwq "$db" curve deep --layer nope
expect_output "unknown layer lists the run's layers" "no layer 'nope'; its layers: embed, block0.conv, block1.conv" pwq "$db" curve deep --layer nope
expect_output "convergence of a running run says to finalize" "finalize live" pwq "$db" convergence live
expect_status "plot --ref final of a running run exits 1" 1 pwq "$db" plot live --ref final
expect_output "a missing database is named" "database $cdir/none.db does not exist" pwq "$cdir/none.db" runs
"$pw_py" -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("CREATE TABLE t (x)")' "$cdir/plain.db"
expect_output "a database without pwccad's schema is refused" "not a pwccad database" pwq "$cdir/plain.db" runs
expect_status "status of a plain database exits 1" 1 pwq "$cdir/plain.db" runs

# Usage errors exit 2.
expect_status "curve without a run" 2 pwq "$db" curve
expect_status "curve with a bad --ref" 2 pwq "$db" curve deep --ref sideways
expect_status "curve with a bad --format" 2 pwq "$db" curve deep --format xml
expect_status "convergence with a negative tau" 2 pwq "$db" convergence deep --tau -1
expect_status "plot --kind lines needs -o" 2 pwq "$db" plot deep --kind lines
expect_status "runs with an unknown option" 2 pwq "$db" runs --bogus
expect_status "finalize with a bad step" 2 pwq "$db" finalize deep --step soon

# The database is read while a writer holds a transaction open, as the daemon does.
"$pw_py" - "$db" "$cdir/writer.ready" <<'EOF' &
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("INSERT INTO runs (name, path, created_at) VALUES ('uncommitted', '/u', 0)")
open(sys.argv[2], "w").close()
time.sleep(30)
EOF
writer=$!
for _ in $(seq 100); do [ -e "$cdir/writer.ready" ] && break; sleep 0.1; done
expect_output "runs works while the daemon writes, without its uncommitted rows" "^deep" pwq "$db" runs
if pwq "$db" runs | grep -q uncommitted; then fail "uncommitted rows stay invisible" "saw them"; else ok "uncommitted rows stay invisible"; fi
kill "$writer" 2>/dev/null; wait "$writer" 2>/dev/null

# A user who may only read the database (the service's group, say) cannot
# create its -shm file.  Checked as nobody when the tests run as root.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    ro=$(mktemp -d /tmp/pwcca-ro.XXXXXX)
    chmod 755 "$ro"
    "$pw_py" - "$db" "$ro/p.db" <<'EOF2'
import sqlite3, sys
sqlite3.connect(sys.argv[1]).execute("VACUUM INTO ?", (sys.argv[2],))
copy = sqlite3.connect(sys.argv[2])
assert copy.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal"
copy.close()  # the last connection: -wal and -shm are removed
EOF2
    [ ! -e "$ro/p.db-shm" ] || fail "copy without -shm" "$ro/p.db-shm exists"
    chmod 644 "$ro/p.db"
    as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$PWCCA" --db "$ro/p.db" "$@"; }
    expect_output "a read-only user reads a database nobody has open" "^deep +final" as_nobody runs
    "$pw_py" - "$ro/p.db" "$ro/ready" <<'EOF2' &
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode = WAL")
db.execute("PRAGMA wal_autocheckpoint = 0")
db.execute("INSERT INTO runs (name, path, created_at) VALUES ('fresh', '/fresh', 0)")
open(sys.argv[2], "w").close()
time.sleep(30)
EOF2
    holder=$!
    for _ in $(seq 100); do [ -e "$ro/ready" ] && break; sleep 0.1; done
    expect_output "a read-only user sees what the daemon committed to its log" "^fresh +running" as_nobody runs
    kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
    rm -f "$ro/p.db-shm"
    expect_output "a log a read-only user cannot use is explained" "cannot read .*p.db: its write-ahead log" as_nobody runs
    rm -rf "$ro"
fi

# No daemon: control commands fail clearly.
for cmd in status rescan "finalize deep"; do
    # shellcheck disable=SC2086
    expect_status "$cmd without a daemon exits 1" 1 pwq "$db" $cmd
    # shellcheck disable=SC2086
    expect_output "$cmd without a daemon says so" "no daemon is listening on $nosock" pwq "$db" $cmd
done
out=$(pwq "$db" alerts deep --follow 2>&1); rc=$?
if [ "$rc" = 1 ] && grep -q "layer_stable" <<<"$out" && grep -q "cannot follow: no daemon" <<<"$out"; then
    ok "alerts --follow without a daemon prints the history, then fails"
else
    fail "alerts --follow without a daemon prints the history, then fails" "exit $rc: $(head -c 400 <<<"$out")"
fi

# A stand-in daemon on the socket.
sock="$cdir/fake.sock"
log="$cdir/fake.log"
: >"$log"
"$pw_py" "$here_client/fake_pwccad.py" "$sock" "$log" &
fake=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
export PWCCAD_SOCKET_TEST=$sock
expect_output "status shows the daemon and its runs" "^pwccad 0\.1\.0, pid [0-9]+" pwq "$db" status
expect_output "status lists the runs" "^live +running +6 +500" pwq "$db" status
expect_output "status shows retention in one line, in binary units" \
    "^retention: bf16, 3\.2 GiB of 4 GiB, 812 copies, 14 evicted$" pwq "$db" status
expect_output "status shows the last retention error" \
    "^retention error: deep: step 2000 not retained: No space left on device$" pwq "$db" status
pwq "$db" status --format json >"$cdir/status.json"
check_py "status --format json is the daemon's answer" "$cdir/status.json" '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["ok"] is True and s["queue"] == 2 and s["runs"][0]["name"] == "deep"
assert s["retention"]["copies"] == 812 and s["retention"]["budget_bytes"] == 4 << 30'
expect_output "finalize reports the final step" "run deep is final at step 1500" pwq "$db" finalize deep --step 1500
mkdir -p "$cdir/runs/rel"
(cd "$cdir" && PWCCAD_SOCKET=$sock "$PWCCA" --db "$db" finalize ./runs/rel >/dev/null 2>&1)
check_py "finalize sends the run, the step, and absolute paths" "$log" '
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
assert {"cmd": "finalize", "run": "deep", "step": 1500} in reqs, reqs
assert {"cmd": "finalize", "run": sys.argv[2]} in reqs, reqs' "$(cd "$cdir/runs/rel" && pwd -P)"
expect_status "finalize of a run the daemon refuses exits 1" 1 pwq "$db" finalize nope
expect_output "the daemon's refusal is shown" "the daemon refused: no run 'nope'" pwq "$db" finalize nope
expect_output "rescan is queued" "^rescan queued$" pwq "$db" rescan
out=$(timeout 20 env PWCCAD_SOCKET="$sock" "$PWCCA" --db "$db" alerts deep --follow 2>&1); rc=$?
if [ "$rc" = 1 ] && [ "$(grep -c 'layer_unstable  head.fc  2100  0.25$' <<<"$out")" = 1 ] &&
   [ "$(grep -c 'layer_stable    embed  600 ' <<<"$out")" = 1 ] && grep -q "closed the connection" <<<"$out"; then
    ok "alerts --follow streams new alerts once, after the history"
else
    fail "alerts --follow streams new alerts once, after the history" "exit $rc: $(tail -c 600 <<<"$out")"
fi
timeout 20 env PWCCAD_SOCKET="$sock" "$PWCCA" --db "$db" alerts --follow --format json >"$cdir/follow.jsonl" 2>/dev/null
check_py "alerts --follow --format json: history with ids, streamed alert without" "$cdir/follow.jsonl" '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert lines[-1]["kind"] == "layer_unstable" and lines[-1]["id"] is None, lines[-1]
assert all(a["id"] is not None for a in lines[:-1])'
kill "$fake" 2>/dev/null; wait "$fake" 2>/dev/null

# A daemon that misbehaves cannot make the client hang or swallow memory.
for mode in huge garbage; do
    "$pw_py" "$here_client/fake_pwccad.py" "$cdir/$mode.sock" "$cdir/$mode.log" "$mode" &
    bad=$!
    for _ in $(seq 100); do [ -S "$cdir/$mode.sock" ] && break; sleep 0.1; done
    export PWCCAD_SOCKET_TEST="$cdir/$mode.sock"
    want=$([ "$mode" = huge ] && echo "longer than 16777216 bytes" || echo "not a JSON object")
    expect_output "an answer that is $mode is refused" "$want" pwq "$db" status
    expect_status "an answer that is $mode exits 1" 1 pwq "$db" status
    kill "$bad" 2>/dev/null; wait "$bad" 2>/dev/null
done
unset PWCCAD_SOCKET_TEST
