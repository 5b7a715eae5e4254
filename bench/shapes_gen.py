#!/usr/bin/python3
"""shapes_gen.py -- synthetic activation checkpoints with the shapes of real models.

    shapes_gen.py layers CASE [--quick]
        print the case's layers, one "name n p" line each (n = datapoints as the
        daemon counts them, p = neurons), for the Gram cost estimate
    shapes_gen.py series CASE OUTDIR COUNT [--quick] [--period S]
        write COUNT checkpoints step-000100.safetensors, step-000200, ... into
        OUTDIR, each under a temporary name (".step-...safetensors") and then
        renamed into place (docs/FORMATS.md, "Writing checkpoints safely").
        --period S publishes one every S seconds (a training job's pace: the
        time spent generating counts in the period); without it they are
        written as fast as possible.  Prints "published STEP AT" per file.

Cases (bench/bench_shapes.sh):
  resnet18        ResNet-18 stage outputs on 1024 32x32 probe images, NCHW:
                  layer1 64x32x32, layer2 128x16x16, layer3 256x8x8,
                  layer4 512x4x4, avgpool 512 (every spatial position a datapoint)
  resnet18_s16    the same as the Probe's spatial=16 writes them: [N, C, 16, 1]
                  per conv map with more than 16 positions (layer4, 4x4, is kept whole)
  gpt2            GPT-2 small residual stream: 12 layers h.0..h.11, 16384 tokens x 768
  mlp8k, mlp16k   the wide MLP: fc1 2048 and fc2 4096 neurons at n = 8192 / 16384

Activations evolve over "training": each layer is a low-rank signal U V
plus noise, and every checkpoint moves it, X_t = X_{t-1} + a_t (U W_t +
0.3 Z_t) with a_t = 0.5 * 0.7^t, so distances between consecutive
checkpoints shrink the way a converging layer's do, and no two files are
alike.  F32, little endian, with "layers" metadata (the depth order).
"""
import json
import os
import struct
import sys
import time

import numpy as np

RANK = 16  # rank of the shared signal of every layer


def case_layers(case, quick):
    """[(name, shape)] of a case; shapes as the file stores them."""
    if case in ("resnet18", "resnet18_s16"):
        n = 64 if quick else 1024
        stages = [("layer1", 64, 32), ("layer2", 128, 16), ("layer3", 256, 8), ("layer4", 512, 4)]
        out = []
        for name, c, hw in stages:
            if case == "resnet18_s16" and hw * hw > 16:
                out.append((name, [n, c, 16, 1]))
            else:
                out.append((name, [n, c, hw, hw]))
        out.append(("avgpool", [n, 512]))
        return out
    if case == "gpt2":
        t, d = (2048, 192) if quick else (16384, 768)
        return [("h.%d" % i, [t, d]) for i in range(12)]
    if case in ("mlp8k", "mlp16k"):
        n = {"mlp8k": 8192, "mlp16k": 16384}[case]
        if quick:
            n //= 8
            return [("fc1", [n, 256]), ("fc2", [n, 512])]
        return [("fc1", [n, 2048]), ("fc2", [n, 4096])]
    raise SystemExit("shapes_gen.py: unknown case %r" % case)


def rows_cols(shape):
    """Datapoints and neurons as the daemon reads the shape (FORMATS.md, "Shapes")."""
    if len(shape) == 4:
        return shape[0] * shape[2] * shape[3], shape[1]
    return shape[0], shape[1]


class Layer:
    """One layer's activations as a rows x neurons matrix, moved a step at a time."""

    def __init__(self, shape, rng):
        self.shape = shape
        self.n, self.p = rows_cols(shape)
        self.rng = rng
        self.u = rng.standard_normal((self.n, RANK), dtype=np.float32)
        v = rng.standard_normal((RANK, self.p), dtype=np.float32)
        self.x = self.u @ v
        self.x += np.float32(0.3) * rng.standard_normal((self.n, self.p), dtype=np.float32)

    def step(self, t):
        a = np.float32(0.5 * 0.7 ** t)
        w = self.rng.standard_normal((RANK, self.p), dtype=np.float32)
        z = self.rng.standard_normal((self.n, self.p), dtype=np.float32)
        z *= np.float32(0.3)
        z += self.u @ w
        z *= a
        self.x += z

    def tensor(self):
        """The file's layout: NCHW maps hold rows ordered (image, position)."""
        if len(self.shape) == 4:
            n, c, h, w = self.shape
            return np.ascontiguousarray(self.x.reshape(n, h * w, c).transpose(0, 2, 1))
        return self.x


def write_checkpoint(path, layers):
    header, off, blobs = {}, 0, []
    for name, layer in layers:
        b = layer.tensor().astype("<f4", copy=False).tobytes()
        header[name] = {"dtype": "F32", "shape": layer.shape, "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"layers": ",".join(name for name, _ in layers)}
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    d, base = os.path.split(path)
    tmp = os.path.join(d, "." + base)
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv):
    quick = "--quick" in argv
    args = [a for a in argv if a != "--quick"]
    opts = {}
    for key in ("--period",):
        if key in args:
            i = args.index(key)
            opts[key] = args[i + 1]
            del args[i:i + 2]
    if len(args) >= 2 and args[0] == "layers":
        for name, shape in case_layers(args[1], quick):
            n, p = rows_cols(shape)
            print(name, n, p)
        return
    if len(args) != 4 or args[0] != "series":
        raise SystemExit(__doc__)
    case, outdir, count = args[1], args[2], int(args[3])
    period = float(opts.get("--period", 0))
    rng = np.random.default_rng(0)
    layers = [(name, Layer(shape, rng)) for name, shape in case_layers(case, quick)]
    start = time.monotonic()
    for c in range(count):
        if c > 0:
            for _, layer in layers:
                layer.step(c)
        if period > 0:
            due = start + c * period
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
        step = (c + 1) * 100
        write_checkpoint(os.path.join(outdir, "step-%06d.safetensors" % step), layers)
        print("published step %d at %.3f" % (step, time.time()), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
