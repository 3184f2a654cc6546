"""Benchmark: greedy OOD completions by the torch model (KV cache) against the compiled numba decoder.

Run: ``.venv/bin/python benchmarks/bench_decode.py [--run-dir RUN] [--threads 1] [--repeats 3]``

The work is one of the evaluations along training of ``nonident reproduce rule-extrapolation
--preset cpu`` (21 per arm): the 251 OOD prompts of length 8, 300 greedy tokens, for the 3
stacked models of an arm. With ``--run-dir`` it takes the trained models of a finished run (their
completions finish with EOS and then PAD); without, freshly initialised ``cpu``-preset models
(which rarely emit PAD, so every key stays in the attention). Both engines must return the same
tokens, which is checked; the script prints each engine's best time of ``--repeats`` and the
ratio. The numba kernel is compiled (or loaded from its cache) before timing.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np
import torch

from learned.nn.model import Transformer
from learned.rule_extrapolation.config import preset
from learned.rule_extrapolation.data import prompt_set
from learned.rule_extrapolation.protocol import greedy_complete
from learned.rule_extrapolation.train import load_model


def best_of(repeats: int, fn: object) -> tuple[float, np.ndarray]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    assert out is not None
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", default=None, help="a finished aⁿbⁿ run directory (default: untrained models)")
    ap.add_argument("--threads", type=int, default=1, help="torch and numba threads (default 1, as a sweep job)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    if args.run_dir:
        cfg, model, _ = load_model(args.run_dir)
        what = f"trained models of {args.run_dir}"
    else:
        cfg = preset("cpu")
        model = Transformer(cfg.model, cfg.train.seeds).eval()
        what = "untrained cpu-preset models"
    ps = prompt_set(cfg.data.n_max, cfg.train.prompt_length)
    ood, n_new = ps.tokens[ps.ood], cfg.train.max_pred_length
    greedy_complete(model, ood[:2], 2, engine="numba")  # compile or load the kernel
    print(
        f"{len(ood)} OOD prompts × {n_new} greedy tokens × {model.n_models} models ({what}), {args.threads} thread(s)"
    )
    t_torch, a = best_of(args.repeats, lambda: greedy_complete(model, ood, n_new, engine="torch"))
    t_numba, b = best_of(args.repeats, lambda: greedy_complete(model, ood, n_new, engine="numba"))
    if not np.array_equal(a, b):
        raise SystemExit(f"the engines disagree on {int((a != b).sum())} tokens")
    print(f"torch (KV cache, batched calls): {t_torch:.3f} s")
    print(f"numba (compiled, per sequence):  {t_numba:.3f} s   ratio torch/numba {t_torch / t_numba:.2f}×")
    print("tokens identical: yes")


if __name__ == "__main__":
    main()
