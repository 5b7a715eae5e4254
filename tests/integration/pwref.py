#!/usr/bin/python3
"""pwref.py -- an independent numpy rendering of shared/reference/README.md, for tests.

It takes the route the engine does not (SVD/QR of the centred data instead of
Gram matrices), so agreement between the two is evidence, not an echo.  It also
writes the reference cases in every format pwcca reads (safetensors F32/BF16/F64,
npz stored and deflated, npy, conv NCHW and sequence layouts).

  pwref.py metrics X.npy Y.npy             -> JSON of the four metrics
  pwref.py reduced X.npy Y.npy MODE        -> the same in reduced mode (dims:K, var:F, auto)
  pwref.py write CASE_DIR OUT_DIR          -> variants of each reference case
Needs numpy (Debian: python3-numpy, run with /usr/bin/python3).
"""
import json
import os
import struct
import sys
import zipfile
import io

import numpy as np


def _drop_and_centre(a):
    keep = a.max(axis=0) != a.min(axis=0)
    k = a[:, keep]
    return k - k.mean(axis=0)


def _basis(ac):
    """Orthonormal basis of the column space after equilibration and the 1e-6 rank cut."""
    norms = np.linalg.norm(ac, axis=0)
    u, s, _ = np.linalg.svd(ac / norms, full_matrices=False)
    r = int(np.sum(s > 1e-6 * s[0]))
    return u[:, :r]


def _cca(xc, yc):
    qx, qy = _basis(xc), _basis(yc)
    u, rho, vt = np.linalg.svd(qx.T @ qy)
    k = min(qx.shape[1], qy.shape[1])
    return qx, qy, u[:, :k], rho[:k], vt.T[:, :k]


def metrics(x, y):
    xc, yc = _drop_and_centre(x), _drop_and_centre(y)
    n, p, q = x.shape[0], xc.shape[1], yc.shape[1]
    out = {"n": n, "p_kept": p, "q_kept": q}
    sxx, syy, sxy = xc.T @ xc, yc.T @ yc, xc.T @ yc
    if p and q:
        cka = np.linalg.norm(sxy) ** 2 / (np.linalg.norm(sxx) * np.linalg.norm(syy))
        out["cka"] = float(min(max(cka, 0.0), 1.0))
    if p == 0 or q == 0:
        out["status"] = "dead_layer"
        return out
    if n <= p + q:
        out["status"] = "insufficient_datapoints"
        return out
    qx, qy, a, rho, b = _cca(xc, yc)
    out["rho"] = rho.tolist()
    out["mean_cca"] = float(rho.mean())
    if p <= q:
        h, side = qx @ a, xc
    else:
        h, side = qy @ b, yc
    alpha = np.abs(h.T @ side).sum(axis=1)
    out["pwcca"] = float((alpha * rho).sum() / alpha.sum())
    out["distance"] = 1.0 - out["pwcca"]

    def reduce(ac):
        u, s, _ = np.linalg.svd(ac, full_matrices=False)
        c = np.cumsum(s ** 2)
        k = int(np.searchsorted(c, 0.99 * c[-1] * (1 - 1e-15))) + 1
        return u[:, :k] * s[:k]

    _, _, _, rho_sv, _ = _cca(reduce(xc), reduce(yc))
    out["svcca"] = float(rho_sv.mean())
    out["status"] = "ok"
    return out


# ---- reduced mode (lib/pw_reduce.h, docs/ENGINE.md "Reduced mode") ---------------------

def reduce_side(a, mode):
    """Xc V_k = U_k S_k of the kept, centred columns of a, K as mode says:
    ("dims", K) the top K (never more than the numerical rank, eigenvalues of
    the Gram above 1e-12 of the largest), ("var", F) the fewest holding a
    share F of the variance."""
    ac = _drop_and_centre(a)
    if ac.shape[1] == 0:
        return ac
    u, s, _ = np.linalg.svd(ac, full_matrices=False)
    lam = s ** 2
    rank = int(np.sum(lam > 1e-12 * lam[0])) if lam[0] > 0 else 0
    kind, val = mode
    if kind == "dims":
        k = min(int(val), rank)
    else:
        c = np.cumsum(lam)
        k = min(int(np.searchsorted(c, val * lam.sum())) + 1, rank)
    return u[:, :k] * s[:k]


def reduced_metrics(x, y, mode):
    """The four metrics with the CCA ones on the reduced data and CKA exact;
    mode as reduce_side, or "auto" (exact when n > p_kept + q_kept, else
    dims:n/10)."""
    n = x.shape[0]
    pk = _drop_and_centre(x).shape[1]
    qk = _drop_and_centre(y).shape[1]
    if mode == "auto":
        if n > pk + qk:
            out = metrics(x, y)
            out["reduce"] = "none"
            return out
        mode = ("dims", max(1, min(n // 10, max(pk, qk))))
    rx, ry = reduce_side(x, mode), reduce_side(y, mode)
    out = metrics(rx, ry)
    exact = metrics(x, y)
    out.update({"p_kept": pk, "q_kept": qk, "k_x": rx.shape[1], "k_y": ry.shape[1],
                "reduce": "%s:%s" % mode})
    if "cka" in exact:
        out["cka"] = exact["cka"]
    return out


# ---- writers ----------------------------------------------------------------------

def _bf16_bits(a):
    """Round-to-nearest-even float32 -> bfloat16 bits."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def bf16_to_f64(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, dtype_name, shape, raw_bytes) in file order."""
    header, off, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = metadata
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = os.path.join(os.path.dirname(path) or ".", "." + os.path.basename(path) + ".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)
    os.rename(tmp, path)


def write_variants(case_dir, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    cases = sorted({f.split(".")[0] for f in os.listdir(case_dir) if f.endswith(".X.npy")})
    expected = {}
    for c in cases:
        x = np.load(os.path.join(case_dir, c + ".X.npy"))
        y = np.load(os.path.join(case_dir, c + ".Y.npy"))
        d = os.path.join(out_dir, c)
        os.makedirs(d, exist_ok=True)
        # F64 safetensors: the exact data, expected.json applies directly.
        write_safetensors(os.path.join(d, "a64.safetensors"),
                          [("layer", "F64", x.shape, x.astype("<f8").tobytes())])
        write_safetensors(os.path.join(d, "b64.safetensors"),
                          [("layer", "F64", y.shape, y.astype("<f8").tobytes())])
        # F32 and BF16: expected values recomputed on the rounded data.
        x32, y32 = x.astype(np.float32), y.astype(np.float32)
        write_safetensors(os.path.join(d, "a32.safetensors"),
                          [("layer", "F32", x.shape, x32.astype("<f4").tobytes())], {"step": "1"})
        write_safetensors(os.path.join(d, "b32.safetensors"),
                          [("layer", "F32", y.shape, y32.astype("<f4").tobytes())], {"step": "2"})
        xb, yb = _bf16_bits(x32), _bf16_bits(y32)
        write_safetensors(os.path.join(d, "a16.safetensors"),
                          [("layer", "BF16", x.shape, xb.astype("<u2").tobytes())])
        write_safetensors(os.path.join(d, "b16.safetensors"),
                          [("layer", "BF16", y.shape, yb.astype("<u2").tobytes())])
        # npz stored / deflated and plain npy (float64).
        np.savez(os.path.join(d, "a_stored.npz"), layer=x)
        np.savez_compressed(os.path.join(d, "b_deflated.npz"), layer=y)
        np.save(os.path.join(d, "x.npy"), x)
        np.save(os.path.join(d, "y.npy"), y)
        # conv NCHW: rows (N, h, w) -> [N, C, H, W] with H = W = 2 when n divides by 4.
        n = x.shape[0]
        if n % 4 == 0:
            def nchw(a):
                return np.ascontiguousarray(a.reshape(n // 4, 2, 2, a.shape[1]).transpose(0, 3, 1, 2))
            def ntd(a):
                return a.reshape(n // 4, 4, a.shape[1])
            write_safetensors(os.path.join(d, "a_conv.safetensors"),
                              [("layer", "F64", nchw(x).shape, nchw(x).astype("<f8").tobytes())])
            write_safetensors(os.path.join(d, "b_conv.safetensors"),
                              [("layer", "F64", nchw(y).shape, nchw(y).astype("<f8").tobytes())])
            np.savez(os.path.join(d, "a_seq.npz"), layer=ntd(x))
            np.savez(os.path.join(d, "b_seq.npz"), layer=ntd(y))
        expected[c] = {
            "f64": metrics(x, y),
            "f32": metrics(x32.astype(np.float64), y32.astype(np.float64)),
            "bf16": metrics(bf16_to_f64(xb), bf16_to_f64(yb)),
        }
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f)


def main(argv):
    if len(argv) == 4 and argv[1] == "metrics":
        print(json.dumps(metrics(np.load(argv[2]).astype(np.float64),
                                 np.load(argv[3]).astype(np.float64))))
    elif len(argv) == 5 and argv[1] == "reduced":
        m = argv[4]
        mode = "auto" if m == "auto" else (m.split(":")[0], float(m.split(":")[1]))
        print(json.dumps(reduced_metrics(np.load(argv[2]).astype(np.float64),
                                         np.load(argv[3]).astype(np.float64), mode)))
    elif len(argv) == 4 and argv[1] == "write":
        write_variants(argv[2], argv[3])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
