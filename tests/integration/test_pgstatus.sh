# test_pgstatus.sh -- `pwcca status` shows the daemons of a shared PostgreSQL
# store (issue #24): host, pid, start, heartbeat age ("stale" past the lease,
# "stopped" after a clean stop), job and claims, beside the local daemon's
# answer, and on its own when no local daemon answers.  Daemons on other nodes
# are rows written with psql, as their daemons write them (009_share.sql).
#
# A private server as in test_postgres.sh: initdb in a temporary directory
# owned by an unprivileged user (nobody, when run as root), a unix socket in
# that directory only.  Skipped, with the reason, when the server's binaries
# are absent (make deps-postgres).  Sourced by run.sh ($BUILD, $PW_TMP, ok/fail).

ps_skip() { echo "  skip: postgres status tests: $1"; }
ps_bin=$(pg_config --bindir 2>/dev/null)
[ -x "$ps_bin/initdb" ] || ps_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ ! -x "$ps_bin/initdb" ] || [ ! -x "$ps_bin/pg_ctl" ] || [ ! -x "$ps_bin/psql" ]; then
    ps_skip "no PostgreSQL server binaries (initdb, pg_ctl, psql; Debian: postgresql, via make deps-postgres)"
    return 0
fi
pw_need "postgres status tests" numpy || return 0
ps_as=()
if [ "$(id -u)" = 0 ]; then
    if ! command -v runuser >/dev/null || ! id nobody >/dev/null 2>&1; then
        ps_skip "running as root without runuser or a nobody user to run the server as"
        return 0
    fi
    ps_as=(runuser -u nobody --)
fi
ps_py=$(pw_numpy_python)

# Outside $PW_TMP, which the unprivileged server user may not enter.
ps_dir=$(mktemp -d /tmp/pwcca-pgs.XXXXXX)
[ ${#ps_as[@]} = 0 ] || chown nobody "$ps_dir"
ps_ctl() { "${ps_as[@]}" "$ps_bin/pg_ctl" -D "$ps_dir/data" -l "$ps_dir/server.log" -w -t 60 "$@"; }
ps_url="postgresql://pwccad@/postgres?host=$ps_dir"
ps_sql() { "$ps_bin/psql" -qAt -v ON_ERROR_STOP=1 "$ps_url" -c "$1" 2>&1; }
ps_dpid=""
mkdir -p "$PW_TMP/pgs/root"
ps_cleanup() {
    pw_daemon_stop ps_dpid
    ps_ctl stop -m immediate >/dev/null 2>&1
    rm -rf "$ps_dir"
}

if ! "${ps_as[@]}" "$ps_bin/initdb" -D "$ps_dir/data" --no-locale -E UTF8 --auth=trust -U pwccad \
    >"$ps_dir/initdb.log" 2>&1 ||
    ! ps_ctl -o "-k $ps_dir -c listen_addresses=''" start >/dev/null 2>&1; then
    fail "start a private PostgreSQL server" "$(tail -3 "$ps_dir/initdb.log" "$ps_dir/server.log" 2>/dev/null)"
    ps_cleanup
    return 0
fi

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
    grep -q "^daemons of the store postgresql://pwccad@/postgres?host=$ps_dir:$" <<<"$ps_status" &&
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
    "$PWCCA" --db "postgresql://pwccad@/postgres?host=$ps_dir/nowhere" --socket "$PW_TMP/pgs/d.sock" status

ps_cleanup
