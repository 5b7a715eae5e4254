# test_formats.sh -- the daemon watches every format pwcca compare reads, named as
# compare accepts it: suffixes in any case (step-000100.NPZ, .SAFETENSORS, .NPY).
# One run per format; step 100 is there when pwccad starts (the first scan),
# step 200 is renamed into place while it runs (the live watch).  Bounded waits.

F_PY=$(pw_numpy_python)
pw_need "format tests" numpy sqlite3 || return 0
F_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
F=$PW_TMP/formats
mkdir -p "$F/runs/st" "$F/runs/npz" "$F/runs/npy"
printf 'settle_time = 0.3\nrescan_interval = 1\nincomplete_timeout = 2\n' >"$F/pwccad.conf"

# f_write STEP: one upper-case-suffixed checkpoint of STEP in each run, each
# written under a temporary name and renamed, as training scripts do.
f_write() {
    "$F_PY" "$F_HERE/mkckpt.py" "$F/runs/st/step-000$1.SAFETENSORS" --seed "$1"
    "$F_PY" - "$F/runs" "$1" <<'PY'
import os, sys
import numpy as np
runs, step = sys.argv[1], int(sys.argv[2])
x = lambda i: (np.random.default_rng(i).standard_normal((64, 4))
               + 0.1 * np.random.default_rng(step + i).standard_normal((64, 4))).astype("<f4")
for path, save in ((f"{runs}/npz/step-000{step}.NPZ", lambda f: np.savez(f, conv1=x(1), fc=x(2))),
                   (f"{runs}/npy/step-000{step}.NPY", lambda f: np.save(f, x(3)))):
    with open(path + ".tmp", "wb") as f:  # a file object: numpy would append .npy/.npz to a name
        save(f)
    os.rename(path + ".tmp", path)
PY
}
# f_sql SQL: the query's rows, or nothing while the database is not there yet.
f_sql() { sqlite3 -cmd ".timeout 2000" "$F/pwccad.db" "$1" 2>/dev/null; }
# f_until SECONDS SQL WANT: poll until the query prints WANT; 1 when it never does.
f_until() {
    local deadline=$((SECONDS + $1))
    until [ "$(f_sql "$2")" = "$3" ]; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}

f_write 100
"$PWCCAD" --watch "$F/runs" --db "$F/pwccad.db" --socket "$F/pwccad.sock" \
    --config "$F/pwccad.conf" --foreground >>"$F/daemon.log" 2>&1 &
F_PID=$!
F_CKPTS="SELECT r.name || ' ' || group_concat(c.step, ',') FROM
    (SELECT * FROM checkpoints WHERE status = 'ok' ORDER BY step) c JOIN runs r ON r.id = c.run_id
    GROUP BY r.name ORDER BY r.name"
if f_until 15 "$F_CKPTS" $'npy 100\nnpz 100\nst 100'; then
    ok "upper-case .NPY, .NPZ and .SAFETENSORS checkpoints are found at start"
else
    fail "upper-case suffixes found at start" "checkpoints: $(f_sql "$F_CKPTS"); log: $(tail -3 "$F/daemon.log")"
fi
f_write 200
F_SCORED="SELECT DISTINCT r.name FROM scores s JOIN runs r ON r.id = s.run_id
    WHERE s.step = 200 AND s.ref = 'previous' AND s.ref_step = 100 AND s.status = 'ok' ORDER BY r.name"
if f_until 15 "$F_SCORED" $'npy\nnpz\nst'; then
    ok "upper-case checkpoints written while pwccad runs are scored against their predecessor"
else
    fail "upper-case checkpoints scored" "runs scored: $(f_sql "$F_SCORED"); log: $(tail -3 "$F/daemon.log")"
fi
kill -TERM "$F_PID"
for _ in $(seq 100); do kill -0 "$F_PID" 2>/dev/null || break; sleep 0.1; done
kill -KILL "$F_PID" 2>/dev/null # still there after 10 s: fail below, never hang
expect_status "pwccad exits cleanly after watching upper-case checkpoints" 0 wait "$F_PID"
