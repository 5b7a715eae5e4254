# test_history.sh -- summaries and statuses that never hide missing or wrong data
# (issue #15): a layer whose width changes mid-run, a probe that changes mid-run, a state_dict among the
# activations, deleting files and runs (history stays, `present` follows, `pwcca
# forget`), `finalize` of a name two roots share, and a database written by a
# newer pwccad.  Real files, the real daemon; every wait is bounded.

H_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
H_PY=$(pw_numpy_python)
pw_need "these tests" numpy sqlite3 || { return 0 2>/dev/null || exit 0; }
H=$PW_TMP/history
mkdir -p "$H/a/exp" "$H/b/exp" "$H/a/weights" "$H/a/del" "$H/a/probe"
HDB=$H/pwccad.db
HSOCK=$H/pwccad.sock
cat >"$H/pwccad.conf" <<CONF
settle_time = 0.2
rescan_interval = 1
stable_threshold = 0.3
unstable_threshold = 0.5
stable_count = 2
CONF

hmk() { "$H_PY" "$H_HERE/mkckpt.py" "$@"; }
hsock() { "$H_PY" "$H_HERE/sockreq.py" "$HSOCK" "$@"; }
hq() { sqlite3 -cmd ".timeout 2000" "$HDB" "$1" 2>/dev/null; }
hq_is() { [ "$(hq "$1")" = "$2" ]; }

H_PID=
h_start() {
    pw_daemon_start H_PID "$H/daemon.log" "$HSOCK" --watch "$H/a" --watch "$H/b" --db "$HDB" \
        --config "$H/pwccad.conf"
}
h_stop() { pw_daemon_stop H_PID; }
trap 'h_stop' RETURN

# Status of a run's scores: "step ref status" for one layer.
h_rows() { hq "SELECT s.step || ' ' || s.ref || ' ' || s.status FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.path = '$1' AND s.layer = '$2' ORDER BY s.step, s.ref"; }

# --- a layer whose width changes mid-run ------------------------------------------------------
# fc is 4 wide at steps 100 to 300 (stable by then), 6 wide at 400 and 500; conv1 stays 4.
for s in 100 200 300; do hmk "$H/a/exp/step-$s.safetensors" --seed "$s" --p 4,4; done
for s in 400 500; do hmk "$H/a/exp/step-$s.safetensors" --seed "$s" --p 4,6; done
# A run whose probe changes at step 300 (the Probe's probe_fingerprint in __metadata__).
for s in 100 200; do hmk "$H/a/probe/step-$s.safetensors" --seed "$s" --fingerprint 0123abcd; done
hmk "$H/a/probe/step-300.safetensors" --seed 300 --fingerprint 4567ef01
# A fingerprint that is not hex (escape bytes in it) is treated as none.
mkdir -p "$H/a/probe2"
hmk "$H/a/probe2/step-100.safetensors" --seed 100 --fingerprint "$(printf '\033[31mabc')"
hmk "$H/a/probe2/step-200.safetensors" --seed 200 --fingerprint 0123abcd
# A run to delete while the daemon runs.
for s in 100 200 300; do hmk "$H/a/del/step-$s.safetensors" --seed "$s"; done
# A second root with a run of the same name, for `finalize` below.
hmk "$H/b/exp/step-100.safetensors" --seed 100
# A model's state_dict saved among the checkpoints: parameters, 1-D biases, no "layers".
"$H_PY" - "$H/a/weights/model-000100.safetensors" <<'PY'
import json, struct, sys
import numpy as np
rng = np.random.default_rng(0)
tensors = {"fc1.weight": rng.standard_normal((16, 8)), "fc1.bias": rng.standard_normal(16),
           "fc2.weight": rng.standard_normal((4, 16)), "fc2.bias": rng.standard_normal(4)}
header, blobs, off = {}, [], 0
for name, x in tensors.items():
    b = x.astype("<f4").tobytes()
    header[name] = {"dtype": "F32", "shape": list(x.shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b); off += len(b)
h = json.dumps(header).encode(); h += b" " * (-len(h) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
PY
if h_start; then ok "pwccad starts with two roots"; else fail "pwccad starts with two roots" "$(tail -5 "$H/daemon.log")"; fi
pw_expect_wait "the width-changing run is scored" 15 \
    hq_is "SELECT COUNT(*) FROM scores s JOIN checkpoints c USING (run_id, step) WHERE c.path LIKE '$H/a/exp/%' AND s.ref = 'previous'" 8
expect_output "the pair across the width change is shape_changed, the others are compared" \
    "^200 previous ok,300 previous ok,400 previous shape_changed,500 previous ok$" \
    bash -c "$(declare -f hq h_rows); HDB='$HDB' h_rows '$H/a/exp' fc | paste -sd,"
expect_output "its message names the layer and both shapes" \
    "layer fc changed shape: \[64, 6\] at step 400, \[64, 4\] at previous step 300" \
    hq "SELECT message FROM scores WHERE layer = 'fc' AND step = 400 AND ref = 'previous'"
expect "a shape_changed pair has no distance (nothing for stability or alerts)" \
    hq_is "SELECT COUNT(*) FROM scores WHERE status = 'shape_changed' AND distance IS NULL AND n IS NULL" 1
pw_expect_wait "fc became stable before the change (the rules had something to break)" 10 \
    hq_is "SELECT COUNT(*) FROM alerts a JOIN runs r ON r.id = a.run_id WHERE r.path = '$H/a/exp' AND a.kind = 'layer_stable' AND a.layer = 'fc'" 1
expect "no layer_unstable alert comes from the width change" \
    hq_is "SELECT COUNT(*) FROM alerts a JOIN runs r ON r.id = a.run_id WHERE r.path = '$H/a/exp' AND a.kind = 'layer_unstable' AND a.layer = 'fc'" 0
expect_output "finalize of a name two roots share is refused" "ambiguous: name it by path" \
    hsock '{"cmd":"finalize","run":"exp","step":500}'
expect "the refused finalize set no final step on either run" \
    hq_is "SELECT COUNT(*) FROM runs WHERE final_step IS NOT NULL" 0
expect_output "finalize by path names one run" '"final_step":500' \
    hsock "{\"cmd\":\"finalize\",\"run\":\"$H/a/exp\",\"step\":500}"
pw_expect_wait "the final comparison across the width change is shape_changed too" 15 \
    bash -c "$(declare -f hq h_rows); HDB='$HDB' h_rows '$H/a/exp' fc | paste -sd, | grep -qx '100 final shape_changed,200 final shape_changed,200 previous ok,300 final shape_changed,300 previous ok,400 final ok,400 previous shape_changed,500 final ok,500 previous ok'"

# --- a probe that changes mid-run ---------------------------------------------------------------
pw_expect_wait "the run whose probe changes is scored" 15 \
    hq_is "SELECT COUNT(*) FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.path = '$H/a/probe' AND s.ref = 'previous'" 4
expect_output "the pair across the probe change is probe_changed, the one before is compared" \
    "^200 previous ok,300 previous probe_changed$" \
    bash -c "$(declare -f hq h_rows); HDB='$HDB' h_rows '$H/a/probe' fc | paste -sd,"
expect_output "its message names both steps and fingerprints" \
    "the probe changed between step 300 \(probe_fingerprint 4567ef01\) and previous step 200 \(0123abcd\)" \
    hq "SELECT message FROM scores WHERE layer = 'conv1' AND step = 300 AND ref = 'previous' AND run_id = (SELECT id FROM runs WHERE path = '$H/a/probe')"
expect "a probe_changed pair has no distance and no counts" \
    hq_is "SELECT COUNT(*) FROM scores WHERE status = 'probe_changed' AND distance IS NULL AND n IS NULL" 2
pw_expect_wait "a fingerprint that is not hex is neither stored nor compared" 15 \
    bash -c "$(declare -f hq); HDB='$HDB' hq \"SELECT c.step || ' ' || ifnull(c.probe_fingerprint, '-') || ' ' || s.status FROM checkpoints c JOIN runs r ON r.id = c.run_id JOIN scores s ON s.run_id = c.run_id AND s.step = c.step AND s.layer = 'fc' WHERE r.path = '$H/a/probe2' AND s.ref = 'previous'\" | grep -qx '200 0123abcd ok'"
expect "and nothing of it reaches the database" \
    hq_is "SELECT COUNT(*) FROM checkpoints WHERE probe_fingerprint IS NULL AND path LIKE '%probe2/step-100%'" 1
expect_output "each checkpoint's probe fingerprint is stored" "^100 0123abcd,200 0123abcd,300 4567ef01$" \
    bash -c "$(declare -f hq); HDB='$HDB' hq \"SELECT c.step || ' ' || c.probe_fingerprint FROM checkpoints c JOIN runs r ON r.id = c.run_id WHERE r.path = '$H/a/probe' ORDER BY c.step\" | paste -sd,"
expect_output "pwcca runs --format json shows a run's probe (its newest checkpoint's), null without one" \
    '^probe=4567ef01 exp=None$' bash -c "'$PWCCA' --db '$HDB' runs --format json | '$H_PY' -c 'import json, sys
runs = {r[\"path\"]: r[\"probe_fingerprint\"] for r in json.load(sys.stdin)}
print(\"probe=%s exp=%s\" % (runs[\"$H/a/probe\"], runs[\"$H/a/exp\"]))'"

# --- weights saved as a checkpoint -----------------------------------------------------------
pw_expect_wait "a state_dict checkpoint is stored, with a warning in checkpoints.error" 15 \
    bash -c "$(declare -f hq); HDB='$HDB' hq \"SELECT status || ' ' || error FROM checkpoints WHERE path LIKE '%model-000100.safetensors'\" | grep -q '^ok this looks like model weights, not activations'"
expect "the weights warning is logged once for the file" \
    test "$(grep -c 'model-000100.safetensors.*looks like model weights' "$H/daemon.log")" = 1
expect "activation checkpoints carry no such warning" \
    hq_is "SELECT COUNT(*) FROM checkpoints WHERE error LIKE '%model weights%'" 1

# --- deleting a run directory never deletes its history ------------------------------------------
h_del="SELECT c.step || ':' || c.status || ':' || c.present FROM checkpoints c JOIN runs r ON r.id = c.run_id WHERE r.name = 'del' ORDER BY c.step"
h_delprev="SELECT COUNT(*) FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 'del' AND s.ref = 'previous' AND s.status = 'ok'"
pw_expect_wait "the run to delete is scored" 15 hq_is "$h_delprev" 4
# Removed while the daemon works on it: finalize queues a job for every checkpoint
# at once, racing the scan that notices the directory is gone.
rm -rf "$H/a/del"
hsock '{"cmd":"finalize","run":"del","step":300}' >/dev/null
pw_expect_wait "checkpoints of a deleted run become present = 0, and stay ok" 15 \
    hq_is "$h_del" "$(printf '100:ok:0\n200:ok:0\n300:ok:0')"
pw_wait 10 hq_is "SELECT COUNT(*) FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 'del' AND s.ref = 'final'" 6
expect "their stored previous scores are all still there" hq_is "$h_delprev" 4
expect "no score of the deleted run is called read_error" \
    hq_is "SELECT COUNT(*) FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 'del' AND s.status = 'read_error'" 0
expect "the final backfill of deleted files says reference_unavailable" \
    hq_is "SELECT DISTINCT s.status FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 'del' AND s.ref = 'final'" reference_unavailable
expect_output "pwcca forget is refused while pwccad runs" "pwccad is running" \
    "$PWCCA" --db "$HDB" --socket "$HSOCK" forget del
h_stop

# --- pwcca forget: the one way to remove a run ---------------------------------------------------
expect_output "forget of a name two roots share is refused" "ambiguous: name it by path" \
    "$PWCCA" --db "$HDB" --socket "$HSOCK" forget exp
expect_output "forget removes the run and says what it removed" \
    "^forgot run del \(.*/del, id [0-9]+\): 3 checkpoints, [0-9]+ scores, [0-9]+ alerts?$" \
    "$PWCCA" --db "$HDB" --socket "$HSOCK" forget del
expect "nothing of the forgotten run is left" \
    hq_is "SELECT (SELECT COUNT(*) FROM runs WHERE name = 'del') + (SELECT COUNT(*) FROM checkpoints c LEFT JOIN runs r ON r.id = c.run_id WHERE r.id IS NULL) + (SELECT COUNT(*) FROM scores s LEFT JOIN runs r ON r.id = s.run_id WHERE r.id IS NULL)" 0
expect "the other runs are untouched" hq_is "SELECT COUNT(*) FROM runs WHERE name = 'exp'" 2
expect_output "forget of an unknown run is an error" "no run" "$PWCCA" --db "$HDB" --socket "$HSOCK" forget del

# --- a run deleted while pwccad was stopped is noticed at the next start ------------------------
rm -rf "$H/a/weights"
h_start
pw_expect_wait "a run deleted while pwccad was stopped has present = 0 after it starts" 10 \
    hq_is "SELECT GROUP_CONCAT(present) FROM checkpoints WHERE path LIKE '%/weights/%'" 0
expect "and its checkpoint row stays" \
    hq_is "SELECT COUNT(*) FROM checkpoints WHERE path LIKE '%/weights/%' AND status = 'ok'" 1
h_stop

# --- a database written by a newer pwccad --------------------------------------------------------
cp "$HDB" "$H/newer.db"
sqlite3 "$H/newer.db" "PRAGMA user_version = 999"
"$PWCCAD" --watch "$H/a" --db "$H/newer.db" --socket "$H/newer.sock" --foreground >"$H/newer.log" 2>&1
h_rc=$?
if [ "$h_rc" = 78 ]; then ok "a newer schema exits with status 78 (EX_CONFIG)"; else fail "a newer schema exits with status 78" "exit $h_rc"; fi
expect_output "one log line says why and what to do" \
    "database .*newer.db has schema version 999, newer than this pwccad's [0-9]+: upgrade pwccad or use another --db" \
    cat "$H/newer.log"
for h_unit in pwccad.service pwccad@.service; do
    expect "$h_unit does not restart on status 78" grep -Eq '^RestartPreventExitStatus=.*\b78\b' "$H_HERE/../../systemd/$h_unit"
done
