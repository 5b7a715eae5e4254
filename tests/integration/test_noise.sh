# test_noise.sh -- standard errors through the daemon (issue #21): the per-run key
# noise = jackknife:B every N, the SEs stored in scores.*_se at every N-th checkpoint,
# equal to what `pwcca compare --noise` prints for the same files, and `pwcca curve`
# showing them in every format.  The real daemon, real files; every wait is bounded.

N_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
N_PY=$(pw_numpy_python)
if [ -z "$N_PY" ] || ! command -v sqlite3 >/dev/null; then
    echo "  skip: these tests need python3 with numpy and the sqlite3 CLI"
    return 0 2>/dev/null || exit 0
fi
N=$PW_TMP/noise
mkdir -p "$N/runs/nz" "$N/runs/plain"
NDB=$N/pwccad.db
NSOCK=$N/pwccad.sock
cat >"$N/pwccad.conf" <<CONF
settle_time = 0.2
rescan_interval = 1
[run nz]
noise = jackknife:5 every 2
CONF

nmk() { "$N_PY" "$N_HERE/mkckpt.py" "$@" --layers conv1,fc --p 4 --n 64 --drift 0.3; }
nq() { sqlite3 -cmd ".timeout 2000" "$NDB" "$1" 2>/dev/null; }
nq_is() { [ "$(nq "$1")" = "$2" ]; }
ncli() { PWCCAD_SOCKET=$NSOCK "$PWCCA" --db "$NDB" "$@"; }
# n_se RUN STEP: "set" or "null" for each layer's pwcca_se against the previous checkpoint.
n_se() {
    nq "SELECT s.layer || ':' || iif(s.pwcca_se IS NULL, 'null', 'set') || ':' ||
        ifnull(s.noise_blocks, '-') FROM scores s JOIN runs r ON r.id = s.run_id
        WHERE r.name = '$1' AND s.step = $2 AND s.ref = 'previous' ORDER BY s.layer" | paste -sd,
}

for s in 100 200 300; do nmk "$N/runs/nz/step-$s.safetensors" --seed "$s"; done
for s in 100 200; do nmk "$N/runs/plain/step-$s.safetensors" --seed "$s"; done
N_PORT=$("$N_PY" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
"$PWCCAD" --watch "$N/runs" --db "$NDB" --socket "$NSOCK" --config "$N/pwccad.conf" \
    --metrics "127.0.0.1:$N_PORT" --foreground >>"$N/daemon.log" 2>&1 &
N_PID=$!
n_stop() {
    pw_stop_pid "$N_PID"
    local rc=$?
    N_PID=
    return $rc
}
trap 'n_stop' RETURN
if pw_wait 30 nq_is "SELECT COUNT(*) FROM scores WHERE ref = 'previous'" 6; then
    ok "pwccad scores both runs"
else
    fail "pwccad scores both runs" "$(tail -5 "$N/daemon.log")"
fi

# Checkpoints 0, 2, 4, ... of the run (steps 100, 300) get SEs; step 200 does not.
expect_output "every 2: the third checkpoint's scores carry SEs from 5 blocks" \
    "^conv1:set:5,fc:set:5$" n_se nz 300
expect_output "every 2: the second checkpoint's scores have none" \
    "^conv1:null:-,fc:null:-$" n_se nz 200
expect_output "a run without noise stores no SE" "^conv1:null:-,fc:null:-$" n_se plain 200

# The daemon stores exactly what pwcca compare --noise prints for the files.
out=$("$PWCCA" compare "$N/runs/nz/step-300.safetensors" "$N/runs/nz/step-200.safetensors" \
    --layer fc --noise jackknife:5 --json 2>&1)
if "$N_PY" -c '
import json, sqlite3, sys
l = json.loads(sys.argv[1])["layers"][0]
names = ("pwcca", "distance", "mean_cca", "svcca", "cka", "procrustes")
row = sqlite3.connect(sys.argv[2]).execute(
    "SELECT pwcca_se, distance_se, mean_cca_se, svcca_se, cka_se, procrustes_se, noise_blocks,"
    " pwcca FROM scores"
    " WHERE layer = ? AND step = 300 AND ref = ? AND run_id = (SELECT id FROM runs WHERE name = ?)",
    ("fc", "previous", "nz")).fetchone()
want = [l[m + "_se"] for m in names]
assert all(w is not None and w > 0 for w in want), want
assert all(abs(a - b) <= 1e-12 for a, b in zip(row[:6], want)), (row, want)
assert row[6] == l["noise_blocks"] == 5 and abs(row[7] - l["pwcca"]) <= 1e-12, (row, l)
assert l["cka_debiased_se"] is None, l  # its sums are not kept per block
' "$out" "$NDB" 2>"$N/err.txt"; then
    ok "the stored SEs (procrustes_se too) equal pwcca compare --noise jackknife:5 --json"
else
    fail "the stored SEs (procrustes_se too) equal pwcca compare --noise jackknife:5 --json" "$(cat "$N/err.txt") $out"
fi

# /metrics: the newest score of nz (step 300) has an SE, plain's (step 200) none.
"$N_PY" -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
    "http://127.0.0.1:$N_PORT/metrics" >"$N/metrics.txt" 2>&1
se=$(nq "SELECT distance_se FROM scores WHERE layer = 'fc' AND step = 300 AND ref = 'previous'")
expect "/metrics has the SE of a layer's newest distance" "$N_PY" -c '
import re, sys
m = re.search(r"^pwccad_layer_distance_se\{run=\"nz\",layer=\"fc\",ref=\"previous\"\} (\S+)$",
              open(sys.argv[1]).read(), re.M)
assert m and abs(float(m.group(1)) - float(sys.argv[2])) <= 1e-9 * float(sys.argv[2])' \
    "$N/metrics.txt" "$se"
expect "/metrics has no SE sample for a score without one" \
    bash -c "grep -q '^# TYPE pwccad_layer_distance_se gauge' '$N/metrics.txt' &&
        ! grep -q '^pwccad_layer_distance_se{run=\"plain\"' '$N/metrics.txt'"

expect_output "curve --format csv ends with the SE columns and noise_blocks" \
    "^run,layer,.*,reduce,k_x,k_y,pwcca_se,distance_se,mean_cca_se,svcca_se,cka_se,procrustes_se,noise_blocks,chance_distance$" \
    ncli curve nz --layer fc --format csv
expect_output "curve --format csv: a row with SEs has them, then 5" \
    "^nz,fc,[0-9]*,300,previous,200,.*,none,,,[0-9.e-]+,[0-9.e-]+,[0-9.e-]+,[0-9.e-]+,[0-9.e-]+,[0-9.e-]+,5,[0-9.e-]*$" \
    ncli curve nz --layer fc --format csv
expect_output "curve --format csv: a row without SEs has them empty" \
    "^nz,fc,[0-9]*,200,previous,100,.*,none,,,,,,,,,,[0-9.e-]*$" ncli curve nz --layer fc --format csv
expect_output "curve --format json carries pwcca_se, procrustes_se and noise_blocks" \
    '"step":300.*"pwcca_se":[0-9.e-]+,.*"procrustes_se":[0-9.e-]+,"noise_blocks":5' \
    ncli curve nz --layer fc --format json
expect_output "curve's table shows a metric with its SE as value±SE" "^fc .* 300 .*±" ncli curve nz
# Six metrics have an SE (every one but cka_debiased), so six cells show one.
expect_output "curve's table shows procrustes' SE too: six value±SE cells" \
    "^fc (.*±){6}" ncli curve nz --layer fc

if n_stop && ! grep -Eq "Sanitizer|runtime error" "$N/daemon.log"; then
    ok "pwccad stops cleanly (exit 0, no sanitizer reports)"
else
    fail "pwccad stops cleanly" "$(grep -E -m3 "Sanitizer|runtime error" "$N/daemon.log") $(tail -3 "$N/daemon.log")"
fi

# A bad noise setting is refused when the config is read, naming the forms.
printf 'settle_time = 0.2\n[run nz]\nnoise = jackknife:1\n' >"$N/bad.conf"
expect_output "a bad noise value is refused, naming the accepted forms" \
    "noise: .*jackknife:B" "$PWCCAD" --watch "$N/runs" --db "$N/bad.db" --socket "$N/bad.sock" \
    --config "$N/bad.conf" --foreground
expect_status "compare --noise with a bad mode is a usage error" 2 \
    "$PWCCA" compare "$N/runs/nz/step-300.safetensors" "$N/runs/nz/step-200.safetensors" \
    --noise jackknife

# Blocks are whole inputs: for a conv map [N, C, H, W] every position of an input
# stays in its block.  numpy's jackknife of CKA over blocks of inputs agrees.
"$N_PY" -c '
import numpy as np, sys
r = np.random.default_rng(5)
a = r.standard_normal((23, 3, 4, 5)).astype("f4")
b = (0.5 * a + r.standard_normal((23, 3, 4, 5))).astype("f4")
np.save(sys.argv[1] + "/a.npy", a); np.save(sys.argv[1] + "/b.npy", b)' "$N"
out=$("$PWCCA" compare "$N/a.npy" "$N/b.npy" --noise jackknife:7 --json 2>&1)
if "$N_PY" -c '
import json, sys, numpy as np
a = np.load(sys.argv[2] + "/a.npy").astype("f8"); b = np.load(sys.argv[2] + "/b.npy").astype("f8")
rows = lambda t: t.transpose(0, 2, 3, 1).reshape(-1, t.shape[1])
def cka(x, y):
    x = x - x.mean(0); y = y - y.mean(0)
    return np.linalg.norm(x.T @ y) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))
n, B = 23, 7
th = np.array([cka(rows(a[[i for i in range(n) if not k * n // B <= i < (k + 1) * n // B]]),
                   rows(b[[i for i in range(n) if not k * n // B <= i < (k + 1) * n // B]]))
               for k in range(B)])
se = np.sqrt((B - 1) / B * ((th - th.mean()) ** 2).sum())
got = json.loads(sys.argv[1])["layers"][0]["cka_se"]
assert abs(got - se) <= 1e-10 * se, (got, se)
' "$out" "$N" 2>"$N/err.txt"; then
    ok "compare --noise on an NCHW map: blocks of whole inputs, as numpy's jackknife"
else
    fail "compare --noise on an NCHW map: blocks of whole inputs" "$(cat "$N/err.txt") $out"
fi
