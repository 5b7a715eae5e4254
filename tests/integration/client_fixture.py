#!/usr/bin/python3
"""client_fixture.py -- a pwccad database shaped like the daemon's, for the client tests.

Usage: client_fixture.py SCHEMA_DIR OUT.db

Applies schema/NNN_*.sql in order (setting PRAGMA user_version as pwccad
does), switches to WAL like the daemon, and fills it with:

  deep     a finished run (final at step 2000): 8 layers whose distance to the
           final checkpoint decays faster the lower the layer (so they settle
           bottom-up), scores against the previous and the final checkpoint,
           one layer (head.probe) with too few datapoints (CCA metrics NULL,
           CKA given), stability alerts, one layer_unstable, run_converged.
  live     a running run (no final step): 3 layers, previous-checkpoint scores.
  twin     two runs with the same display name in different directories.

The values are deterministic, so the tests can state what the client must
print.  Nothing here imports numpy: /usr/bin/python3 or any python3 will do.
"""
import glob
import math
import os
import sqlite3
import sys

STEP = 100
FINAL = 2000
DEEP_LAYERS = [  # name, rows (n), cols (neurons), shape
    ("embed", 2048, 64, "[2048, 64]"),
    ("block0.conv", 2048, 32, "[32, 32, 8, 8]"),
    ("block1.conv", 2048, 64, "[32, 64, 4, 4]"),
    ("block2.conv", 2048, 64, "[32, 64, 4, 4]"),
    ("block3.conv", 2048, 128, "[128, 128, 2, 2]"),
    ("block4.attn", 2048, 128, "[16, 128, 128]"),
    ("head.fc", 2048, 256, "[2048, 256]"),
    ("head.probe", 32, 512, "[32, 512]"),  # n <= p + q: insufficient datapoints
]
TAU_STABLE = 0.02  # previous-checkpoint distance the fixture's alerts fire at


def final_distance(depth, step):
    """Distance to the final checkpoint: lower layers decay faster."""
    if step >= FINAL:
        return 0.0
    tau = 150.0 + 110.0 * depth
    end = math.exp(-FINAL / tau)
    wiggle = 0.01 * math.sin(0.013 * step + depth) * math.exp(-step / 600.0)
    return max(0.0, 0.82 * (math.exp(-step / tau) - end) / (1 - end) + wiggle)


def previous_distance(depth, step):
    """Distance to the checkpoint one STEP before."""
    a, b = final_distance(depth, step - STEP), final_distance(depth, step)
    return abs(a - b) * 1.3 + 0.0015


def apply_schema(db, schema_dir):
    for path in sorted(glob.glob(os.path.join(schema_dir, "[0-9][0-9][0-9]_*.sql"))):
        version = int(os.path.basename(path)[:3])
        with open(path, encoding="utf-8") as f:
            db.executescript(f.read())
        db.execute(f"PRAGMA user_version = {version}")


def add_run(db, name, path, final_step, created):
    cur = db.execute(
        "INSERT INTO runs (name, path, final_step, final_source, converged_step, created_at)"
        " VALUES (?, ?, ?, ?, NULL, ?)",
        (name, path, final_step, "FINAL file" if final_step is not None else None, created))
    return cur.lastrowid


def add_checkpoints(db, run_id, path, steps, t0):
    for s in steps:
        db.execute(
            "INSERT INTO checkpoints (run_id, step, path, size, mtime_ns, inode, status, error,"
            " present, processed_at) VALUES (?, ?, ?, ?, ?, ?, 'ok', NULL, 1, ?)",
            (run_id, s, f"{path}/step_{s:06d}.safetensors", 1 << 20, int((t0 + s) * 1e9),
             1000 + s, t0 + s))


def add_score(db, run_id, layer, step, ref, ref_step, rows, cols, distance, t):
    if distance is None:  # insufficient datapoints: CCA metrics do not apply
        db.execute(
            "INSERT INTO scores (run_id, layer, step, ref, ref_step, n, p_kept, q_kept, pwcca,"
            " distance, mean_cca, svcca, cka, status, message, computed_at)"
            " VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, NULL, NULL, ?,"
            " 'insufficient_datapoints', ?, ?)",
            (run_id, layer, step, ref, ref_step, rows, 0.91,
             f"n = {rows} <= p_kept + q_kept = {2 * cols}: too few datapoints, use 5-10x more",
             t))
        return
    pw = 1.0 - distance
    db.execute(
        "INSERT INTO scores (run_id, layer, step, ref, ref_step, n, p_kept, q_kept, pwcca, distance,"
        " mean_cca, svcca, cka, status, message, computed_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'ok', NULL, ?)",
        (run_id, layer, step, ref, ref_step, rows, cols - 1, cols - 2, pw, distance,
         pw - 0.03 * distance, pw - 0.01, 1.0 - 0.5 * distance, t))


def add_alert(db, run_id, kind, layer, step, value, detail, t):
    db.execute(
        "INSERT INTO alerts (run_id, kind, layer, step, value, detail, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)", (run_id, kind, layer, step, value, detail, t))


def deep_run(db):
    t0 = 1_790_000_000.0
    path = "/data/runs/deep"
    run_id = add_run(db, "deep", path, FINAL, t0)
    steps = list(range(0, FINAL + 1, STEP))
    add_checkpoints(db, run_id, path, steps, t0)
    stable = {}
    for depth, (name, rows, cols, shape) in enumerate(DEEP_LAYERS):
        probe = rows <= 2 * cols
        for s in steps:
            if s > 0:
                add_score(db, run_id, name, s, "previous", s - STEP, rows, cols,
                          None if probe else previous_distance(depth, s), t0 + s)
            # Like the daemon, the final checkpoint is scored against itself too.
            add_score(db, run_id, name, s, "final", FINAL, rows, cols,
                      None if probe else final_distance(depth, s), t0 + FINAL + s)
        if not probe:
            stable[name] = next(s for s in steps[1:] if previous_distance(depth, s) <= TAU_STABLE)
        db.execute(
            "INSERT INTO layers VALUES (?, ?, ?, 'F32', ?, ?, ?, ?)",
            (run_id, name, depth, shape, rows, cols, stable.get(name)))
    # Alerts in time order; block3 wobbles once before it stays stable.
    events = [(s, "layer_stable", n, previous_distance(DEEP_LAYERS.index(
        next(l for l in DEEP_LAYERS if l[0] == n)), s)) for n, s in stable.items()]
    events.append((stable["block3.conv"] - 3 * STEP, "layer_stable", "block3.conv", 0.0098))
    events.append((stable["block3.conv"] - 2 * STEP, "layer_unstable", "block3.conv", 0.0121))
    for s, kind, layer, value in sorted(events):
        add_alert(db, run_id, kind, layer, s, value, None, t0 + s + 1)
    converged = max(stable.values())
    add_alert(db, run_id, "run_converged", "", converged, None,
              "without a distance: head.probe", t0 + converged + 2)
    db.execute("UPDATE runs SET converged_step = ? WHERE id = ?", (converged, run_id))


def live_run(db):
    t0 = 1_790_100_000.0
    path = "/data/runs/live"
    run_id = add_run(db, "live", path, None, t0)
    steps = list(range(0, 501, STEP))
    add_checkpoints(db, run_id, path, steps, t0)
    for depth, name in enumerate(["conv1", "conv2", "fc"]):
        db.execute("INSERT INTO layers VALUES (?, ?, ?, 'BF16', '[512, 64]', 512, 64, NULL)",
                   (run_id, name, depth))
        for s in steps[1:]:
            add_score(db, run_id, name, s, "previous", s - STEP, 512, 64,
                      min(0.9, previous_distance(depth, s) * 3), t0 + s)


def twin_runs(db):
    for i, parent in enumerate(["/data/a", "/data/b"]):
        add_run(db, "twin", f"{parent}/twin", None, 1_790_200_000.0 + i)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    schema_dir, out = sys.argv[1], sys.argv[2]
    if os.path.exists(out):
        os.remove(out)
    db = sqlite3.connect(out, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    apply_schema(db, schema_dir)
    db.execute("BEGIN")
    deep_run(db)
    live_run(db)
    twin_runs(db)
    db.execute("COMMIT")
    db.close()


if __name__ == "__main__":
    main()
