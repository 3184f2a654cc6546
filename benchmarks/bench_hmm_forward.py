"""Benchmark: per-concept log-likelihoods of GINC prompts — nonident vs NumPy vs hmmlearn, same inputs.

Run: ``.venv/bin/python benchmarks/bench_hmm_forward.py [--prompts 2500] [--hmmlearn-prompts 100] [--full-hmmlearn]``

Workload: 2,500 GINC prompts (k = 10, 64 shots, 713 tokens) under the
5 concepts of GINC's mixture (100 hidden states, 50 symbols), sampled with a
fixed seed. Two emission settings: GINC's deterministic emissions (where every
64-shot prompt turns out to have probability 0 under every concept) and
smoothed emissions (η = 0.01, every log-likelihood finite — the meaningful
numeric comparison).

* ``nonident``: :meth:`exact.HMMMixture.log_likelihoods` (numba, Kronecker, after a warm-up compile);
* ``numpy``: the plain batched dense forward, ``(2500, 100) @ (100, 100)`` per step and concept
  (:func:`exact.hmm.reference.hmm_forward_dense`);
* ``hmmlearn``: a loop of ``CategoricalHMM.score`` calls (hmmlearn 0.3.x). It takes minutes on the
  full workload, so by default it runs on the first ``--hmmlearn-prompts`` prompts and its time is
  scaled linearly to the full count (printed as "extrapolated"); ``--full-hmmlearn`` runs it all.

All three must agree within 1e-9 (absolute, on log-likelihoods of magnitude ~10³) on the prompts
each one scored. First the scale run: the exact posterior and Bayes predictive of one 64-shot, k = 10
prompt under 10,000 concepts, with time and peak memory (ru_maxrss and tracemalloc).
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
import warnings

import numpy as np

from exact import PromptTemplate, TokenBatch, generate_ginc, sample_prompts
from exact.hmm.reference import hmm_forward_dense

TOL = 1e-9


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    if not np.array_equal(np.isinf(a), np.isinf(b)):
        return float("inf")
    fin = np.isfinite(a)
    return float(np.max(np.abs(a[fin] - b[fin]), initial=0.0))


def hmmlearn_scores(mix, tokens: TokenBatch, n: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    from hmmlearn.hmm import CategoricalHMM

    out = np.empty((n, mix.n_concepts))
    for c in range(mix.n_concepts):
        model = CategoricalHMM(n_components=mix.n_states, n_features=mix.vocab_size, init_params="", params="")
        model.startprob_, model.transmat_, model.emissionprob_ = mix.start[c], mix.transmat(c), mix.emission_matrix(c)
        for i in range(n):
            with warnings.catch_warnings(), np.errstate(divide="ignore"):
                warnings.simplefilter("ignore")
                out[i, c] = model.score(tokens.row(i).reshape(-1, 1))
    return out


def workload(smoothing: float, args: argparse.Namespace) -> None:
    template = PromptTemplate(k=10, n_shots=64)
    prompts = sample_prompts(generate_ginc(), template, args.prompts, np.random.default_rng(args.seed)).tokens
    mix = generate_ginc(emission_smoothing=smoothing).mixture
    mix.log_likelihoods(prompts.select(np.arange(2)))  # compile
    ours, t_ours = timed(lambda: mix.log_likelihoods(prompts))
    dense, t_np = timed(
        lambda: np.stack(
            [
                hmm_forward_dense(
                    prompts.tokens, prompts.lengths, mix.start[c], mix.transmat(c), mix.emission_matrix(c)
                )
                for c in range(mix.n_concepts)
            ],
            axis=1,
        )
    )
    n_h = args.prompts if args.full_hmmlearn else min(args.hmmlearn_prompts, args.prompts)
    ref, t_h = timed(lambda: hmmlearn_scores(mix, prompts, n_h))
    t_h_full = t_h * args.prompts / n_h
    d_np, d_h = max_abs_diff(ours, dense), max_abs_diff(ours[:n_h], ref)
    label = "GINC deterministic emissions" if smoothing == 0 else f"emission smoothing η = {smoothing}"
    print(
        f"\n{label}: {args.prompts} prompts × {mix.n_concepts} concepts × {template.length} tokens "
        f"({np.isinf(ours).mean():.0%} of log-likelihoods are -inf)"
    )
    print(f"  nonident (numba, Kronecker) {t_ours:9.3f} s")
    print(f"  numpy dense batched forward {t_np:9.3f} s   ratio numpy/nonident   {t_np / t_ours:8.1f}×")
    tag = "measured" if n_h == args.prompts else f"extrapolated from {n_h} prompts ({t_h:.1f} s)"
    print(
        f"  hmmlearn score loop         {t_h_full:9.1f} s   ratio hmmlearn/nonident {t_h_full / t_ours:8.0f}×  [{tag}]"
    )
    print(f"  max |Δ log p| vs numpy {d_np:.2e}, vs hmmlearn {d_h:.2e}  (tolerance {TOL:g})")
    if not (d_np <= TOL and d_h <= TOL):
        raise SystemExit("implementations disagree beyond the tolerance")


def scale(args: argparse.Namespace) -> None:
    for smoothing in (0.01,):  # with deterministic emissions the 64-shot prompt has probability 0
        ginc = generate_ginc(n_concepts=args.scale_concepts, emission_smoothing=smoothing)
        mix = ginc.mixture
        one = sample_prompts(
            generate_ginc(emission_smoothing=0.01), PromptTemplate(10, 64), 1, np.random.default_rng(args.seed)
        ).tokens
        mix.next_token_probs(one.select(np.arange(1), width=5))  # compile
        tracemalloc.start()
        (post, pred), t = timed(lambda: mix.bayes(one))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        label = f"η = {smoothing}"
        top = int(np.argmax(post.probs[0])) if post.defined[0] else None
        print(f"\nscale ({label}): one 64-shot k = 10 prompt ({one.lengths[0]} tokens) under {mix.n_concepts} concepts")
        print(
            f"  posterior + Bayes predictive: {t:.2f} s (one forward pass); defined: {bool(post.defined[0])}; "
            f"top concept {top} with p = {post.probs[0].max():.4f}"
        )
        print(
            f"  peak memory: NumPy allocations {peak / 2**20:.1f} MiB (tracemalloc); whole process peak RSS "
            f"{rss1 / 1024:.0f} MiB (interpreter, numba and LLVM included)"
        )
        assert pred.probs.shape == (1, mix.vocab_size)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=2500)
    ap.add_argument("--hmmlearn-prompts", type=int, default=100)
    ap.add_argument("--full-hmmlearn", action="store_true")
    ap.add_argument("--scale-concepts", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1114)
    args = ap.parse_args()
    import numba

    print(f"numba {numba.__version__}, threads {numba.get_num_threads()}")
    scale(args)  # first, so that ru_maxrss measures it and not the larger workloads
    for smoothing in (0.0, 0.01):
        workload(smoothing, args)


if __name__ == "__main__":
    main()
