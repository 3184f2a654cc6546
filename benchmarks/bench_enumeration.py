"""Benchmark: numba enumeration of all a/b words against the NumPy reference, same inputs.

Run: ``.venv/bin/python benchmarks/bench_enumeration.py [--lengths 16 20 24] [--repeats 3]``

For each length L it times one layer of 2^L words (the work of
``enumerate_strings`` is the sum of its layers): the numba kernel
(``exact.anbn._kernels.enumerate_layer``, after a warm-up call that compiles it)
and its NumPy twin (``exact.anbn.reference.enumerate_layer_reference``). It checks
that both give the same outputs, then prints words/s of each and the ratio.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

from exact import AnbnDistribution, UniformLength, enumerate_strings
from exact.anbn import _kernels as kernels
from exact.anbn.reference import enumerate_layer_reference


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", type=int, nargs="+", default=[16, 20, 24])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-max", type=int, default=128)
    args = ap.parse_args()
    law = AnbnDistribution(UniformLength(args.n_max)).law
    print(f"numba {numba.__version__}, threads {numba.get_num_threads()}, numpy {np.__version__}, law {law}")
    print(f"{'L':>3} {'words':>12} {'numba words/s':>15} {'numpy words/s':>15} {'ratio':>8}")
    for L in args.lengths:
        log_pmf, log_sf = law.tables(L + 1)
        size = 1 << L
        out = (np.empty(size), np.empty(size), np.empty(size, np.uint8), np.empty(size, bool))
        kernels.enumerate_layer(L, log_pmf, log_sf, *out)  # warm-up / compile
        t_numba = best_of(lambda: kernels.enumerate_layer(L, log_pmf, log_sf, *out), args.repeats)
        ref = enumerate_layer_reference(L, log_pmf, log_sf)
        t_numpy = best_of(lambda: enumerate_layer_reference(L, log_pmf, log_sf), args.repeats)
        assert np.array_equal(out[2], ref[2]) and np.array_equal(out[3], ref[3])
        for got, want in zip(out[:2], ref[:2]):  # prefix and sentence log-probabilities
            assert np.array_equal(got == -np.inf, want == -np.inf)
            assert np.allclose(got[got > -np.inf], want[want > -np.inf], rtol=1e-13)
        print(f"{L:>3} {size:>12,} {size / t_numba:>15,.0f} {size / t_numpy:>15,.0f} {t_numpy / t_numba:>7.1f}x")
    # The public API end to end: every word of length 1..L (allocation included).
    L = max(args.lengths)
    dist = AnbnDistribution(law)
    total = (1 << (L + 1)) - 2
    t_api = best_of(lambda: enumerate_strings(dist, L), args.repeats)
    t_ref = best_of(
        lambda: [enumerate_layer_reference(ell, *law.tables(ell + 1)) for ell in range(1, L + 1)], args.repeats
    )
    print(
        f"enumerate_strings(L={L}), all {total:,} words: {t_api:.3f} s; NumPy layers: {t_ref:.3f} s; "
        f"ratio {t_ref / t_api:.1f}x"
    )


if __name__ == "__main__":
    main()
