#!/usr/bin/python3
"""stcheck.py -- an independent safetensors validator for the integration tests.

It shares no code with libpwcca, so a writer bug cannot hide behind a reader
bug.  Used by test_trainer.sh and test_python_probe.sh.

    stcheck.py FILE...                 validate; one JSON summary line per file
    stcheck.py --watch DIR --pid PID   until PID exits, validate every non-dot file
                                       the moment it appears in DIR (a writer that
                                       does not rename into place gets caught)

A file is valid when: the 8-byte little-endian header length fits the file,
the header is a JSON object, __metadata__ (if any) maps strings to strings,
every tensor has a known dtype, a shape of non-negative integers and
data_offsets matching shape x itemsize, the tensors tile the data area
exactly, every value is finite, and a __metadata__ "layers" list names the
tensors in data-offset order.  Exit status 1 with a message otherwise.
"""
import json
import os
import struct
import sys
import time

import numpy as np

DTYPES = {"F16": "<f2", "BF16": "<u2", "F32": "<f4", "F64": "<f8"}


def bf16_to_f32(raw):
    """bfloat16 bits (uint16) to float32: they are the upper half of a binary32."""
    return (raw.astype(np.uint32) << 16).view(np.float32)


def load(path):
    """Validate path; return (metadata dict, [(name, dtype, shape, float64 array)] in offset order)."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise ValueError(f"{path}: {len(buf)} bytes, shorter than the 8-byte header length")
    (hl,) = struct.unpack("<Q", buf[:8])
    if 8 + hl > len(buf):
        raise ValueError(f"{path}: header length {hl} runs past the end ({len(buf)} bytes)")
    try:
        header = json.loads(buf[8 : 8 + hl].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: header is not JSON: {e}") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: header is not a JSON object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ValueError(f"{path}: __metadata__ must map strings to strings")
    data = buf[8 + hl :]
    tensors = []
    for name, t in header.items():
        dt = t.get("dtype")
        if dt not in DTYPES:
            raise ValueError(f"{path}: tensor {name}: unknown dtype {dt!r}")
        shape, offs = t.get("shape"), t.get("data_offsets")
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise ValueError(f"{path}: tensor {name}: bad shape {shape!r}")
        if not (isinstance(offs, list) and len(offs) == 2 and all(isinstance(o, int) for o in offs)):
            raise ValueError(f"{path}: tensor {name}: bad data_offsets {offs!r}")
        size = int(np.prod(shape, dtype=np.int64)) * np.dtype(DTYPES[dt]).itemsize
        if offs[1] - offs[0] != size or offs[0] < 0 or offs[1] > len(data):
            raise ValueError(f"{path}: tensor {name}: data_offsets {offs} do not hold {size} bytes "
                             f"inside a data area of {len(data)} bytes")
        raw = np.frombuffer(data[offs[0] : offs[1]], dtype=DTYPES[dt]).reshape(shape)
        arr = bf16_to_f32(raw) if dt == "BF16" else raw
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{path}: tensor {name}: non-finite values")
        tensors.append((offs[0], offs[1], name, dt, shape, arr))
    tensors.sort()
    pos = 0
    for begin, end, name, *_ in tensors:
        if begin != pos:
            raise ValueError(f"{path}: tensor {name} starts at {begin}, expected {pos} (gap or overlap)")
        pos = end
    if pos != len(data):
        raise ValueError(f"{path}: tensors cover {pos} of {len(data)} data bytes")
    names = [t[2] for t in tensors]
    if "layers" in meta and meta["layers"].split(",") != names:
        raise ValueError(f"{path}: __metadata__ layers {meta['layers']!r} != tensor order {names}")
    return meta, [(n, dt, s, a) for _, _, n, dt, s, a in tensors]


def summary(path):
    meta, tensors = load(path)
    return {"file": os.path.basename(path), "meta": meta,
            "layers": [n for n, *_ in tensors],
            "dtypes": [dt for _, dt, _, _ in tensors],
            "shapes": [s for _, _, s, _ in tensors]}


def watch(d, pid):
    """Validate each non-dot file once, as soon as it is seen, until pid is gone."""
    seen, checked = set(), 0

    def alive():
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False

    while True:
        running = alive()
        for name in sorted(os.listdir(d)):
            if name.startswith(".") or name in seen or not name.endswith(".safetensors"):
                continue
            seen.add(name)
            load(os.path.join(d, name))
            checked += 1
        if not running:
            break
        time.sleep(0.002)
    print(json.dumps({"checked": checked}))


def main(argv):
    try:
        if len(argv) == 5 and argv[1] == "--watch" and argv[3] == "--pid":
            watch(argv[2], int(argv[4]))
            return 0
        if len(argv) < 2:
            print(__doc__, file=sys.stderr)
            return 2
        for p in argv[1:]:
            print(json.dumps(summary(p)))
        return 0
    except (ValueError, OSError) as e:
        print(f"stcheck: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
