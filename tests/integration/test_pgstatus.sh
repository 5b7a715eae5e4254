# test_pgstatus.sh -- `pwcca status` shows the daemons of a shared PostgreSQL
# store (issue #24): host, pid, start, heartbeat age ("stale" past the lease,
# "stopped" after a clean stop), job and claims, beside the local daemon's
# answer, and on its own when no local daemon answers.  Daemons on other nodes
# are rows written with psql, as their daemons write them (009_share.sql).
#
# A private server (pg_server.sh, as test_postgres.sh): initdb in a temporary
# directory owned by an unprivileged user (nobody, when run as root), a unix
# socket in that directory only.  Skipped, with the reason, when the server's binaries
# are absent (make deps-postgres).  Sourced by run.sh ($BUILD, $PW_TMP, ok/fail).

source "$(dirname "${BASH_SOURCE[0]}")/pg_server.sh"
pg_server_find "postgres status tests" || return 0
if [ ! -x "$pg_bin/psql" ]; then
    echo "  skip: postgres status tests: no psql next to the server's binaries (Debian: postgresql-client)"
    return 0
fi
pw_need "postgres status tests" numpy || return 0
ps_py=$(pw_numpy_python)
ps_sql() { "$pg_bin/psql" -qAt -v ON_ERROR_STOP=1 "$pg_url" -c "$1" 2>&1; }
ps_dpid=""
mkdir -p "$PW_TMP/pgs/root"
ps_cleanup() {
    pw_daemon_stop ps_dpid
    pg_server_stop
}

if ! pg_server_start; then
    ps_cleanup
    return 0
fi
ps_url=$pg_url

# The local daemon creates the schema; then three daemons of other nodes appear:
# one working (fresh heartbeat, a job, two claims), one silent for longer than
# its lease, one stopped cleanly.
if ! pw_daemon_start ps_dpid "$PW_TMP/pgs/daemon.log" "$PW_TMP/pgs/d.sock" --watch "$PW_TMP/pgs/root" \
    --db "$ps_url"; then
    fail "pwccad starts on a postgresql:// database" "$(tail -3 "$PW_TMP/pgs/daemon.log")"
    ps_cleanup
    return 0
fi
ps_now="extract(epoch FROM now())"
ps_out=$(ps_sql "INSERT INTO daemons (host, pid, started_at, heartbeat_at, lease_s, job, stopped_at) VALUES
    ('node-x', 4242, $ps_now - 600, $ps_now - 2, 30, 'run b step 50', NULL),
    ('node-y', 4343, $ps_now - 900, $ps_now - 100, 30, NULL, NULL),
    ('node-z', 4444, $ps_now - 950, $ps_now - 400, 30, NULL, $ps_now - 400);
    INSERT INTO claims (unit, daemon_id, lease_until, claimed_at)
    SELECT u, id, $ps_now + 28, $ps_now - 60 FROM daemons, (VALUES ('run:1'), ('group:pair')) v(u)
    WHERE host = 'node-x';
    INSERT INTO claims (unit, daemon_id, lease_until, claimed_at)
    SELECT 'run:2', id, $ps_now - 70, $ps_now - 200 FROM daemons WHERE host = 'node-y'")
[ -z "$ps_out" ] || fail "psql writes the other nodes' daemons" "$ps_out"

ps_status=$("$PWCCA" --db "$ps_url" --socket "$PW_TMP/pgs/d.sock" status 2>&1)
if grep -q "^pwccad .*, pid $ps_dpid," <<<"$ps_status" &&
    grep -q "^daemons of the store postgresql://pwccad@/postgres?host=$pg_dir:$" <<<"$ps_status" &&
    grep -Eq "^ *[0-9]+ +node-x +4242 +[0-9-]+ [0-9:]+Z +[0-9.]+ s ago +30.0 s +running +run b step 50 +group:pair, run:1$" <<<"$ps_status" &&
    grep -Eq "^ *[0-9]+ +node-y +4343 .* 1 min 4[0-9] s ago +30.0 s +stale +idle +run:2$" <<<"$ps_status" &&
    grep -Eq "^ *[0-9]+ +node-z +4444 .* +stopped +idle +-$" <<<"$ps_status" &&
    grep -Eq "^ *[0-9]+\* +$(hostname) +$ps_dpid .* s ago +30.0 s +running +idle +-$" <<<"$ps_status" &&
    grep -q "^\* this machine's daemon" <<<"$ps_status"; then
    ok "status: the local daemon's answer, then the store's daemons (host, pid, heartbeat age, running/stale/stopped, job, claims; itself marked *)"
else
    fail "status shows the store's daemons" "$ps_status"
fi

ps_json() {
    "$ps_py" -c '
import json, sys
r = json.loads(sys.argv[1])
d = {x["host"]: x for x in r["daemons"]}
x, y, z = d["node-x"], d["node-y"], d["node-z"]
assert x["pid"] == 4242 and x["state"] == "running" and x["job"] == "run b step 50", x
assert x["claims"] == ["group:pair", "run:1"] and x["lease_s"] == 30 and x["stopped_at"] is None, x
assert 0 <= x["heartbeat_age_s"] < 30 and abs(x["heartbeat_at"] - x["started_at"] - 598) < 1, x
assert y["state"] == "stale" and y["job"] is None and y["claims"] == ["run:2"], y
assert z["state"] == "stopped" and z["claims"] == [] and z["stopped_at"] is not None, z
want = sys.argv[2]
me = [x for x in r["daemons"] if x["pid"] == int(sys.argv[3])]
assert len(me) == 1 and me[0]["state"] == ("running" if want == "local" else "stopped"), r["daemons"]
assert want != "local" or r["share"]["daemon_id"] == me[0]["id"], r.get("share")
assert (want == "local") == ("pid" in r and "local_error" not in r), sorted(r)
assert want == "local" or "no daemon is listening" in r["local_error"], r
print("daemons", len(r["daemons"]), want)' "$1" "$2" "$ps_pid" 2>&1
}
ps_pid=$ps_dpid
expect_output "status --format json: the daemon's answer plus \"daemons\" (state, heartbeat age, claims)" \
    "^daemons [0-9]+ local$" ps_json \
    "$("$PWCCA" --db "$ps_url" --socket "$PW_TMP/pgs/d.sock" status --format json 2>&1)" local

# Without a local daemon the store's daemons are still shown; PWCCAD_DB names the store as --db.
pw_daemon_stop ps_dpid
ps_status=$("$PWCCA" --db "$ps_url" --socket "$PW_TMP/pgs/d.sock" status 2>&1)
ps_rc=$?
if [ "$ps_rc" = 0 ] && grep -q "^no local daemon: no daemon is listening on $PW_TMP/pgs/d.sock" <<<"$ps_status" &&
    grep -Eq "node-x +4242 .* running " <<<"$ps_status" && ! grep -q "^pwccad " <<<"$ps_status" &&
    grep -Eq "^ *[0-9]+ +$(hostname) +$ps_pid .* +stopped +idle +-$" <<<"$ps_status"; then
    ok "status without a local daemon: exit 0, the store's daemons only (the one stopped says so)"
else
    fail "status without a local daemon" "exit $ps_rc: $ps_status"
fi
expect_output "status --format json without a local daemon: {\"daemons\", \"local_error\"}" \
    "^daemons [0-9]+ none$" ps_json \
    "$(PWCCAD_DB="$ps_url" "$PWCCA" --socket "$PW_TMP/pgs/d.sock" status --format json 2>&1)" none

# A store that names no daemon, and SQLite (whose table stays empty): as before, exit 1.
ps_sql "DELETE FROM daemons" >/dev/null
expect_status "status with no local daemon and no daemon in the store exits 1" 1 \
    "$PWCCA" --db "$ps_url" --socket "$PW_TMP/pgs/d.sock" status
ps_status=$("$PWCCA" --db "$PW_TMP/pgs/none.db" --socket "$PW_TMP/pgs/d.sock" status 2>&1)
ps_rc=$?
if [ "$ps_rc" = 1 ] && [ "$(wc -l <<<"$ps_status")" = 1 ] &&
    grep -q "^pwcca: no daemon is listening on $PW_TMP/pgs/d.sock" <<<"$ps_status"; then
    ok "on SQLite status without a daemon fails as before: one line, no store section"
else
    fail "status on SQLite without a daemon" "exit $ps_rc: $ps_status"
fi
expect_output "an unreachable store is named when no local daemon answers either" \
    "no daemon is listening.*; and the store's daemons are unknown: .*cannot connect" \
    "$PWCCA" --db "postgresql://pwccad@/postgres?host=$pg_dir/nowhere" --socket "$PW_TMP/pgs/d.sock" status

ps_cleanup
