# test_groups.sh -- run groups in the daemon (issue #22 item 2, docs/DAEMON.md
# "Run groups"): with a [group NAME] in its config, pwccad stores every cross
# pair of the group's runs -- each equal to `pwcca compare A_FILE B_FILE` to
# 1e-12 --, survives kill -9 in the middle of them (each pair stored exactly
# once, none computed again), refuses runs on two probes as probe_mismatch with
# one log line, and `pwcca cluster GROUP` clusters from the stored rows as
# `pwcca cluster RUN RUN RUN` does from the files.
#
# The kill lands mid-way for certain: the group first holds two runs (their
# pairs stored, then a clean stop), then a third run joins it, and the daemon
# is started with tests/integration/slow_lapack.c holding its first LAPACK call
# -- a new cross pair's -- while it is killed.

G_PY=$(pw_numpy_python)
G_TRAINER="$BUILD/examples/trainer"
pw_need "group tests" numpy sqlite3 "$G_TRAINER" || { return 0 2>/dev/null || exit 0; }
G=$PW_TMP/groups
G_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mkdir -p "$G/runs/pa" "$G/runs/pb"
gq() { sqlite3 -cmd ".timeout 2000" "$G/g.db" "$1" 2>/dev/null; }
gcheck() {
    local name=$1 code=$2 out; shift 2
    if out=$("$G_PY" -c "$code" "$@" 2>&1); then ok "$name"; else fail "$name" "$(head -c 800 <<<"$out")"; fi
}

# Two seeds of one width and one other width: checkpoints at 0, 50, 100, 150 (FINAL).
for spec in "s1 1 16,16" "s2 2 16,16" "w1 1 32,32"; do
    set -- $spec
    "$G_TRAINER" --out "$G/runs/$1" --seed "$2" --hidden "$3" --steps 150 --every 50 \
        --probe 300 --quiet >/dev/null
done
# Two runs on different probes, with a step in common.
"$G_PY" "$G_REPO/tests/integration/mkckpt.py" "$G/runs/pa/step-100.safetensors" --n 80 \
    --mode direct --fingerprint 0123abcd --seed 11 >/dev/null
"$G_PY" "$G_REPO/tests/integration/mkckpt.py" "$G/runs/pb/step-100.safetensors" --n 80 \
    --mode direct --fingerprint 4567ef01 --seed 12 >/dev/null

gconf() {
    printf 'settle_time = 0.1\nrescan_interval = 1\nworkers = 1\n[group mlp]\nruns = %s\n[group probes]\nruns = p?\n' \
        "$1" >"$G/g.conf"
}
G_PID=
trap 'pw_daemon_stop G_PID' RETURN
# gpairs GROUP: cross pairs stored for the group.
gpairs() { gq "SELECT COUNT(*) FROM (SELECT DISTINCT run_a, run_b, step_a, step_b FROM group_scores WHERE group_name = '$1')"; }
gpairs_is() { [ "$(gpairs "$1")" = "$2" ]; }

# --- phase 1: s1 and s2 only ------------------------------------------------------
gconf "s1 s2"
if pw_daemon_start G_PID "$G/p1.log" "$G/g.sock" --watch "$G/runs" --db "$G/g.db" --config "$G/g.conf"; then
    ok "pwccad starts with two [group] sections"
else
    fail "pwccad starts with two [group] sections" "$(tail -5 "$G/p1.log")"
fi
pw_expect_wait "the group's two runs: 4 cross pairs stored (steps 0, 50, 100, 150)" 30 gpairs_is mlp 4
pw_expect_wait "the runs on two probes: their one cross pair stored" 30 gpairs_is probes 1
pw_expect_wait "every checkpoint of the five runs is stored" 30 \
    test "$(gq "SELECT COUNT(*) FROM checkpoints WHERE status = 'ok'")" = 14
pw_daemon_stop G_PID
gq "SELECT run_a, run_b, layer_a, step_a, computed_at FROM group_scores WHERE group_name = 'mlp' ORDER BY 1, 2, 3, 4" >"$G/before.txt"

gcheck "probe_mismatch: stored for every layer, never computed, the message naming both fingerprints" '
import sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute("SELECT status, pwcca, cka, n, message FROM group_scores WHERE group_name = ?", ("probes",)).fetchall()
assert rows, rows
for st, pw, cka, n, msg in rows:
    assert st == "probe_mismatch" and pw is None and cka is None and n is None, rows
    assert "0123abcd" in msg and "4567ef01" in msg, msg
' "$G/g.db"
expect "and one log line says so, once for the run pair" \
    test "$(grep -c 'group probes: .*probe_fingerprint' "$G/p1.log")" = 1
expect "runs without fingerprints are compared, with one warning for the run pair (not one per step)" \
    test "$(grep -c 'group mlp: .*neither .* has a probe_fingerprint' "$G/p1.log")" = 1

# --- phase 2: w1 joins; kill -9 while its first cross pair is inside LAPACK ---------
gconf "s1 s2 w1"
G_SHIM=$G/slow_lapack.so
G_ASAN=""
nm "$BUILD/libpwcca.a" 2>/dev/null | grep -q __asan_ && G_ASAN="verify_asan_link_order=0:"
if ${CC:-cc} -std=c11 -O1 -fPIC -shared -o "$G_SHIM" "$G_REPO/tests/integration/slow_lapack.c" \
    -ldl >"$G/cc.log" 2>&1; then
    touch "$G/hold"
    env ASAN_OPTIONS="${G_ASAN}${ASAN_OPTIONS:-}" LD_PRELOAD="$G_SHIM" PW_SLOW_LAPACK_HOLD="$G/hold" \
        PW_SLOW_LAPACK_MARK="$G/inside" PW_SLOW_LAPACK_S=30 "$PWCCAD" --watch "$G/runs" \
        --db "$G/g.db" --config "$G/g.conf" --socket "$G/g.sock" --foreground >>"$G/p2.log" 2>&1 &
    G_PID=$!
    pw_expect_wait "a cross pair of the new run is being computed" 20 test -e "$G/inside"
    kill -KILL "$G_PID"
    wait "$G_PID" 2>/dev/null
    G_PID=
    rm -f "$G/hold"
    g_mid=$(gpairs mlp)
    expect "killed mid-way: fewer than the 12 cross pairs stored ($g_mid)" test "$g_mid" -lt 12
else
    fail "slow_lapack.c builds" "$(tail -c 600 "$G/cc.log")"
fi

# --- phase 3: restart; the rest is stored, nothing twice, nothing again -------------
if pw_daemon_start G_PID "$G/p3.log" "$G/g.sock" --watch "$G/runs" --db "$G/g.db" --config "$G/g.conf"; then
    ok "pwccad restarts after kill -9"
else
    fail "pwccad restarts after kill -9" "$(tail -5 "$G/p3.log")"
fi
pw_expect_wait "all 12 cross pairs of the three runs stored (3 run pairs x 4 steps)" 30 gpairs_is mlp 12
pw_daemon_stop G_PID
expect "each cross pair exactly once: 12 pairs x 3 layers = 36 rows" \
    test "$(gq "SELECT COUNT(*) FROM group_scores WHERE group_name = 'mlp'")" = 36
gq "SELECT run_a, run_b, layer_a, step_a, computed_at FROM group_scores WHERE group_name = 'mlp' ORDER BY 1, 2, 3, 4" >"$G/after.txt"
gcheck "the pairs stored before the kill were not computed again (same computed_at)" '
import sys
before = set(open(sys.argv[1]).read().split())
after = set(open(sys.argv[2]).read().split())
assert len(before) == 12 and before <= after, (len(before), sorted(before - after))
' "$G/before.txt" "$G/after.txt"
expect_output "the restarted daemon read what was stored" "cross pairs already stored" cat "$G/p3.log"
gcheck "fairly: the pairs left go round robin over the run pairs (w1 with s1, then with s2)" '
import re, sys
pairs = re.findall(r"group mlp: (\S+):\d+ vs (\S+):\d+: \d+ layer pairs stored", open(sys.argv[1]).read())
assert len(pairs) >= 4, pairs
assert all(pairs[i] != pairs[i + 1] for i in range(len(pairs) - 1)), pairs
' "$G/p3.log"

# Every stored row against `pwcca compare` on the same two files.
gcheck "every stored cross row equals pwcca compare A B --json on the two files (1e-12)" '
import json, math, sqlite3, subprocess, sys
db = sqlite3.connect(sys.argv[1])
metrics = ("pwcca", "distance", "mean_cca", "svcca", "cka", "cka_debiased", "procrustes")
q = """SELECT ca.path, cb.path, g.layer_a, g.layer_b, g.status, g.n, g.p_kept, g.q_kept, %s
       FROM group_scores g JOIN checkpoints ca ON ca.run_id = g.run_a AND ca.step = g.step_a
       JOIN checkpoints cb ON cb.run_id = g.run_b AND cb.step = g.step_b
       WHERE g.group_name = ?""" % ", ".join("g." + m for m in metrics)
pairs = {}
for r in db.execute(q, ("mlp",)):
    pairs.setdefault((r[0], r[1]), []).append(r)
assert len(pairs) == 12, len(pairs)
checked = 0
for (a, b), rows in pairs.items():
    out = subprocess.run([sys.argv[2], "compare", a, b, "--json"], capture_output=True, text=True, check=True).stdout
    cmp = {l["layer"]: l for l in json.loads(out)["layers"]}
    assert len(rows) == len(cmp) == 3, (a, b, len(rows))
    for r in rows:
        c = cmp[r[2]]
        assert r[2] == r[3] and r[4] == c["status"] == "ok", (r, c)
        assert (r[5], r[6], r[7]) == (c["n"], c["p_kept"], c["q_kept"]), (r, c)
        for k, v in zip(metrics, r[8:]):
            assert (v is None) == (c[k] is None), (k, v, c[k])
            if v is not None:
                assert abs(v - c[k]) <= 1e-12, (a, b, r[2], k, v, c[k])
                checked += 1
assert checked >= 36 * 5, checked
' "$G/g.db" "$PWCCA"

# --- the client: cluster GROUP and group NAME ---------------------------------------
"$PWCCA" --db "$G/g.db" cluster mlp --json >"$G/cg.json" 2>"$G/cg.err"
"$PWCCA" --db "$G/g.db" cluster s1 s2 w1 --json >"$G/cr.json" 2>/dev/null
"$PWCCA" --db "$G/g.db" cluster mlp --json --distance procrustes --layer fc2 --step 100 >"$G/pg.json" 2>>"$G/cg.err"
"$PWCCA" --db "$G/g.db" cluster s1 s2 w1 --json --distance procrustes --layer fc2 --step 100 >"$G/pr.json" 2>/dev/null
gcheck "cluster GROUP: the merge order of cluster RUN RUN RUN on the same runs; Procrustes matrices equal (1e-12)" '
import json, sys
def merges(path):
    j = json.load(open(path))
    names = [l.split(":")[0] for l in j["runs"]]
    k = len(names)
    sets = [frozenset([n]) for n in names]
    out = []
    for a, b, h, size in j["linkage"]:
        s = sets[int(a)] | sets[int(b)]
        sets.append(s)
        out.append(s)
    return j, names, out
g, gn, gm = merges(sys.argv[1])
r, rn, rm = merges(sys.argv[2])
assert sorted(gn) == sorted(rn) == ["s1", "s2", "w1"], (gn, rn)
assert gm == rm, (gm, rm)
assert g["layer"] == r["layer"] == "logits", (g["layer"], r["layer"])
assert all(l.endswith(":150") for l in g["runs"]), g["runs"]
pg, pgn, pgm = merges(sys.argv[3])
pr, prn, prm = merges(sys.argv[4])
assert pgm == prm, (pgm, prm)
dg = {(pgn[i], pgn[j]): pg["matrix"][i][j] for i in range(3) for j in range(3)}
dr = {(prn[i], prn[j]): pr["matrix"][i][j] for i in range(3) for j in range(3)}
for key, v in dg.items():
    assert abs(v - dr[key]) <= 1e-12, (key, v, dr[key])
' "$G/cg.json" "$G/cr.json" "$G/pg.json" "$G/pr.json"
expect "and reads no file (no probe warning)" test ! -s "$G/cg.err"
expect_status "cluster NAME of no group: exit 1" 1 "$PWCCA" --db "$G/g.db" cluster nosuch
expect_output "naming what a group is" "not a run group with stored cross-run scores" \
    "$PWCCA" --db "$G/g.db" cluster nosuch
expect_status "cluster of the probe-mismatched group: exit 1" 1 "$PWCCA" --db "$G/g.db" cluster probes
gcheck "group NAME --format json: every stored row, finals marked" '
import json, sys
rows = json.load(open(sys.argv[1]))
assert len(rows) == 36, len(rows)
assert {r["final"] for r in rows if r["step_a"] == 150} == {True}, rows
assert {r["final"] for r in rows if r["step_a"] != 150} == {False}, rows
assert all(r["status"] == "ok" and r["layer_a"] == r["layer_b"] for r in rows)
' <("$PWCCA" --db "$G/g.db" group mlp --format json)
expect_output "group NAME --format csv --layer: a header and that layer's rows" "^run_a,run_b,layer_a,layer_b,step_a,step_b,final" \
    "$PWCCA" --db "$G/g.db" group mlp --format csv --layer fc1
printf '[group .bad]\nruns = *\n' >"$G/bad.conf"
expect_output "a bad group name in the config is refused at start, naming file:line" "bad.conf:2: group name '.bad' may hold only" \
    "$PWCCAD" --config "$G/bad.conf" --db "$G/bad.db" --socket "$G/bad.sock" --watch "$G/runs" --foreground
