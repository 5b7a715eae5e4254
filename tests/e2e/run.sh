#!/usr/bin/env bash
# run.sh -- the end-to-end test: the pipeline exactly as a user runs it.
#
#   BUILD=build bash tests/e2e/run.sh      (E2E_KEEP=1 keeps the temporary directory)
#
# The real daemon watches a root directory while the example trainer writes a
# run into it; the daemon is killed with SIGKILL in the middle of the run and
# restarted; the run is finalized over the socket and backfilled; the client's
# queries and plots are checked on the result; a second run receives a
# malformed checkpoint among good ones.  Afterwards every score exists exactly
# once, nothing is missing, nothing committed before the kill was recomputed,
# and every stored score equals `pwcca compare` on the same files.
# Prints "e2e: N passed, M failed"; exit 1 on any failure.  Every wait is bounded.
set -u
e2e_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${BUILD:?BUILD must name the build directory}"
BUILD=$(cd "$BUILD" && pwd)
export PWCCAD="$BUILD/pwccad" PWCCA="$BUILD/pwcca"
E2E_TRAINER="$BUILD/examples/trainer"
PW_PASSED=0 PW_FAILED=0
source "$e2e_here/../integration/lib.sh"
source "$e2e_here/lib.sh"

e2e_py=/usr/bin/python3
E2E_TMP=$(mktemp -d /tmp/pwcca-e2e.XXXXXX)
E2E_PID='' e2e_trainer_pid=''
e2e_cleanup() {
    [ -n "$e2e_trainer_pid" ] && kill "$e2e_trainer_pid" 2>/dev/null
    [ -n "$E2E_PID" ] && e2e_stop KILL
    if [ "${E2E_KEEP:-0}" = 1 ]; then echo "e2e: kept $E2E_TMP"; else rm -rf "$E2E_TMP"; fi
}
trap e2e_cleanup EXIT

if ! e2e_ready; then
    echo "  SKIP: this build has no working pwccad, pwcca status or pwcca compare yet"
    echo "e2e: 0 passed, 0 failed"
    exit 0
fi

root="$E2E_TMP/runs"
db="$E2E_TMP/pwccad.db"
sock="$E2E_TMP/pwccad.sock"
log="$E2E_TMP/pwccad.log"
conf="$E2E_TMP/pwccad.conf"
mkdir -p "$root"
# A short settle time keeps the test quick (renamed files are complete anyway); a
# file whose header stays unreadable is taken for one still being written until
# incomplete_timeout, so a short one records the malformed file of run b quickly.
printf '[pwccad]\nsettle_time = 0.3\nrescan_interval = 1\nincomplete_timeout = 2\n' >"$conf"
c() { "$PWCCA" --db "$db" --socket "$sock" "$@"; }
sq() { e2e_sql "$db" "$1"; }
rid() { echo "(SELECT id FROM runs WHERE name = '$1')"; }

# ---- run a: trainer + daemon, kill -9 in the middle, restart -----------------
echo "-- run a: training while the daemon watches; SIGKILL and restart mid-run"
if ! e2e_start "$db" "$sock" "$log" --config "$conf" --watch "$root"; then
    fail "pwccad starts" "$(tail -5 "$log")"
    echo "e2e: $PW_PASSED passed, $PW_FAILED failed"
    exit 1
fi
ok "pwccad starts and answers on its socket"

# 21 checkpoints (0..2000 every 100), 4 hidden layers of 64 + logits, probe 512.
A_N=21 A_L=5
"$E2E_TRAINER" --out "$root/a" --steps 2000 --every 100 --hidden 64,64,64,64 --probe 512 \
    --sleep-ms 250 --no-final --quiet >"$E2E_TMP/trainer-a.log" 2>&1 &
e2e_trainer_pid=$!

if e2e_wait_sql "$db" "SELECT count(*) FROM scores WHERE run_id = $(rid a)" $((3 * A_L)) 30; then
    ok "scores appear while the run trains"
else
    fail "scores appear while the run trains" "$E2E_LAST scores after 30 s; $(tail -3 "$log")"
fi
e2e_stop KILL
ok "pwccad killed with SIGKILL mid-run (after $(sq "SELECT count(*) FROM checkpoints") checkpoints)"
# What was committed before the kill must survive unchanged.
sq "SELECT layer, step, ref, ref_step, computed_at FROM scores ORDER BY 1, 2, 3" >"$E2E_TMP/before-kill.txt"
sleep 0.5 # a checkpoint or two arrives while no daemon runs
if e2e_start "$db" "$sock" "$log" --config "$conf" --watch "$root"; then
    ok "pwccad restarts on the same database"
else
    fail "pwccad restarts" "$(tail -5 "$log")"
    echo "e2e: $PW_PASSED passed, $PW_FAILED failed"
    exit 1
fi

e2e_t0=$SECONDS
while kill -0 "$e2e_trainer_pid" 2>/dev/null && [ $((SECONDS - e2e_t0)) -lt 60 ]; do sleep 0.2; done
if wait "$e2e_trainer_pid"; then ok "trainer finished run a"; else fail "trainer finished run a" "$(tail -3 "$E2E_TMP/trainer-a.log")"; fi
e2e_trainer_pid=

if e2e_wait_sql "$db" "SELECT count(*) FROM scores WHERE run_id = $(rid a) AND ref = 'previous'" $(((A_N - 1) * A_L)) 60 &&
    e2e_wait_quiet "$db" 20; then
    ok "every checkpoint of run a scored against its predecessor after the restart"
else
    fail "run a scored after the restart" "$E2E_LAST of $(((A_N - 1) * A_L)) previous scores; $(tail -3 "$log")"
fi

e2e_dups=$(sq "SELECT count(*) FROM (SELECT 1 FROM scores GROUP BY run_id, layer, step, ref HAVING count(*) > 1)")
e2e_ckdups=$(sq "SELECT count(*) FROM (SELECT 1 FROM checkpoints GROUP BY run_id, step HAVING count(*) > 1)")
if [ "$e2e_dups" = 0 ] && [ "$e2e_ckdups" = 0 ]; then
    ok "every score and checkpoint exists exactly once"
else
    fail "exactly once" "$e2e_dups duplicated score keys, $e2e_ckdups duplicated checkpoints"
fi
# Nothing missing: each (layer, step > 0) has one previous score whose ref_step is step - 100.
e2e_expect=$(for s in $(seq 100 100 2000); do for l in fc1 fc2 fc3 fc4 logits; do echo "$l|$s|$((s - 100))"; done; done | sort)
e2e_got=$(sq "SELECT layer, step, ref_step FROM scores WHERE run_id = $(rid a) AND ref = 'previous'" | sort)
if [ "$e2e_got" = "$e2e_expect" ]; then
    ok "no score missing: every layer at every step against the step before"
else
    fail "no score missing" "$(diff <(echo "$e2e_expect") <(echo "$e2e_got") | head -8 | tr '\n' ' ')"
fi
e2e_changed=$(sq "SELECT layer, step, ref, ref_step, computed_at FROM scores ORDER BY 1, 2, 3" |
    grep -cFxvf - "$E2E_TMP/before-kill.txt")
if [ -s "$E2E_TMP/before-kill.txt" ] && [ "$e2e_changed" = 0 ]; then
    ok "the $(wc -l <"$E2E_TMP/before-kill.txt") scores committed before the kill were kept, not recomputed"
else
    fail "committed scores kept" "$e2e_changed of $(wc -l <"$E2E_TMP/before-kill.txt") rows changed or vanished"
fi
e2e_ok=$(sq "SELECT count(*) FROM checkpoints WHERE run_id = $(rid a) AND status = 'ok'")
if [ "$e2e_ok" = "$A_N" ]; then ok "all $A_N checkpoints of run a recorded as ok"; else fail "checkpoints ok" "$e2e_ok of $A_N"; fi

# ---- finalize over the socket: backfill against step 2000 ----------------------
echo "-- run a: finalize and backfill"
expect_output "pwcca finalize a names the final step" "2000" c finalize a
if e2e_wait_sql "$db" "SELECT count(*) FROM scores WHERE run_id = $(rid a) AND ref = 'final' AND ref_step = 2000" $((A_N - 1)) 60 &&
    e2e_wait_quiet "$db" 20; then
    ok "backfill: every checkpoint scored against the final one"
else
    fail "backfill" "$E2E_LAST final scores after 60 s"
fi
e2e_fin=$(sq "SELECT count(DISTINCT step) || ' ' || count(DISTINCT layer) FROM scores WHERE run_id = $(rid a) AND ref = 'final' AND ref_step = 2000 AND step < 2000")
if [ "$e2e_fin" = "$((A_N - 1)) $A_L" ]; then ok "final scores cover $((A_N - 1)) steps x $A_L layers"; else fail "final scores cover the run" "steps layers = $e2e_fin"; fi
e2e_fs=$(sq "SELECT final_step FROM runs WHERE name = 'a'")
if [ "$e2e_fs" = 2000 ]; then ok "runs.final_step = 2000"; else fail "runs.final_step" "'$e2e_fs'"; fi
# Distances to the final fall towards the end of training (real dynamics, cosine schedule).
e2e_d=$(sq "SELECT round(max(CASE WHEN step = 100 THEN distance END), 6) || ' ' || round(max(CASE WHEN step = 1900 THEN distance END), 6) FROM scores WHERE run_id = $(rid a) AND ref = 'final' AND layer = 'fc4'")
if awk -v a="${e2e_d% *}" -v b="${e2e_d#* }" 'BEGIN { exit !(a > 0 && b < a) }'; then
    ok "fc4's distance to the final checkpoint falls during training ($e2e_d)"
else
    fail "distance to final falls" "step 100 / 1900: $e2e_d"
fi

# ---- the client on the result ------------------------------------------------------
echo "-- client queries and plots"
if e2e_j=$(c status --format json) && jq -e '.ok and (.runs | any(.name == "a"))' <<<"$e2e_j" >/dev/null; then
    ok "pwcca status --format json lists run a"
else
    fail "pwcca status" "$(head -c 400 <<<"$e2e_j")"
fi
expect_output "pwcca runs shows run a as final" 'final' c runs
if e2e_j=$(c runs --format json) && jq -e '.[] | select(.name == "a") | .state == "final" and .checkpoints == 21 and .layers == 5' <<<"$e2e_j" >/dev/null; then
    ok "pwcca runs --format json: a is final with 21 checkpoints and 5 layers"
else
    fail "pwcca runs --format json" "$(head -c 400 <<<"$e2e_j")"
fi
if e2e_j=$(c layers a 2>&1) && [ "$(grep -oE '\b(fc[1-4]|logits)\b' <<<"$e2e_j" | tr '\n' ' ')" = "fc1 fc2 fc3 fc4 logits " ]; then
    ok "pwcca layers a lists fc1..fc4, logits bottom to top"
else
    fail "pwcca layers a" "$(head -c 400 <<<"$e2e_j")"
fi
if e2e_j=$(c curve a --format json) && jq -e "length == $(((A_N - 1) * A_L)) + (map(select(.step == 2000)) | length) and all(.[]; .ref == \"final\" and .ref_step == 2000)" <<<"$e2e_j" >/dev/null; then
    ok "pwcca curve a --format json: the final-reference series"
else
    fail "pwcca curve --format json" "$(head -c 400 <<<"$e2e_j")"
fi
if e2e_j=$(c curve a --layer fc2 --ref previous --format csv) &&
    [ "$(head -1 <<<"$e2e_j")" = "run,layer,depth,step,ref,ref_step,n,p_kept,q_kept,pwcca,distance,mean_cca,svcca,cka,cka_debiased,procrustes,status,message,reduce,k_x,k_y,pwcca_se,distance_se,mean_cca_se,svcca_se,cka_se,procrustes_se,noise_blocks,chance_distance" ] &&
    [ "$(tail -n +2 <<<"$e2e_j" | grep -c '^a,fc2,1,[0-9]*,previous,')" = $((A_N - 1)) ]; then
    ok "pwcca curve --layer fc2 --ref previous --format csv: header and $((A_N - 1)) rows"
else
    fail "pwcca curve csv" "$(head -c 400 <<<"$e2e_j")"
fi
if e2e_j=$(c convergence a --format json) && jq -e '(.layers | length) == 5 and (.order | length) >= 1 and (.verdict | type) == "string"' <<<"$e2e_j" >/dev/null; then
    ok "pwcca convergence a --format json: 5 layers, an order and a verdict ($(jq -c '[.verdict, .spearman_rho]' <<<"$e2e_j"))"
else
    fail "pwcca convergence --format json" "$(head -c 400 <<<"$e2e_j")"
fi
expect_output "pwcca convergence a (table) names every layer" 'logits' c convergence a
expect_output "pwcca plot a draws a terminal heatmap with the layer names" 'fc1' c plot a
if c plot a -o "$E2E_TMP/a.svg" >/dev/null 2>&1 &&
    "$e2e_py" -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); assert r.tag.endswith("svg")' "$E2E_TMP/a.svg" 2>/dev/null; then
    ok "pwcca plot a -o a.svg writes well-formed SVG"
else
    fail "pwcca plot -o" "no well-formed SVG at $E2E_TMP/a.svg"
fi
expect_status "pwcca alerts a exits 0" 0 c alerts a
expect_status "an unknown run is an error" 1 c curve no-such-run

# ---- run b: a malformed checkpoint among good ones --------------------------------
echo "-- run b: a malformed file among good checkpoints"
"$E2E_TRAINER" --out "$root/b" --steps 300 --every 100 --hidden 32,32 --probe 256 --sleep-ms 300 \
    --no-final --quiet >"$E2E_TMP/trainer-b.log" 2>&1 &
e2e_trainer_pid=$!
# A header whose shape needs 256*32*4 bytes while data_offsets hold 8, renamed
# into place: it never becomes valid, so after incomplete_timeout it is an error.
"$e2e_py" - "$root/b" <<'EOF'
import json, os, struct, sys, time
d = sys.argv[1]
for _ in range(100):                      # wait (at most 10 s) until step 100 exists
    if os.path.exists(os.path.join(d, "step-000100.safetensors")):
        break
    time.sleep(0.1)
h = json.dumps({"__metadata__": {"step": "150"},
                "fc1": {"dtype": "F32", "shape": [256, 32], "data_offsets": [0, 8]}}).encode()
h += b" " * (-len(h) % 8)
tmp = os.path.join(d, ".bad.tmp")
with open(tmp, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"\0" * 8)
os.replace(tmp, os.path.join(d, "step-000150.safetensors"))
EOF
e2e_t0=$SECONDS
while kill -0 "$e2e_trainer_pid" 2>/dev/null && [ $((SECONDS - e2e_t0)) -lt 60 ]; do sleep 0.2; done
wait "$e2e_trainer_pid"
e2e_trainer_pid=
if e2e_wait_sql "$db" "SELECT count(*) FROM checkpoints WHERE run_id = $(rid b)" 5 30 && e2e_wait_quiet "$db" 20; then
    ok "run b: the 4 good checkpoints and the bad one are all recorded"
else
    fail "run b recorded" "$E2E_LAST of 5 checkpoints"
fi
e2e_bad=$(sq "SELECT status || '|' || coalesce(error, '') FROM checkpoints WHERE run_id = $(rid b) AND step = 150")
if [ -n "$e2e_bad" ] && [ "${e2e_bad%%|*}" != ok ] && [ -n "${e2e_bad#*|}" ]; then
    ok "the malformed file is recorded with its error (${e2e_bad:0:120})"
else
    fail "malformed file recorded" "'$e2e_bad'"
fi
e2e_good=$(sq "SELECT group_concat(step) FROM (SELECT step FROM checkpoints WHERE run_id = $(rid b) AND status = 'ok' ORDER BY step)")
if [ "$e2e_good" = "0,100,200,300" ]; then ok "the good checkpoints around it are ok"; else fail "good checkpoints ok" "ok steps: $e2e_good"; fi
e2e_sc=$(sq "SELECT count(DISTINCT step) FROM scores WHERE run_id = $(rid b) AND ref = 'previous' AND status = 'ok' AND step IN (100, 200, 300)")
if [ "$e2e_sc" = 3 ]; then ok "steps 100, 200 and 300 of run b are scored"; else fail "run b scored" "$e2e_sc of 3 steps have ok scores"; fi
if kill -0 "$E2E_PID" 2>/dev/null && c status >/dev/null 2>&1; then ok "the daemon kept running and answering"; else fail "daemon alive after a bad file" "$(tail -3 "$log")"; fi

# ---- every stored score equals pwcca compare on the same files --------------------
if e2e_j=$("$e2e_py" "$e2e_here/db_vs_compare.py" "$db" "$PWCCA" 2>&1); then
    ok "every stored score equals pwcca compare on the same files ($e2e_j)"
else
    fail "stored scores equal pwcca compare" "$(head -c 800 <<<"$e2e_j")"
fi

if e2e_stop TERM; then ok "pwccad exits 0 on SIGTERM"; else fail "pwccad exits 0 on SIGTERM" "exit status $?"; fi
e2e_ic=$(sqlite3 "$db" "PRAGMA integrity_check" 2>&1)
if [ "$e2e_ic" = ok ]; then ok "the database passes integrity_check"; else fail "integrity_check" "$e2e_ic"; fi

echo "e2e: $PW_PASSED passed, $PW_FAILED failed"
[ "$PW_FAILED" = 0 ]
