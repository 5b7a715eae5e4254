# test_honest.sh -- the summaries never state what their data does not support (issue 15).
#
# The mistakes a new user makes with real files: a torch.save file given to
# compare, one .npy per step, two files with no layer in common, an option
# without its value; then a real pwccad on runs where layers were never
# measured (too few datapoints) or where a probe-set change left steps
# without a distance: runs, status, convergence and the alert must name
# those layers and say why, and no verdict may rest on them.

H_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
H_PY=$(pw_numpy_python)
pw_need "test_honest" numpy || { return 0 2>/dev/null || exit 0; }
H=$PW_TMP/honest
mkdir -p "$H"

# ---- compare: a torch.save file is named as such, with the way out -------------------------
# torch.save (torch >= 1.6) writes a zip: NAME/data.pkl (the pickle), NAME/data/0, ...
"$H_PY" - "$H/model.pt" "$H/step-100.npz" <<'EOF'
import pickle, sys, zipfile
for path in sys.argv[1:]:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("model/data.pkl", pickle.dumps({"fc": "storage 0"}))
        z.writestr("model/byteorder", "little")
        z.writestr("model/data/0", b"\0" * 64)
        z.writestr("model/version", "3\n")
EOF
"$H_PY" "$H_HERE/mkckpt.py" "$H/a.safetensors" --layers conv1,fc --seed 1
expect_status "compare of a torch.save file exits 1" 1 "$PWCCA" compare "$H/model.pt" "$H/a.safetensors"
expect_output "compare says a torch.save file is a pickle it does not read" \
    "model.pt: a PyTorch torch.save file .*does not read" "$PWCCA" compare "$H/model.pt" "$H/a.safetensors"
expect_output "compare says how to write safetensors instead" \
    "safetensors.torch.save_file\(\{name: t.detach\(\).contiguous\(\)" "$PWCCA" compare "$H/a.safetensors" "$H/model.pt"
expect_output "a torch.save file named .npz is still recognised" \
    "step-100.npz: a PyTorch torch.save file" "$PWCCA" compare "$H/step-100.npz" "$H/a.safetensors"

# ---- compare: one .npy per step compares; files with nothing in common are an error ----------
"$H_PY" - "$H" <<'EOF'
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(0)
base = rng.standard_normal((200, 6)).astype("<f4")
np.save(d + "/step-000100.npy", base)
np.save(d + "/step-000200.npy", base + np.float32(0.01) * rng.standard_normal((200, 6)).astype("<f4"))
EOF
out=$("$PWCCA" compare "$H/step-000100.npy" "$H/step-000200.npy" --json 2>&1); rc=$?
if [ "$rc" = 0 ] && "$H_PY" -c '
import json, sys
l = json.loads(sys.argv[1])["layers"]
assert len(l) == 1 and l[0]["layer"] == "activations" and l[0]["status"] == "ok", l' "$out" 2>/dev/null; then
    ok "two .npy files compare as the one layer 'activations'"
else
    fail "two .npy files compare as the one layer 'activations'" "exit $rc: $(head -c 300 <<<"$out")"
fi
"$H_PY" "$H_HERE/mkckpt.py" "$H/b.safetensors" --layers embed,head --seed 2
expect_status "compare of files with no layer in common exits 1" 1 "$PWCCA" compare "$H/a.safetensors" "$H/b.safetensors"
expect_output "compare names both files' layers when none is common" \
    "no layer in common: .*a.safetensors has conv1, fc; .*b.safetensors has embed, head" \
    "$PWCCA" compare "$H/a.safetensors" "$H/b.safetensors"

# ---- options without their value ---------------------------------------------------------------
expect_status "curve --layer without a value exits 2" 2 "$PWCCA" --db "$H/none.db" curve r --layer
expect_output "curve --layer without a value says so" "^pwcca curve: --layer needs a value$" \
    "$PWCCA" --db "$H/none.db" curve r --layer
expect_output "curve --layer followed by an option says the value is missing" \
    "^pwcca curve: --layer needs a value, not the option '--format'" \
    "$PWCCA" --db "$H/none.db" curve r --layer --format csv
expect_output "plot -o without a value names both spellings" "^pwcca plot: -o \(--output\) needs a value$" \
    "$PWCCA" --db "$H/none.db" plot r -o
expect_output "an unknown option is called unknown" "^pwcca runs: unknown option '--bogus'$" \
    "$PWCCA" --db "$H/none.db" runs --bogus
expect_status "--db without a value exits 2" 2 "$PWCCA" --db
expect_output "--db without a value says so" "^pwcca: --db needs a value" "$PWCCA" --db
expect_output "--socket followed by a command says it lacks its value" "^pwcca: --socket needs a value" \
    "$PWCCA" --socket --db x runs
expect_output "compare --layer without a value says so" "^pwcca compare: --layer needs a value" \
    "$PWCCA" compare "$H/a.safetensors" "$H/b.safetensors" --layer

# ---- a real pwccad: layers never measured, a probe set that changed, one .npy per step ----------
pw_need "test_honest's daemon part" sqlite3 || { return 0 2>/dev/null || exit 0; }
mkdir -p "$H/runs/thin" "$H/runs/probe" "$H/runs/npy" "$H/runs/torch"
cp "$H/step-100.npz" "$H/runs/torch/step-100.npz" # torch.save(acts, "step-100.npz")
HDB=$H/pwccad.db
HSOCK=$H/pwccad.sock
# reduce = none: the layers too wide for the probe stay unmeasured (auto would
# score them reduced; test_reduce.sh covers that).
cat >"$H/pwccad.conf" <<CONF
settle_time = 0.3
rescan_interval = 1
stable_threshold = 0.3
unstable_threshold = 0.5
stable_count = 2
reduce = none
CONF
hq() { sqlite3 -cmd ".timeout 2000" "$HDB" "$1" 2>/dev/null; }
h_is() { [ "$(hq "$1")" = "$2" ]; }
hcli() { PWCCAD_SOCKET=$HSOCK "$PWCCA" --db "$HDB" "$@"; }

# thin: conv1 has 4 neurons, fc and head 40 each on 64 probe inputs: n <= p + q, so
# fc and head are insufficient_datapoints at every step and never measured.
for s in 100 200 300 400; do
    "$H_PY" "$H_HERE/mkckpt.py" "$H/runs/thin/step-$s.safetensors" --seed "$s" \
        --layers conv1,fc,head --p 4,40,40 --n 64 --drift 0.05
done
# probe: the probe set grew from 48 to 64 inputs at step 300: steps 100 and 200 have
# no distance to the final checkpoint (n_mismatch).
for s in 100 200; do
    "$H_PY" "$H_HERE/mkckpt.py" "$H/runs/probe/step-$s.safetensors" --seed "$s" --layers a,b,c --n 48 --drift 0.05
done
for s in 300 400 500; do
    "$H_PY" "$H_HERE/mkckpt.py" "$H/runs/probe/step-$s.safetensors" --seed "$s" --layers a,b,c --n 64 --drift 0.05
done
# npy: one array per step, as np.save(f"step-{step:06d}.npy", acts) writes it.
"$H_PY" - "$H/runs/npy" <<'EOF2'
import os, sys, numpy as np
rng = np.random.default_rng(0)
base = rng.standard_normal((128, 6))
for s in (100, 200, 300):
    x = (base + 0.02 * rng.standard_normal((128, 6))).astype("<f4")
    np.save(os.path.join(sys.argv[1], ".tmp.npy"), x)
    os.rename(os.path.join(sys.argv[1], ".tmp.npy"), os.path.join(sys.argv[1], "step-%06d.npy" % s))
EOF2

H_PORT=$("$H_PY" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
"$PWCCAD" --watch "$H/runs" --db "$HDB" --socket "$HSOCK" --config "$H/pwccad.conf" \
    --metrics "127.0.0.1:$H_PORT" --foreground >>"$H/daemon.log" 2>&1 &
H_PID=$!
h_stop() { [ -n "$H_PID" ] && kill -TERM "$H_PID" 2>/dev/null && wait "$H_PID" 2>/dev/null; H_PID=; }
trap 'h_stop' RETURN
if pw_wait 30 h_is "SELECT COUNT(*) FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 'thin' AND s.ref = 'previous'" 9 &&
   pw_wait 20 h_is "SELECT converged_step IS NOT NULL FROM runs WHERE name = 'thin'" 1; then
    ok "pwccad scores the runs"
else
    fail "pwccad scores the runs" "log: $(tail -5 "$H/daemon.log")"
fi

# Item 1: runs, status and the alert name the layers never measured, and why.
expect_output "runs marks a CONVERGED that leaves layers out" "^thin +running +4 +3 +1 +1 +400 +- +[0-9]+\*" hcli runs
expect_output "runs names the unmeasured layers and their status" \
    "^\* thin: 2 of 3 layers never measured .*fc \(insufficient_datapoints\), head \(insufficient_datapoints\); CONVERGED [0-9]+ covers only the 1 measured layer$" hcli runs
hcli runs --format json >"$H/runs.json"
if "$H_PY" -c '
import json, sys
r = [r for r in json.load(open(sys.argv[1])) if r["name"] == "thin"][0]
assert r["measured_layers"] == 1 and r["converged_step"] is not None, r
assert r["unmeasured"] == [{"layer": "fc", "status": "insufficient_datapoints"},
                           {"layer": "head", "status": "insufficient_datapoints"}], r["unmeasured"]' "$H/runs.json"
then ok "runs --format json lists the unmeasured layers"; else fail "runs --format json lists the unmeasured layers" "$(head -c 600 "$H/runs.json")"; fi
expect_output "status marks a CONVERGED that leaves layers out" "^thin +running +4 +400 +- +[0-9]+\* " hcli status
expect_output "status names the unmeasured layers under its table" \
    "^\* thin: 2 of 3 layers never measured .*fc \(insufficient_datapoints\), head \(insufficient_datapoints\); CONVERGED covers only" hcli status
expect_output "the run_converged alert names the unmeasured layers and why" \
    "run_converged .*converged over the 1 measured layer; 2 never measured .*: fc \(insufficient_datapoints\), head \(insufficient_datapoints\)" hcli alerts thin

"$H_PY" -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
    "http://127.0.0.1:$H_PORT/metrics" >"$H/metrics.txt" 2>&1
if grep -qx 'pwccad_layer_measured{run="thin",layer="fc"} 0' "$H/metrics.txt" &&
   grep -qx 'pwccad_layer_measured{run="thin",layer="conv1"} 1' "$H/metrics.txt"; then
    ok "/metrics says which layers were measured"
else
    fail "/metrics says which layers were measured" "$(grep -a measured "$H/metrics.txt" | head -c 400)"
fi

# Item 2: convergence counts real distances only and leaves out what it cannot rank.
hcli finalize thin >/dev/null 2>&1
hcli finalize probe >/dev/null 2>&1
pw_wait 20 h_is "SELECT COUNT(*) FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 'probe' AND s.ref = 'final'" 15
pw_wait 20 h_is "SELECT COUNT(*) FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 'thin' AND s.ref = 'final'" 12
expect_output "convergence calls a layer without any distance unmeasured, not 'not yet'" \
    "^ +1 +fc +unmeasured +- +0 +insufficient_datapoints at 300$" hcli convergence thin
expect_output "convergence leaves unmeasured layers out of rho and says why" \
    "^left out of rho \(2\): fc \(never measured: insufficient_datapoints\), head \(never measured: insufficient_datapoints\)$" hcli convergence thin
expect_output "a settle step right after steps without a distance is only a bound" \
    "^ +0 +a +<=300 +[0-9-]+ +2 +n_mismatch at 200$" hcli convergence probe
expect_output "no verdict rests on bounded settle steps" \
    "^bottom-up: undetermined \(0 ranked layers, at least two are needed; 3 layers left out, above\)$" hcli convergence probe
hcli convergence probe --format json >"$H/conv.json"
if "$H_PY" -c '
import json, sys
c = json.load(open(sys.argv[1]))
a = c["layers"][0]
assert a["points"] == 2 and a["settled_step"] == 300 and a["settled_exact"] is False, a
assert a["gap_step"] == 200 and a["gap_status"] == "n_mismatch" and a["ranked"] is False, a
assert a["last_not_ok_status"] == "n_mismatch" and a["last_not_ok_step"] == 200, a
assert c["order"] == [] and c["ranked_layers"] == 0 and c["left_out"] == ["a", "b", "c"], c
assert c["spearman_rho"] is None and c["verdict"] == "undetermined", c' "$H/conv.json"
then ok "convergence --format json: points are real distances, bounds and gaps are named"
else fail "convergence --format json: points are real distances, bounds and gaps are named" "$(head -c 800 "$H/conv.json")"; fi

# Item 4: one .npy per step is one layer that every step shares.
if pw_wait 20 h_is "SELECT GROUP_CONCAT(DISTINCT s.layer || ':' || s.status) FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 'npy' AND s.ref = 'previous'" "activations:ok"; then
    ok "a run of step-N.npy files is compared step to step"
else
    fail "a run of step-N.npy files is compared step to step" "$(hq "SELECT s.step, s.layer, s.status FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 'npy'" | tr '\n' ' ')"
fi
if pw_wait 20 h_is "SELECT c.status FROM checkpoints c JOIN runs r ON r.id = c.run_id WHERE r.name = 'torch'" read_error &&
   hq "SELECT c.error FROM checkpoints c JOIN runs r ON r.id = c.run_id WHERE r.name = 'torch'" |
       grep -q "a PyTorch torch.save file .*safetensors.torch.save_file"; then
    ok "the daemon stores why a torch.save checkpoint is not read, and the way out"
else
    fail "the daemon stores why a torch.save checkpoint is not read, and the way out" \
        "$(hq "SELECT status, error FROM checkpoints c JOIN runs r ON r.id = c.run_id WHERE r.name = 'torch'")"
fi
expect "the .npy run has one distance per later step" \
    h_is "SELECT COUNT(*) FROM scores s JOIN runs r ON r.id = s.run_id WHERE r.name = 'npy' AND s.ref = 'previous' AND s.distance IS NOT NULL" 2
h_stop
