#!/usr/bin/python3
"""numpy_ref.py -- the straightforward numpy route to the same metrics, timed.

The baseline bench/run.sh compares the engine with: covariance of the stacked
matrix [X Y] (np.cov), inverse square roots by eigendecomposition, the SVD of
the whitened cross covariance, then a QR of the canonical variates to weight
them (as google/svcca's pwcca.py does, without its mean-shift), SVCCA by SVDs
of the centred data, and CKA from the covariance blocks.  Definitions are those
of shared/reference/README.md.

Usage: numpy_ref.py DIR N P Q   (DIR/X.f32, DIR/Y.f32: raw float32, row-major)
       numpy_ref.py --self-test  (synthetic 2000 x 64 x 48; checks PWCCA against
                                  the Gram-free definition)
Prints "numpy_pwcca_ms V", "numpy_all_ms V", "numpy_pwcca_value V" lines.
"""
import sys
import time

import numpy as np

RANK_REL_EIG = 1e-12
SVCCA_KEEP = 0.99


def centred_kept(a):
    a = a.astype(np.float64)
    keep = a.min(axis=0) < a.max(axis=0)
    a = a[:, keep]
    return a - a.mean(axis=0)


def inv_sqrt(s):
    d = 1.0 / np.sqrt(np.diag(s))
    w, v = np.linalg.eigh(d[:, None] * s * d[None, :])
    keep = w > RANK_REL_EIG * w.max()
    return d[:, None] * (v[:, keep] / np.sqrt(w[keep]))


def cca(xc, yc, cov=None, weights=True):
    """rho, and pwcca with weights on the side with fewer neurons (tie: X)."""
    p = xc.shape[1]
    if cov is None:
        cov = np.cov(np.hstack([xc, yc]), rowvar=False)
    sxx, sxy, syy = cov[:p, :p], cov[:p, p:], cov[p:, p:]
    wx, wy = inv_sqrt(sxx), inv_sqrt(syy)
    u, rho, vt = np.linalg.svd(wx.T @ sxy @ wy, full_matrices=False)
    if not weights:
        return rho, None
    if yc.shape[1] < p:
        h = yc @ (wy @ vt.T)
        acts = yc
    else:
        h = xc @ (wx @ u)
        acts = xc
    q, _ = np.linalg.qr(h)
    alpha = np.abs(q.T @ acts).sum(axis=1)
    return rho, float(alpha @ rho / alpha.sum())


def svcca(xc, yc):
    def reduce(a):
        u, s, _ = np.linalg.svd(a, full_matrices=False)
        c = np.cumsum(s * s)
        k = int(np.searchsorted(c, SVCCA_KEEP * c[-1]) + 1)
        return u[:, :k] * s[:k]
    rho, _ = cca(reduce(xc), reduce(yc), weights=False)
    return float(rho.mean())


def all_metrics(x, y, which):
    xc, yc = centred_kept(x), centred_kept(y)
    p = xc.shape[1]
    cov = np.cov(np.hstack([xc, yc]), rowvar=False)
    rho, pw = cca(xc, yc, cov)
    out = {"pwcca": pw}
    if which == "all":
        out["mean_cca"] = float(rho.mean())
        out["svcca"] = svcca(xc, yc)
        sxx, sxy, syy = cov[:p, :p], cov[:p, p:], cov[p:, p:]
        out["cka"] = float(np.sum(sxy * sxy) / (np.linalg.norm(sxx) * np.linalg.norm(syy)))
    return out


def self_test():
    rng = np.random.default_rng(1)
    lat = rng.standard_normal((2000, 64))
    x = lat @ rng.standard_normal((64, 64))
    y = lat[:, :40] @ rng.standard_normal((40, 48)) + rng.standard_normal((2000, 48))
    got = all_metrics(x, y, "all")
    # Gram-free definition: orthonormal bases, explicit canonical variates.
    xc, yc = centred_kept(x), centred_kept(y)
    qx, _ = np.linalg.qr(xc)
    qy, _ = np.linalg.qr(yc)
    u, rho, vt = np.linalg.svd(qy.T @ qx, full_matrices=False)
    h = qy @ u
    alpha = np.abs(h.T @ yc).sum(axis=1)
    want = alpha @ rho / alpha.sum()
    assert abs(got["pwcca"] - want) < 1e-9, (got["pwcca"], want)
    assert abs(got["mean_cca"] - rho.mean()) < 1e-9
    print("numpy_ref self-test ok: pwcca %.12f" % got["pwcca"])


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "--self-test":
        self_test()
        return
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    d, n, p, q = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    x = np.fromfile(d + "/X.f32", dtype="<f4").reshape(n, p)
    y = np.fromfile(d + "/Y.f32", dtype="<f4").reshape(n, q)
    # Best of two, interleaved, as bench_engine does on a shared machine.
    t_pw = t_all = float("inf")
    for _ in range(2):
        t = time.perf_counter()
        pw = all_metrics(x, y, "pwcca")
        t_pw = min(t_pw, time.perf_counter() - t)
        t = time.perf_counter()
        allm = all_metrics(x, y, "all")
        t_all = min(t_all, time.perf_counter() - t)
    print("numpy_pwcca_ms %.1f" % (t_pw * 1e3))
    print("numpy_all_ms %.1f" % (t_all * 1e3))
    print("numpy_pwcca_value %.12g" % pw["pwcca"])
    print("numpy_values pwcca=%.12g mean_cca=%.12g svcca=%.12g cka=%.12g"
          % (allm["pwcca"], allm["mean_cca"], allm["svcca"], allm["cka"]))


if __name__ == "__main__":
    main()
