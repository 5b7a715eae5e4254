# test_chance.sh -- the chance level through the daemon (issue #21 item 2): one row per
# (run, layer) in the chance table, stored at the layer's first scored pair, none for a
# run with chance = off; equal to `pwcca compare --chance` on that pair; shown by
# `pwcca curve` (json, csv, table), the lines plot's band and /metrics; computed again
# (still one row) by `pwcca rescore`.  Offline: compare --chance on an NCHW map equals
# numpy's CKA with whole inputs shuffled by the documented generator.  The real daemon,
# real files; every wait is bounded.

C_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
C_PY=$(pw_numpy_python)
if [ -z "$C_PY" ] || ! command -v sqlite3 >/dev/null; then
    echo "  skip: these tests need python3 with numpy and the sqlite3 CLI"
    return 0 2>/dev/null || exit 0
fi
C=$PW_TMP/chance
mkdir -p "$C/runs/ch" "$C/runs/off"
CDB=$C/pwccad.db
CSOCK=$C/pwccad.sock
cat >"$C/pwccad.conf" <<CONF
settle_time = 0.2
rescan_interval = 1
[run off]
chance = off
CONF

cmk() { "$C_PY" "$C_HERE/mkckpt.py" "$@" --layers conv1,fc --p 4 --n 64 --drift 0.3; }
cq() { sqlite3 -cmd ".timeout 2000" "$CDB" "$1" 2>/dev/null; }
cq_is() { [ "$(cq "$1")" = "$2" ]; }
ccli() { PWCCAD_SOCKET=$CSOCK "$PWCCA" --db "$CDB" "$@"; }
# c_rows RUN: "layer:step_a:step_b:seed:status" of each stored chance level.
c_rows() {
    cq "SELECT c.layer || ':' || c.step_a || ':' || c.step_b || ':' || c.seed || ':' || c.status
        FROM chance c JOIN runs r ON r.id = c.run_id WHERE r.name = '$1' ORDER BY c.layer" |
        paste -sd,
}

for s in 100 200 300; do cmk "$C/runs/ch/step-$s.safetensors" --seed "$s"; done
for s in 100 200; do cmk "$C/runs/off/step-$s.safetensors" --seed "$s"; done
C_PORT=$("$C_PY" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
"$PWCCAD" --watch "$C/runs" --db "$CDB" --socket "$CSOCK" --config "$C/pwccad.conf" \
    --metrics "127.0.0.1:$C_PORT" --foreground >>"$C/daemon.log" 2>&1 &
C_PID=$!
c_stop() {
    pw_stop_pid "$C_PID"
    local rc=$?
    C_PID=
    return $rc
}
trap 'c_stop' RETURN
if pw_wait 30 cq_is "SELECT COUNT(*) FROM scores WHERE ref = 'previous'" 6 &&
    pw_wait 10 cq_is "SELECT COUNT(*) FROM chance" 2; then
    ok "pwccad scores both runs and stores chance levels"
else
    fail "pwccad scores both runs and stores chance levels" "$(tail -5 "$C/daemon.log")"
fi

# Exactly one row per layer of the run, on one of its scored pairs, with the fixed seed.
expect_output "one chance row per layer of the run, from a scored pair, seed 20261206" \
    "^conv1:(200:100|300:200):20261206:ok,fc:(200:100|300:200):20261206:ok$" c_rows ch
expect_output "a run with chance = off stores none" "^$" c_rows off

# The stored value is what pwcca compare --chance prints for the pair's files.
c_pair=$(cq "SELECT step_a || ' ' || step_b FROM chance c JOIN runs r ON r.id = c.run_id
             WHERE r.name = 'ch' AND c.layer = 'fc'")
read -r c_a c_b <<<"$c_pair"
out=$("$PWCCA" compare "$C/runs/ch/step-$c_a.safetensors" "$C/runs/ch/step-$c_b.safetensors" \
    --layer fc --chance --json 2>&1)
if "$C_PY" -c '
import json, sqlite3, sys
l = json.loads(sys.argv[1])["layers"][0]
names = ("pwcca", "distance", "mean_cca", "svcca", "cka", "cka_debiased", "procrustes")
row = sqlite3.connect(sys.argv[2]).execute(
    "SELECT " + ", ".join(names) + ", seed FROM chance WHERE layer = ? AND "
    "run_id = (SELECT id FROM runs WHERE name = ?)", ("fc", "ch")).fetchone()
c = l["chance"]
assert c["status"] == "ok" and row[-1] == c["seed"] == 20261206, (c, row)
assert all(abs(a - c[m]) <= 1e-12 for a, m in zip(row, names)), (row, c)
assert c["distance"] > l["distance"] + 0.3, (c["distance"], l["distance"])
' "$out" "$CDB" 2>"$C/err.txt"; then
    ok "the stored chance level equals pwcca compare --chance --json to 1e-12"
else
    fail "the stored chance level equals pwcca compare --chance --json" "$(cat "$C/err.txt") $out"
fi

c_fc=$(cq "SELECT distance FROM chance WHERE layer = 'fc'")
if ccli curve ch --layer fc --format json >"$C/curve.json" 2>&1 && "$C_PY" -c '
import json, sys
rows = json.load(open(sys.argv[1]))
assert len(rows) == 2 and all(abs(r["chance_distance"] - float(sys.argv[2])) <= 1e-12 for r in rows)
' "$C/curve.json" "$c_fc" 2>"$C/err.txt"; then
    ok "curve --format json gives every row its layer's chance_distance"
else
    fail "curve --format json gives every row its layer's chance_distance" \
        "$(cat "$C/err.txt" "$C/curve.json")"
fi
expect_output "curve --format csv ends with chance_distance" \
    "^run,layer,.*,noise_blocks,chance_distance$" ccli curve ch --format csv
expect_output "curve --format json of a run without chance has null" '"chance_distance":null' \
    ccli curve off --format json
expect_output "curve's table says each layer's chance level" "^chance fc: distance 0\.[0-9]+" \
    ccli curve ch

ccli plot ch --kind lines -o "$C/lines.svg" >/dev/null 2>&1
expect "the lines plot draws a chance band per layer and names it in the legend" bash -c "
    grep -q 'class=\"chance-band\"' '$C/lines.svg' &&
    [ \"\$(grep -o '<title>chance [a-z0-9]*: ' '$C/lines.svg' | sort -u | wc -l)\" = 2 ] &&
    grep -q '>chance</text>' '$C/lines.svg'"

"$C_PY" -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
    "http://127.0.0.1:$C_PORT/metrics" >"$C/metrics.txt" 2>&1
expect "/metrics has pwccad_layer_chance_distance for each layer of the run, none for off" \
    "$C_PY" -c '
import re, sys
t = open(sys.argv[1]).read()
assert "# TYPE pwccad_layer_chance_distance gauge" in t
m = re.search(r"^pwccad_layer_chance_distance\{run=\"ch\",layer=\"fc\"\} (\S+)$", t, re.M)
assert m and abs(float(m.group(1)) - float(sys.argv[2])) <= 1e-9
assert re.search(r"^pwccad_layer_chance_distance\{run=\"ch\",layer=\"conv1\"\} ", t, re.M)
assert "pwccad_layer_chance_distance{run=\"off\"" not in t' "$C/metrics.txt" "$c_fc"

# On demand: rescore computes it again, and there is still one row per layer.
c_before=$(cq "SELECT group_concat(computed_at) FROM chance")
c_changed() { ! cq_is "SELECT group_concat(computed_at) FROM chance" "$c_before" &&
    cq_is "SELECT COUNT(*) FROM chance" 2; }
ccli rescore ch >/dev/null 2>&1
pw_expect_wait "rescore computes the chance levels again" 30 c_changed
expect_output "after the rescore: still one row per layer, the same seed" \
    "^conv1:[0-9]+:[0-9]+:20261206:ok,fc:[0-9]+:[0-9]+:20261206:ok$" c_rows ch

if c_stop && ! grep -Eq "Sanitizer|runtime error" "$C/daemon.log"; then
    ok "pwccad stops cleanly (exit 0, no sanitizer reports)"
else
    fail "pwccad stops cleanly" "$(grep -E -m3 "Sanitizer|runtime error" "$C/daemon.log") $(tail -3 "$C/daemon.log")"
fi

printf 'settle_time = 0.2\n[run ch]\nchance = maybe\n' >"$C/bad.conf"
expect_output "a bad chance value is refused, naming on and off" \
    "chance must be on or off" "$PWCCAD" --watch "$C/runs" --db "$C/bad.db" \
    --socket "$C/bad.sock" --config "$C/bad.conf" --foreground

# Whole inputs, and the generator: for a conv map [N, C, H, W] every position of an
# input moves with it, and splitmix64 + Fisher-Yates as docs/ENGINE.md states it gives
# the permutation (numpy's CKA on B's inputs permuted agrees).
"$C_PY" -c '
import numpy as np, sys
r = np.random.default_rng(5)
a = r.standard_normal((23, 3, 4, 5)).astype("f4")
b = (0.5 * a + r.standard_normal((23, 3, 4, 5))).astype("f4")
np.save(sys.argv[1] + "/a.npy", a); np.save(sys.argv[1] + "/b.npy", b)' "$C"
out=$("$PWCCA" compare "$C/a.npy" "$C/b.npy" --chance --json 2>&1)
if "$C_PY" -c '
import json, sys, numpy as np
M = (1 << 64) - 1
def perm(n, seed):
    st, p = seed, list(range(n))
    def draw():
        nonlocal st
        st = (st + 0x9e3779b97f4a7c15) & M
        z = ((st ^ (st >> 30)) * 0xbf58476d1ce4e5b9) & M
        z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M
        return z ^ (z >> 31)
    for i in range(n, 1, -1):
        r = draw()
        while r >= M - M % i:
            r = draw()
        j = r % i
        p[i - 1], p[j] = p[j], p[i - 1]
    return p
a = np.load(sys.argv[2] + "/a.npy").astype("f8"); b = np.load(sys.argv[2] + "/b.npy").astype("f8")
rows = lambda t: t.transpose(0, 2, 3, 1).reshape(-1, t.shape[1])
def cka(x, y):
    x = x - x.mean(0); y = y - y.mean(0)
    return np.linalg.norm(x.T @ y) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))
c = json.loads(sys.argv[1])["layers"][0]["chance"]
want = cka(rows(a), rows(b[perm(23, c["seed"])]))
assert abs(c["cka"] - want) <= 1e-10 * want, (c["cka"], want)
' "$out" "$C" 2>"$C/err.txt"; then
    ok "compare --chance on an NCHW map: whole inputs shuffled, as numpy with the documented generator"
else
    fail "compare --chance on an NCHW map: whole inputs shuffled" "$(cat "$C/err.txt") $out"
fi
expect_output "compare --chance's table has a chance line under the layer" \
    "^  chance +0\.[0-9]+ " "$PWCCA" compare "$C/a.npy" "$C/b.npy" --chance
