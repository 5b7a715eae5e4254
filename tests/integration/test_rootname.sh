# test_rootname.sh -- a run's identity in a shared PostgreSQL store is its watch
# root's name and its directory there, not a node's mount point (issue #24).
#
# Two daemons, one after the other, watch the SAME run directory through two
# different paths under one root name: the first as `watch = share=DIR` in its
# config file at <tmp>/a/share/runs; then the directory is renamed to
# <tmp>/b/mnt/runs (a rename keeps inodes and times: what a second node's
# other mount point shows), and the second daemon watches it with `--watch
# share=DIR`.  The store must hold one run; the second daemon must not
# recompute what the first stored (it reads the first's checkpoint paths under
# its own), and score only the two checkpoints that arrive after it starts.
# Then a run row as schema 8 left it (no root) is adopted, not duplicated.
# Skipped, with the reason, when the PostgreSQL server binaries are absent.
# Sourced by run.sh ($BUILD, $PW_TMP, ok/fail from lib.sh).

source "$(dirname "${BASH_SOURCE[0]}")/pg_server.sh"
pg_server_find "root name tests" || return 0
if [ ! -x "$pg_bin/psql" ]; then
    echo "  skip: root name tests: no psql next to the server's binaries (Debian: postgresql-client)"
    return 0
fi
pw_need "root name tests" numpy "$BUILD/examples/trainer" || return 0
id_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
id_py=$(pw_numpy_python)
id_sql() { "$pg_bin/psql" "$pg_url" -XAtq -c "$1"; }
I="$PW_TMP/rootname"
mkdir -p "$I/a/share/runs/r" "$I/b"
id_pid=""
id_stops=""

id_cleanup() {
    pw_daemon_stop id_pid
    pg_server_stop
}

if ! pg_server_start; then
    id_cleanup
    return 0
fi
id_url=$pg_url

# Nine checkpoints (steps 0..400); the run starts with the first seven, no FINAL.
"$BUILD/examples/trainer" --out "$I/stage" --steps 400 --every 50 --hidden 16,16 --probe 96 \
    --seed 4 --no-final --quiet >"$I/trainer.log" 2>&1 ||
    fail "the trainer writes the checkpoints" "$(tail -2 "$I/trainer.log")"
for s in 0 50 100 150 200 250 300; do
    mv "$I/stage/step-$(printf %06d $s).safetensors" "$I/a/share/runs/r/"
done

# id_steps_are N: N distinct steps have stored previous-reference scores.
id_steps_are() {
    [ "$(id_sql "SELECT COUNT(DISTINCT step) FROM scores WHERE ref = 'previous' AND status = 'ok'")" = "$1" ]
}
# id_scores: every score row with when it was computed (a recomputation changes it).
id_scores() {
    id_sql "SELECT run_id, layer, step, ref, ref_step, computed_at FROM scores ORDER BY 1, 2, 3, 4"
}
# id_idle: the daemon has nothing queued.
id_idle() {
    "$id_py" "$id_here/sockreq.py" "$I/d.sock" '{"cmd": "status"}' |
        "$id_py" -c 'import json, sys; sys.exit(json.loads(sys.stdin.readline())["queue"] != 0)'
}

# --- node A: the root named in the config file -------------------------------------------
printf 'watch = share=%s\nsettle_time = 0.2\nrescan_interval = 1\nworkers = 1\nblas_threads = 1\n' \
    "$I/a/share/runs" >"$I/a.conf"
pw_daemon_start id_pid "$I/a.log" "$I/d.sock" --config "$I/a.conf" --db "$id_url" ||
    fail "pwccad starts on node A's path" "$(tail -3 "$I/a.log")"
pw_expect_wait "node A scores the run's six pairs" 60 id_steps_are 6
pw_wait 20 id_idle
pw_daemon_stop id_pid
id_stops="$id_stops $?"
id_before=$(id_scores)
if [ "$(id_sql "SELECT root || '|' || rel || '|' || path FROM runs")" = "share|r|$I/a/share/runs/r" ]; then
    ok "the run is stored as root 'share', directory 'r', first seen at node A's path"
else
    fail "the run's root and rel" "$(id_sql "SELECT root, rel, path FROM runs")"
fi

# --- node B: the same directory at another path, the root named on the command line -------
mv "$I/a/share" "$I/b/mnt"
pw_daemon_start id_pid "$I/b.log" "$I/d.sock" --watch "share=$I/b/mnt/runs" --db "$id_url" ||
    fail "pwccad starts on node B's path" "$(tail -3 "$I/b.log")"
pw_wait 10 grep -q "watching run $I/b/mnt/runs/r" "$I/b.log"
mv "$I/stage/step-000350.safetensors" "$I/stage/step-000400.safetensors" "$I/b/mnt/runs/r/"
pw_expect_wait "node B scores the two checkpoints that arrived after it started" 60 \
    id_steps_are 8
pw_wait 20 id_idle
if [ "$(id_sql "SELECT COUNT(*) || '|' || MIN(root) || '|' || MIN(path) FROM runs")" = "1|share|$I/a/share/runs/r" ]; then
    ok "the store holds one run for both paths (its path stays where it was first seen)"
else
    fail "one run for both paths" "$(id_sql "SELECT id, root, rel, path FROM runs")"
fi
id_after=$(id_scores | grep -vE "\|(350|400)\|previous\|")
if [ -n "$id_before" ] && [ "$id_after" = "$id_before" ]; then
    ok "node B recomputed none of node A's $(wc -l <<<"$id_before") stored scores"
else
    fail "node B keeps node A's scores" "$(diff <(echo "$id_before") <(echo "$id_after") | head -4)"
fi
id_stored=$(grep -c "r: step [0-9]* stored" "$I/b.log")
if [ "$id_stored" = 2 ]; then
    ok "node B stored only steps 350 and 400"
else
    fail "node B stores only the new checkpoints" "$id_stored stored: $(grep "stored" "$I/b.log" | head -3)"
fi
# Node A's path is not node B's to judge: its absence there is not a deleted run.
if ! grep -q "its directory is gone" "$I/b.log"; then
    ok "node B does not mark the run deleted because node A's path is absent on it"
else
    fail "node B leaves node A's path alone" "$(grep "its directory is gone" "$I/b.log" | head -2)"
fi
if [ "$(id_sql "SELECT COUNT(*) FROM checkpoints WHERE path LIKE '$I/b/mnt/runs/r/%'")" = 2 ] &&
    [ "$(id_sql "SELECT COUNT(*) FROM checkpoints WHERE path LIKE '$I/a/share/runs/r/%'")" = 7 ]; then
    ok "each checkpoint row keeps the path of the node that stored it"
else
    fail "checkpoint paths" "$(id_sql "SELECT step, path FROM checkpoints ORDER BY step")"
fi
pw_daemon_stop id_pid
id_stops="$id_stops $?"
id_all=$(id_scores)

# --- a row written before schema 9 (no root) is adopted by path -------------------------
id_sql "UPDATE runs SET root = NULL, rel = NULL, path = '$I/b/mnt/runs/r'"
id_sql "UPDATE checkpoints SET path = replace(path, '$I/a/share/', '$I/b/mnt/')"
pw_daemon_start id_pid "$I/c.log" "$I/d.sock" --watch "share=$I/b/mnt/runs" --db "$id_url" ||
    fail "pwccad starts again" "$(tail -3 "$I/c.log")"
pw_wait 10 grep -q "watching run $I/b/mnt/runs/r (9 checkpoints stored)" "$I/c.log"
pw_wait 20 id_idle
pw_daemon_stop id_pid
id_stops="$id_stops $?"
if [ "$(id_sql "SELECT COUNT(*) || '|' || MIN(root) || '|' || MIN(rel) FROM runs")" = "1|share|r" ] &&
    [ "$(id_scores)" = "$id_all" ]; then
    ok "a run row without a root is adopted by its path, not duplicated"
else
    fail "adopting a schema-8 run row" "$(id_sql "SELECT id, root, rel, path FROM runs")"
fi
if [ "$id_stops" = " 0 0 0" ] && ! grep -qE "Sanitizer|runtime error" "$I"/[abc].log; then
    ok "the three daemons stop cleanly (exit 0, no sanitizer reports)"
else
    fail "the daemons stop cleanly" "exits$id_stops; $(grep -hE "Sanitizer|runtime error" "$I"/[abc].log | head -2)"
fi
id_cleanup
