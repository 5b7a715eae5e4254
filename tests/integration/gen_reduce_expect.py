#!/usr/bin/python3
"""gen_reduce_expect.py -- the numpy values tests/unit/test_reduce.c checks the
reduced mode against (the `numpy_cross_check` test).

The data come from a 64-bit LCG that C reproduces bit for bit, so both sides
see the same X and Y; the metrics are pwref.reduced_metrics (numpy SVD of the
centred data, top K, then pwref's own metric definitions).  Run

    /usr/bin/python3 tests/integration/gen_reduce_expect.py

and paste its output over the table in test_reduce.c when a definition
changes.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pwref  # noqa: E402

MASK = (1 << 64) - 1


class Lcg:
    """x <- a x + c mod 2^64; a value is the top 53 bits in [-0.5, 0.5)."""

    def __init__(self, seed):
        self.s = seed

    def next(self):
        self.s = (self.s * 6364136223846793005 + 1442695040888963407) & MASK
        return (self.s >> 11) * 2.0 ** -53 - 0.5

    def matrix(self, rows, cols):
        return np.array([[self.next() for _ in range(cols)] for _ in range(rows)])


def data():
    """X: 80 x 120 (wider than n: the engine's wide route), rank 30 with
    decaying directions; Y: 80 x 50 (narrow route), 20 of X's latent
    directions plus noise; a constant column in each."""
    g = Lcg(12345)
    n, r = 80, 30
    lat = g.matrix(n, r) * (0.8 ** np.arange(r))
    x = lat @ g.matrix(r, 120) + 3.0
    y = lat[:, :20] @ g.matrix(20, 50) + 0.3 * g.matrix(n, 50)
    x[:, 7] = 1.5
    y[:, 11] = -2.0
    return x, y


def main():
    x, y = data()
    for mode in [("dims", 6), ("var", 0.9)]:
        m = pwref.reduced_metrics(x, y, mode)
        print("    {\"%s:%g\", %d, %d, %.17g, %.17g, %.17g, %.17g}," % (
            mode[0], mode[1], m["k_x"], m["k_y"], m["pwcca"], m["mean_cca"], m["svcca"],
            m["cka"]))


if __name__ == "__main__":
    main()
