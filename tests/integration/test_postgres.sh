# test_postgres.sh -- PostgreSQL as the store (--db postgresql://...): a real
# server of its own, the daemon writing there while the C trainer writes a run,
# a server restart in the middle, and the client reading it back.
#
# The test starts a private server (pg_server.sh: initdb in a temporary
# directory owned by an unprivileged user, listening on a unix socket in that
# directory only).  A second daemon scores the same run into SQLite, so
# every client command can be compared between the two stores.  Skipped, with
# the reason, when the server's binaries are absent (make deps-postgres).
# Sourced by run.sh ($BUILD, $PW_TMP, ok/fail/expect from lib.sh).

source "$(dirname "${BASH_SOURCE[0]}")/pg_server.sh"
pg_server_find "postgres tests" || return 0
pw_need "postgres tests" numpy "$BUILD/examples/trainer" || return 0
pg_py=$(pw_numpy_python)

pg_root="$PW_TMP/pg/root"
pg_lite="$PW_TMP/pg/lite.db"
mkdir -p "$pg_root"
pg_dpid=""
pg_lpid=""
pg_tpid=""

pg_cleanup() {
    [ -n "$pg_tpid" ] && kill "$pg_tpid" 2>/dev/null && wait "$pg_tpid" 2>/dev/null
    pw_daemon_stop pg_dpid
    pw_daemon_stop pg_lpid
    pg_server_stop
}

if ! pg_server_start; then
    pg_cleanup
    return 0
fi
ok "a private PostgreSQL server runs on a unix socket only"

# --- before any daemon: the client's messages -------------------------------------------
expect_output "the client says a database pwccad never wrote is not a pwccad database" \
    "is not a pwccad database" "$PWCCA" --db "$pg_url" runs
expect_output "an unreachable server is named in the message" "cannot connect to database" \
    "$PWCCA" --db "postgresql://pwccad@/postgres?host=$pg_dir/nowhere" runs

# --- the daemon writes a run while it is trained; the server restarts midway --------------
# 25 checkpoints, one every 150 ms or so: long enough to restart the server in the middle.
"$BUILD/examples/trainer" --out "$pg_root/b" --steps 1200 --every 50 --hidden 32,32,32 \
    --probe 300 --seed 5 --sleep-ms 150 --quiet >"$PW_TMP/pg/trainer.log" 2>&1 &
pg_tpid=$!
if pw_daemon_start pg_dpid "$PW_TMP/pg/daemon.log" "$PW_TMP/pg/d.sock" --watch "$pg_root" \
    --db "$pg_url"; then
    ok "pwccad starts on a postgresql:// database"
else
    fail "pwccad starts on a postgresql:// database" "$(tail -3 "$PW_TMP/pg/daemon.log")"
fi
pw_daemon_start pg_lpid "$PW_TMP/pg/lite.log" "$PW_TMP/pg/l.sock" --watch "$pg_root" --db "$pg_lite" ||
    fail "the SQLite twin starts" "$(tail -3 "$PW_TMP/pg/lite.log")"

# pg_stored: checkpoints of run b the PostgreSQL store holds (0 when none yet).
pg_stored() {
    "$PWCCA" --db "$pg_url" runs 2>/dev/null | awk '$1 == "b" { print $3 }'
}
pg_midway() { [ "$(pg_stored)" -ge 6 ] 2>/dev/null; }
if pw_wait 30 pg_midway; then
    if pg_ctl restart -m fast >/dev/null 2>&1; then
        ok "the server restarts while the daemon writes (after $(pg_stored) checkpoints)"
    else
        fail "pg_ctl restart" "$(tail -3 "$pg_dir/server.log")"
    fi
else
    fail "the daemon stores checkpoints in PostgreSQL" "$(tail -3 "$PW_TMP/pg/daemon.log")"
fi
wait "$pg_tpid"
pg_tpid=""

# Done when both stores hold every score: 24 previous pairs and 25 final ones, 4 layers each.
pg_rows() { "$PWCCA" --db "$1" curve b --ref "$2" --format csv 2>/dev/null | tail -n +2 | wc -l; }
pg_done() {
    [ "$(pg_rows "$pg_url" previous)" = 96 ] && [ "$(pg_rows "$pg_url" final)" = 100 ] &&
        [ "$(pg_rows "$pg_lite" previous)" = 96 ] && [ "$(pg_rows "$pg_lite" final)" = 100 ] &&
        "$PWCCA" --db "$pg_url" runs | grep -qE '^b +final +25 '
}
pw_expect_wait "no score is lost across the restart: every pair of the run is stored" 60 pg_done

# --- every score equals pwcca compare on the same files (to 1e-12) --------------------------
pg_check_compare() {
    "$pg_py" - "$PWCCA" "$pg_url" "$pg_root/b" <<'EOF'
import json, subprocess, sys
pwcca, url, run = sys.argv[1:4]
metrics = ["pwcca", "distance", "mean_cca", "svcca", "cka", "cka_debiased", "procrustes"]
pairs, bad, n = {}, 0, 0
for ref in ("previous", "final"):
    rows = json.loads(subprocess.check_output([pwcca, "--db", url, "curve", "b", "--ref", ref, "--format", "json"]))
    for r in rows:
        pairs.setdefault((r["step"], r["ref_step"]), {})[r["layer"]] = r
for (step, ref_step), stored in sorted(pairs.items()):
    f = lambda s: "%s/step-%06d.safetensors" % (run, s)
    got = json.loads(subprocess.check_output([pwcca, "compare", f(step), f(ref_step), "--json"]))
    for l in got["layers"]:
        s = stored.get(l["layer"])
        n += 1
        if s is None:
            bad += 1
            print("missing", step, ref_step, l["layer"])
            continue
        for k in metrics:
            a, b = s[k], l[k]
            if (a is None) != (b is None) or (a is not None and abs(a - b) > 1e-12):
                bad += 1
                print("differs", step, ref_step, l["layer"], k, a, b)
        for k in ("status", "n", "p_kept", "q_kept"):
            if s[k] != l[k]:
                bad += 1
                print("differs", step, ref_step, l["layer"], k, s[k], l[k])
print("mismatches", bad, "scores", n)
sys.exit(1 if bad or n != 196 else 0)
EOF
}
expect_output "every stored score equals pwcca compare on the same files to 1e-12" \
    "^mismatches 0 scores 196$" pg_check_compare

# --- chance levels: one row per layer in PostgreSQL, as pwcca compare --chance says ----------
# pg_chance_rows DB: "layer|step_a|step_b|seed|status|metrics..." of run b's chance rows.
pg_chance_cols="c.layer, c.step_a, c.step_b, c.seed, c.status, c.pwcca, c.distance, c.mean_cca, c.svcca, c.cka, c.cka_debiased, c.procrustes"
pg_chance_rows() {
    local q="SELECT $pg_chance_cols FROM chance c JOIN runs r ON r.id = c.run_id WHERE r.name = 'b' ORDER BY c.layer"
    if [ "$1" = pg ]; then
        "$pg_bin/psql" -qAt -F '|' "$pg_url" -c "$q"
    else
        "$pg_py" -c 'import sqlite3, sys
for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]):
    print("|".join("" if v is None else repr(v) if isinstance(v, float) else str(v) for v in r))' \
            "$pg_lite" "$q"
    fi
}
pg_chance_four() { [ "$(pg_chance_rows pg | wc -l)" = 4 ] && [ "$(pg_chance_rows lite | wc -l)" = 4 ]; }
pw_wait 20 pg_chance_four
pg_check_chance() {
    "$pg_py" - "$PWCCA" "$pg_root/b" "$(pg_chance_rows pg)" "$(pg_chance_rows lite)" <<'EOF'
import json, subprocess, sys
pwcca, run, pg, lite = sys.argv[1:5]
names = ["pwcca", "distance", "mean_cca", "svcca", "cka", "cka_debiased", "procrustes"]
f = lambda s: "%s/step-%06d.safetensors" % (run, s)
cache, bad = {}, 0
for store, text in (("postgresql", pg), ("sqlite", lite)):
    rows = [l.split("|") for l in text.splitlines()]
    if len(rows) != 4 or len({r[0] for r in rows}) != 4:
        sys.exit("%s: not one chance row per layer: %r" % (store, rows))
    for r in rows:
        key = (int(r[1]), int(r[2]))
        if key not in cache:
            out = subprocess.check_output([pwcca, "compare", f(key[0]), f(key[1]), "--chance", "--json"])
            cache[key] = {l["layer"]: l["chance"] for l in json.loads(out)["layers"]}
        c = cache[key][r[0]]
        if r[3] != str(c["seed"]) or r[4] != c["status"]:
            bad += 1
            print(store, r[0], "seed/status", r[3:5], c["seed"], c["status"])
        for k, v in zip(names, r[5:]):
            if (v == "") != (c[k] is None) or (v != "" and abs(float(v) - c[k]) > 1e-12):
                bad += 1
                print(store, r[0], k, v, c[k])
print("chance mismatches", bad)
sys.exit(1 if bad else 0)
EOF
}
expect_output "PostgreSQL stores one chance level per layer, each equal to pwcca compare --chance (1e-12), as SQLite does" \
    "^chance mismatches 0$" pg_check_chance
# pg_curve_chance: every curve row carries its layer's stored chance level.  The
# two daemons may take different first pairs (timing decides which pair of a
# layer scores first), so each store is checked against its own chance rows,
# which pg_check_chance checked against pwcca compare --chance.
pg_curve_chance() {
    "$pg_py" - "$("$PWCCA" --db "$pg_url" curve b --ref previous --format json)" \
        "$("$PWCCA" --db "$pg_lite" curve b --ref previous --format json)" \
        "$(pg_chance_rows pg)" "$(pg_chance_rows lite)" <<'EOF'
import json, sys
curves = [json.loads(t) for t in sys.argv[1:3]]
stored = [{l.split("|")[0]: float(l.split("|")[6]) for l in t.splitlines()} for t in sys.argv[3:5]]
for rows, chance in zip(curves, stored):
    assert len(rows) == 96, len(rows)
    for r in rows:
        u = r.get("chance_distance")
        assert u is not None and abs(u - chance[r["layer"]]) <= 1e-12, (r["layer"], r["step"], u)
print("chance_distance on", len(curves[0]), "rows")
EOF
}
expect_output "curve --format json: chance_distance on every row, its layer's stored chance level, in both stores" \
    "^chance_distance on 96 rows$" pg_curve_chance

# --- the client reads the same answers from both stores ---------------------------------------
# pg_same NAME FILTER ARGS...: the command's output is the same on both (through FILTER).
pg_same() {
    local name=$1 filter=$2 a b
    shift 2
    a=$("$PWCCA" --db "$pg_url" "$@" 2>&1 | $filter)
    b=$("$PWCCA" --db "$pg_lite" "$@" 2>&1 | $filter)
    if [ -n "$a" ] && [ "$a" = "$b" ]; then
        ok "$name"
    else
        fail "$name" "$(diff <(echo "$a") <(echo "$b") | head -6)"
    fi
}
pg_no_time() { sed -E 's/^[0-9T:-]+Z  //' | sort; }
pg_status_table() { sed -n '/^RUN /,/^b  /p'; }
# The two daemons computed their scores apart (in another order, with other
# cached sides), so their last digits may differ: JSON outputs are compared
# value by value, reals to 1e-12, rows in a stable order, alert ids and
# creation times aside (the order alerts are raised in depends on timing).
pg_same_json() {
    local name=$1 a b out
    shift
    a=$("$PWCCA" --db "$pg_url" "$@" 2>&1)
    b=$("$PWCCA" --db "$pg_lite" "$@" 2>&1)
    if out=$("$pg_py" -c '
import json, sys
def load(t):
    t = t.strip()
    rows = json.loads(t) if t.startswith("[") else [json.loads(l) for l in t.splitlines()]
    for r in rows:
        # chance_distance: of the first pair each daemon scored (timing), checked above.
        for k in ("id", "time", "created_at", "chance_distance"):
            r.pop(k, None)
    return sorted(rows, key=lambda r: json.dumps({k: v for k, v in r.items() if not isinstance(v, float)}, sort_keys=True))
a, b = load(sys.argv[1]), load(sys.argv[2])
bad = len(a) != len(b) or not a
for x, y in zip(a, b):
    for k in set(x) | set(y):
        u, v = x.get(k), y.get(k)
        if isinstance(u, float) and isinstance(v, float):
            bad |= abs(u - v) > 1e-12
        else:
            bad |= u != v
        if bad:
            sys.exit("first difference: %s: %r vs %r" % (k, u, v))
print(len(a), "rows")
sys.exit(1 if bad else 0)' "$a" "$b" 2>&1); then
        ok "$name ($out)"
    else
        fail "$name" "$out"
    fi
}
pg_same "runs: the same on PostgreSQL as on SQLite" cat runs
pg_same "runs --format json: the same" cat runs --format json
pg_same "layers: the same" cat layers b
pg_same_json "curve (previous, json, every digit): the same to 1e-12" curve b --ref previous --format json
pg_same_json "curve (final, json): the same to 1e-12" curve b --ref final --format json
pg_same_json "curve of one layer: the same to 1e-12" curve b --layer fc2 --format json
pg_same "curve of an unknown layer: the same message" cat curve b --layer nope
pg_same "alerts: the same (creation times and order aside)" pg_no_time alerts
pg_same_json "alerts --format json: the same (ids, times and order aside)" alerts b --format json
pg_same "convergence: the same" cat convergence b
pg_same "an unknown run: the same message" cat layers nope
# status asks each store's own daemon; its table of runs comes from the store.
pg_sa=$("$PWCCA" --db "$pg_url" --socket "$PW_TMP/pg/d.sock" status 2>&1 | pg_status_table)
pg_sb=$("$PWCCA" --db "$pg_lite" --socket "$PW_TMP/pg/l.sock" status 2>&1 | pg_status_table)
if [ -n "$pg_sa" ] && [ "$pg_sa" = "$pg_sb" ]; then
    ok "status: the same table of runs"
else
    fail "status: the same table of runs" "$(diff <(echo "$pg_sa") <(echo "$pg_sb") | head -6)"
fi
expect_output "the restart was ridden out without a fatal error" "b +final +25" \
    "$PWCCA" --db "$pg_url" --socket "$PW_TMP/pg/d.sock" status

# --- a restarted daemon resumes from the database: nothing is scored again -------------------
pw_daemon_stop pg_dpid
pg_exit1=$?
pg_before=$("$PWCCA" --db "$pg_url" alerts --format json | wc -l)
if pw_daemon_start pg_dpid "$PW_TMP/pg/daemon2.log" "$PW_TMP/pg/d.sock" --watch "$pg_root" \
    --db "$pg_url" --http 127.0.0.1:0; then
    # Once its first scan is done it has matched every file against the store.
    pw_wait 20 grep -q "ready: 1 run" "$PW_TMP/pg/daemon2.log"
    if grep -q "watching run .*(25 checkpoints stored, final)" "$PW_TMP/pg/daemon2.log" &&
        ! grep -q "computing step" "$PW_TMP/pg/daemon2.log" &&
        [ "$("$PWCCA" --db "$pg_url" alerts --format json | wc -l)" = "$pg_before" ]; then
        ok "a daemon restarted on the same database scores nothing again, raises no alert twice"
    else
        fail "a restarted daemon resumes" "$(grep -m3 'computing step' "$PW_TMP/pg/daemon2.log")"
    fi
    # The dashboard reads the same store: its curve is pwcca curve's JSON.
    pg_port=$(sed -n 's|.*dashboard at http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$PW_TMP/pg/daemon2.log" | head -1)
    pg_web=$(curl -s "http://127.0.0.1:$pg_port/api/run/b/curve?ref=final" 2>&1)
    pg_cli=$("$PWCCA" --db "$pg_url" curve b --ref final --format json 2>&1)
    if [ -n "$pg_port" ] && "$pg_py" -c 'import json, sys; a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2]); sys.exit(not (a == b and len(a) == 100))' "$pg_web" "$pg_cli" 2>/dev/null; then
        ok "the dashboard serves the run from PostgreSQL: its curve is pwcca curve's"
    else
        fail "the dashboard on PostgreSQL" "port '$pg_port': $(head -c 300 <<<"$pg_web")"
    fi
else
    fail "pwccad restarts on the same database" "$(tail -3 "$PW_TMP/pg/daemon2.log")"
fi

# --- rescore replaces stored rows in place (a group's delete and its new scores) ---------------
if "$PWCCA" --db "$pg_url" --socket "$PW_TMP/pg/d.sock" rescore b --from 1000 --wait >"$PW_TMP/pg/rescore.log" 2>&1; then
    expect_output "rescored scores still equal pwcca compare, none twice" "^mismatches 0 scores 196$" pg_check_compare
else
    fail "pwcca rescore on PostgreSQL" "$(tail -3 "$PW_TMP/pg/rescore.log")"
fi

# --- forget, and a schema from the future --------------------------------------------------------
pw_daemon_stop pg_dpid
pg_exit2=$?
pw_daemon_stop pg_lpid
if [ "$pg_exit1$pg_exit2" = 00 ] && ! grep -Eq "Sanitizer|runtime error" "$PW_TMP"/pg/*.log; then
    ok "pwccad on PostgreSQL stops cleanly, twice (exit 0, no sanitizer reports)"
else
    fail "pwccad on PostgreSQL stops cleanly" "exit $pg_exit1, $pg_exit2; $(grep -hE -m3 "Sanitizer|runtime error" "$PW_TMP"/pg/*.log)"
fi
pg_fa=$("$PWCCA" --db "$pg_url" --socket "$PW_TMP/pg/d.sock" forget b 2>&1 | head -1)
pg_fb=$("$PWCCA" --db "$pg_lite" --socket "$PW_TMP/pg/l.sock" forget b 2>&1 | head -1)
# The run's id may differ between the stores; the counts may not.
if [[ $pg_fa == "forgot run b "*": 25 checkpoints, 196 scores, "* ]] &&
    [ "${pg_fa/, id [0-9]*)/}" = "${pg_fb/, id [0-9]*)/}" ]; then
    ok "forget removes the same rows as on SQLite ($pg_fa)"
else
    fail "forget removes the same rows as on SQLite" "$pg_fa / $pg_fb"
fi
expect_output "a forgotten run is gone from the store" "^no runs yet" "$PWCCA" --db "$pg_url" runs
if "$pg_bin/psql" -q "$pg_url" -c "UPDATE pwccad_schema SET version = 999" >/dev/null 2>&1; then
    expect_status "pwccad refuses a database of a newer schema (exit 78, no restart loop)" 78 \
        timeout 20 "$PWCCAD" --db "$pg_url" --watch "$pg_root" --socket "$PW_TMP/pg/d.sock" --foreground
    expect_output "pwcca says to upgrade it" "schema version 999 .*upgrade pwcca" "$PWCCA" --db "$pg_url" runs
else
    fail "psql sets the schema version" "$("$pg_bin/psql" "$pg_url" -c 'SELECT 1' 2>&1 | tail -1)"
fi

# --- a run group on PostgreSQL: the same cross-run scores, groups and clusters as SQLite ----------
# A database of its own on the same server, and two small runs of one group.
pg_gurl="postgresql://pwccad@/pwg?host=$pg_dir"
pg_glite="$PW_TMP/pg/glite.db"
pg_gq() { "$pg_bin/psql" -qAt "$pg_gurl" -c "$1" 2>&1; }
mkdir -p "$PW_TMP/pg/groot"
for pg_s in 1 2; do
    "$BUILD/examples/trainer" --out "$PW_TMP/pg/groot/g$pg_s" --seed "$pg_s" --hidden 16,16 \
        --steps 100 --every 50 --probe 300 --quiet >/dev/null 2>&1
done
printf 'settle_time = 0.1\nrescan_interval = 1\n[group pair]\nruns = g?\n' >"$PW_TMP/pg/g.conf"
if "$pg_bin/psql" -q "$pg_url" -c "CREATE DATABASE pwg" >/dev/null 2>&1 &&
    pw_daemon_start pg_dpid "$PW_TMP/pg/gdaemon.log" "$PW_TMP/pg/gd.sock" --watch "$PW_TMP/pg/groot" \
        --db "$pg_gurl" --config "$PW_TMP/pg/g.conf" &&
    pw_daemon_start pg_lpid "$PW_TMP/pg/glite.log" "$PW_TMP/pg/gl.sock" --watch "$PW_TMP/pg/groot" \
        --db "$pg_glite" --config "$PW_TMP/pg/g.conf"; then
    # pg_gdone: both stores hold the group's three cross pairs (steps 0, 50, 100).
    pg_gsteps() {
        "$PWCCA" --db "$1" group pair --format json 2>/dev/null | "$pg_py" -c '
import json, sys
print(sorted({(r["step_a"], r["step_b"]) for r in json.load(sys.stdin)}))'
    }
    pg_gdone() {
        [ "$(pg_gsteps "$pg_gurl")" = "[(0, 0), (50, 50), (100, 100)]" ] &&
            [ "$(pg_gsteps "$pg_glite")" = "[(0, 0), (50, 50), (100, 100)]" ]
    }
    pw_expect_wait "the PostgreSQL daemon stores a [group]'s cross pairs (steps 0, 50, 100), as SQLite" 60 pg_gdone
    pg_url=$pg_gurl pg_lite=$pg_glite pg_same_json "group NAME --format json: the same from both stores (1e-12)" \
        group pair --format json
    pg_gca=$("$PWCCA" --db "$pg_gurl" cluster pair --json 2>&1)
    pg_gcb=$("$PWCCA" --db "$pg_glite" cluster pair --json 2>&1)
    if pg_gout=$("$pg_py" -c '
import json, sys
def same(u, v, at):
    if isinstance(u, float) or isinstance(v, float):
        assert isinstance(u, (int, float)) and isinstance(v, (int, float)) and abs(u - v) <= 1e-12, (at, u, v)
    elif isinstance(u, dict):
        assert isinstance(v, dict) and set(u) == set(v), (at, u, v)
        for k in u:
            same(u[k], v[k], at + "." + k)
    elif isinstance(u, list):
        assert isinstance(v, list) and len(u) == len(v), (at, u, v)
        for i, (x, y) in enumerate(zip(u, v)):
            same(x, y, "%s[%d]" % (at, i))
    else:
        assert u == v, (at, u, v)
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
same(a, b, "")
print(a["runs"])' "$pg_gca" "$pg_gcb" 2>&1); then
        ok "cluster NAME --json: the same from both stores (1e-12): $pg_gout"
    else
        fail "cluster NAME --json: the same from both stores" "$(tail -c 400 <<<"$pg_gout")"
    fi
    # rescore on PostgreSQL forgets the run's chance levels and computes them again.
    pg_gnl=$(pg_gq "SELECT COUNT(*) FROM chance c JOIN runs r ON r.id = c.run_id WHERE r.name = 'g2'")
    if "$PWCCA" --db "$pg_gurl" --socket "$PW_TMP/pg/gd.sock" rescore g2 --from 0 --wait >"$PW_TMP/pg/grescore.log" 2>&1 &&
        grep -q "rescore from step 0: .* $pg_gnl chance levels* to compute again" "$PW_TMP/pg/gdaemon.log" &&
        pw_wait 20 test "$(pg_gq "SELECT COUNT(*) FROM chance c JOIN runs r ON r.id = c.run_id WHERE r.name = 'g2'")" = "$pg_gnl"; then
        ok "rescore on PostgreSQL forgets the run's $pg_gnl chance levels and stores them again"
    else
        fail "rescore on PostgreSQL and chance levels" "$pg_gnl; $(grep -m1 'rescore from' "$PW_TMP/pg/gdaemon.log")"
    fi
else
    fail "the PostgreSQL and SQLite daemons start with a [group]" "$(tail -3 "$PW_TMP/pg/gdaemon.log" "$PW_TMP/pg/glite.log" 2>&1)"
fi
pw_daemon_stop pg_dpid
pg_gexit=$?
pw_daemon_stop pg_lpid
if [ "$pg_gexit" = 0 ] && ! grep -Eq "Sanitizer|runtime error" "$PW_TMP/pg/gdaemon.log" "$PW_TMP/pg/glite.log"; then
    ok "pwccad with a [group] on PostgreSQL stops cleanly (exit 0, no sanitizer reports)"
else
    fail "pwccad with a [group] on PostgreSQL stops cleanly" "exit $pg_gexit; $(grep -hE -m3 "Sanitizer|runtime error" "$PW_TMP/pg/gdaemon.log")"
fi
# forget on PostgreSQL takes the run's chance levels and its group rows, as on SQLite.
pg_gcount() {
    local q="SELECT (SELECT COUNT(*) FROM chance), (SELECT COUNT(*) FROM group_scores)"
    if [ "$1" = pg ]; then pg_gq "$q" | tr '|' ' '; else "$pg_py" -c 'import sqlite3, sys
print(*sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone())' "$pg_glite" "$q"; fi
}
pg_gbefore="$(pg_gcount pg) / $(pg_gcount lite)"
"$PWCCA" --db "$pg_gurl" --socket "$PW_TMP/pg/gd.sock" forget g1 >/dev/null 2>&1
"$PWCCA" --db "$pg_glite" --socket "$PW_TMP/pg/gl.sock" forget g1 >/dev/null 2>&1
pg_gafter="$(pg_gcount pg) / $(pg_gcount lite)"
read -r pg_gc pg_gg _ <<<"$pg_gafter"
if [ "$(pg_gcount pg)" = "$(pg_gcount lite)" ] && [ "$pg_gg" = 0 ] && [ "$pg_gc" -gt 0 ] &&
    [ "$pg_gbefore" != "$pg_gafter" ]; then
    ok "forget on PostgreSQL removes the run's chance levels and group rows, as on SQLite ($pg_gbefore -> $pg_gafter)"
else
    fail "forget on PostgreSQL removes chance and group rows" "chance, group_scores: $pg_gbefore -> $pg_gafter"
fi

pg_cleanup
