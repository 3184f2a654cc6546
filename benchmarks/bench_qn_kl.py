"""Benchmark: the exact KL(p‖q_n) by the swap identity against brute force, same instance.

Run: ``.venv/bin/python benchmarks/bench_qn_kl.py [--brute-shots 1 2 3] [--budget 10]``

Instance: ``nonident icl``'s demo mixture (:data:`exact.icl.qn.DEMO_CONFIG`: 2 concepts, 2 values × 6
slots, 3 symbols, η = 0.1; k = 2). For each n in ``--brute-shots`` it times

* ``identity``: :func:`exact.icl.swap_kl.swap_identity` — numba, depth first over the 3^(L_n − n) strings of S_n;
* ``brute force``: :func:`exact.icl.swap_kl.kl_by_sequences` — all 3^(L_n + 1) sequences, both joints by the chain
  rule of the predictors (p and :class:`exact.icl.qn.SwapModel`),

checks that they agree (relative 1e-10) and prints the ratio. Then it raises n until one exact
identity sum takes longer than ``--budget`` seconds and reports the largest n within it.
"""

from __future__ import annotations

import argparse
import math
import time

from exact import DEMO_CONFIG, DEMO_K, PromptTemplate, SwapModel, generate_ginc, kl_by_sequences, swap_identity


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brute-shots", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--budget", type=float, default=10.0)
    args = ap.parse_args()
    mix = generate_ginc(DEMO_CONFIG).mixture
    swap_identity(mix, PromptTemplate(DEMO_K, 0))  # compile
    print(f"demo mixture {DEMO_CONFIG.dataset_id()}, k = {DEMO_K}")
    for n in args.brute_shots:
        t = PromptTemplate(DEMO_K, n)
        ident, t_id = timed(lambda: swap_identity(mix, t))
        brute, t_bf = timed(lambda: kl_by_sequences(mix, SwapModel(mix, t), t.length + 1))
        rel = abs(brute - ident.kl) / ident.kl
        print(
            f"n = {n}: identity over {ident.n_strings:,} prompt strings {t_id:8.4f} s; brute force over "
            f"3^{t.length + 1} = {3 ** (t.length + 1):,} sequences {t_bf:8.3f} s; ratio {t_bf / t_id:8.0f}×; "
            f"KL {ident.kl:.15g} vs {brute:.15g} (relative {rel:.1e})"
        )
        if rel > 1e-10:
            raise SystemExit("identity and brute force disagree")
    n, last = 0, None
    while True:
        t = PromptTemplate(DEMO_K, n)
        if (t.length - n) * math.log(3) > math.log(5e8):
            print(f"stopping at n = {n}: S_n would have 3^{t.length - n} strings")
            break
        res, sec = timed(lambda: swap_identity(mix, t, max_strings=10**9))
        print(f"  exact identity n = {n:2d}: {res.n_strings:>13,} strings  {sec:8.3f} s  KL = {res.kl:.6e}")
        if sec > args.budget:
            break
        last, n = n, n + 1
    print(f"largest n whose exact sum finishes within {args.budget:g} s: {last}")


if __name__ == "__main__":
    main()
