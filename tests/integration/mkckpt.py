#!/usr/bin/python3
"""mkckpt.py -- write a safetensors checkpoint the way training scripts do.

Usage: mkckpt.py PATH [--seed S] [--layers a,b] [--n N] [--p P] [--drift D]
                      [--meta-step S] [--mode rename|slow|direct] [--slow-seconds T]
                      [--dead K]

--p is one width for every layer, or a comma list, one per layer (4,300).
Each layer is a float32 n x p matrix: a fixed random base (seed 0) plus
drift * noise(seed S), so checkpoints with a small drift are close.
rename: write PATH.tmp then rename into place (atomic);
slow:   write PATH in place in pieces over --slow-seconds;
direct: write PATH in one go.
--dead K makes the last K neurons of every layer constant (dead); a comma list
gives one K per layer, like --p.
"""
import argparse, json, os, struct, sys, time
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("path")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--layers", default="conv1,fc")
ap.add_argument("--n", type=int, default=64)
ap.add_argument("--p", default="4")
ap.add_argument("--drift", type=float, default=0.1)
ap.add_argument("--meta-step", default=None)
ap.add_argument("--mode", default="rename", choices=["rename", "slow", "direct"])
ap.add_argument("--slow-seconds", type=float, default=2.0)
ap.add_argument("--dead", default="0")
ap.add_argument("--fingerprint", default=None, help="__metadata__ probe_fingerprint")
a = ap.parse_args()

header, blobs, off = {}, [], 0
names = a.layers.split(",")
widths = [int(w) for w in a.p.split(",")]
widths += widths[-1:] * (len(names) - len(widths))
dead = [int(k) for k in a.dead.split(",")]
dead += dead[-1:] * (len(names) - len(dead))
for i, name in enumerate(names):
    p = widths[i]
    base = np.random.default_rng(1000 + i).standard_normal((a.n, p))
    noise = np.random.default_rng(a.seed * 100 + i).standard_normal((a.n, p))
    x = (base + a.drift * noise).astype("<f4")
    if dead[i]:
        x[:, p - min(dead[i], p):] = 1.0
    b = x.tobytes()
    header[name] = {"dtype": "F32", "shape": [a.n, p], "data_offsets": [off, off + len(b)]}
    blobs.append(b)
    off += len(b)
if a.meta_step is not None:
    header["__metadata__"] = {"step": a.meta_step}
if a.fingerprint is not None:
    header.setdefault("__metadata__", {})["probe_fingerprint"] = a.fingerprint
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
data = struct.pack("<Q", len(h)) + h + b"".join(blobs)

if a.mode == "rename":
    tmp = a.path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, a.path)
elif a.mode == "direct":
    with open(a.path, "wb") as f:
        f.write(data)
else:
    pieces = 8
    step = (len(data) + pieces - 1) // pieces
    with open(a.path, "wb") as f:
        for k in range(pieces):
            f.write(data[k * step:(k + 1) * step])
            f.flush()
            time.sleep(a.slow_seconds / pieces)
