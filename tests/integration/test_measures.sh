# test_measures.sh -- debiased CKA and the Procrustes distance through the real
# daemon (issue #20): stored as `pwcca compare` prints them, shown by `pwcca
# curve` in every format, null where the engine does not give them, and read
# as null from a database migrated before they existed.

M_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
M_PY=$(pw_numpy_python)
pw_need "measures tests" numpy sqlite3 || { return 0 2>/dev/null || exit 0; }
M=$PW_TMP/measures
mkdir -p "$M/runs/m1"
MDB=$M/pwccad.db
MSOCK=$M/pwccad.sock
cat >"$M/pwccad.conf" <<CONF
settle_time = 0.2
rescan_interval = 1
CONF
mq() { sqlite3 -cmd ".timeout 2000" "$MDB" "$1" 2>/dev/null; }
mq_is() { [ "$(mq "$1")" = "$2" ]; }

# Three checkpoints, n = 64: conv1 exact (8 neurons), fc reduced on the narrow
# route (40 + 40 > 64), wide reduced on the n x n route (100 > 64).
for s in 1 2 3; do
    "$M_PY" "$M_HERE/mkckpt.py" "$M/runs/m1/step-$s.safetensors" --seed "$s" --layers conv1,fc,wide \
        --p 8,40,100 --drift 0.5
done
M_PID=
trap 'pw_daemon_stop M_PID' RETURN
if pw_daemon_start M_PID "$M/daemon.log" "$MSOCK" --watch "$M/runs" --db "$MDB" --config "$M/pwccad.conf"; then
    ok "pwccad starts for the measures run"
else
    fail "pwccad starts for the measures run" "$(tail -5 "$M/daemon.log")"
fi
pw_expect_wait "the run's pairs are scored" 20 \
    mq_is "SELECT COUNT(*) FROM scores WHERE ref = 'previous' AND status = 'ok'" 6

# measures_as_compare STEP: each layer's stored cka_debiased and procrustes
# are compare's (17 digits both ways: the same double, or both null; at this
# size neither run splits the pass into lanes, so the sums are the same), and
# procrustes is null exactly on the wide layer.
measures_as_compare() {
    "$PWCCA" compare "$M/runs/m1/step-$1.safetensors" "$M/runs/m1/step-$(($1 - 1)).safetensors" --json |
        "$M_PY" -c '
import json, math, sqlite3, sys
db, step = sys.argv[1], int(sys.argv[2])
got = json.load(sys.stdin)["layers"]
con = sqlite3.connect(db)
bad = []
for l in got:
    row = con.execute("SELECT cka_debiased, procrustes FROM scores WHERE step = ? AND ref = ? AND layer = ?",
                      (step, "previous", l["layer"])).fetchone()
    for name, a in zip(("cka_debiased", "procrustes"), row):
        b = l[name]
        if a != b:
            bad.append("%s %s: stored %r, compare %r" % (l["layer"], name, a, b))
    if (l["procrustes"] is None) != (l["layer"] == "wide"):
        bad.append("%s procrustes %r" % (l["layer"], l["procrustes"]))
    if l["cka_debiased"] is None or not -1 <= l["cka_debiased"] <= 1:
        bad.append("%s cka_debiased %r" % (l["layer"], l["cka_debiased"]))
print("mismatches", len(bad), "layers", len(got), *bad)
sys.exit(1 if bad or len(got) != 3 else 0)' "$MDB" "$1"
}
expect_output "stored cka_debiased and procrustes equal pwcca compare (step 2)" "^mismatches 0 layers 3" \
    measures_as_compare 2
expect_output "stored cka_debiased and procrustes equal pwcca compare (step 3, cached sides)" \
    "^mismatches 0 layers 3" measures_as_compare 3

# curve: CSV header and JSON keys carry both; the table shows them.
expect_output "curve CSV has the two columns after cka" "^run,layer,depth,step,ref,ref_step,n,p_kept,q_kept,pwcca,distance,mean_cca,svcca,cka,cka_debiased,procrustes,status," \
    "$PWCCA" --db "$MDB" curve m1 --ref previous --format csv
curve_json_matches_db() {
    "$PWCCA" --db "$MDB" curve m1 --ref previous --format json | "$M_PY" -c '
import json, sqlite3, sys
rows = json.load(sys.stdin)
con = sqlite3.connect(sys.argv[1])
bad = 0
for r in rows:
    a = con.execute("SELECT cka_debiased, procrustes FROM scores WHERE step = ? AND ref = ? AND layer = ?",
                    (r["step"], "previous", r["layer"])).fetchone()
    bad += (r["cka_debiased"], r["procrustes"]) != a
print("rows", len(rows), "bad", bad)' "$MDB"
}
expect_output "curve JSON gives the stored values bit for bit" "^rows 6 bad 0$" curve_json_matches_db
expect_output "curve table has CKA_DEB and PROCRUSTES columns" "CKA_DEB +PROCRUSTES" \
    "$PWCCA" --db "$MDB" curve m1 --ref previous

# A metrics list without them leaves them null.
pw_daemon_stop M_PID
printf 'metrics = pwcca, cka\n' >>"$M/pwccad.conf"
"$M_PY" "$M_HERE/mkckpt.py" "$M/runs/m1/step-4.safetensors" --seed 4 --layers conv1,fc,wide --p 8,40,100 --drift 0.5
pw_daemon_start M_PID "$M/daemon.log" "$MSOCK" --watch "$M/runs" --db "$MDB" --config "$M/pwccad.conf"
pw_expect_wait "a run whose metrics leave them out stores them as null" 20 \
    mq_is "SELECT COUNT(*) FROM scores WHERE step = 4 AND ref = 'previous' AND cka IS NOT NULL AND cka_debiased IS NULL AND procrustes IS NULL" 3
pw_daemon_stop M_PID

# A database from before 004_measures (its columns gone, user_version 3) reads
# them as null instead of failing.
cp "$MDB" "$M/old.db"
sqlite3 "$M/old.db" "ALTER TABLE scores DROP COLUMN cka_debiased; ALTER TABLE scores DROP COLUMN procrustes; PRAGMA user_version = 3;"
expect_output "a version-3 database's curve has null cka_debiased and procrustes" '"cka":[0-9.e-]+,"cka_debiased":null,"procrustes":null' \
    "$PWCCA" --db "$M/old.db" curve m1 --ref previous --format json
