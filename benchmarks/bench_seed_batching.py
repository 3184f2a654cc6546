"""Benchmark: seed-batched training against the same seeds trained one after another.

Run: ``.venv/bin/python benchmarks/bench_seed_batching.py [--seeds 3 9] [--steps 150] [--variant ml]``

For each seed count S it trains the ``cpu`` preset's model (:func:`learned.rule_extrapolation.train.train`) for
``--steps`` steps (a) once with all S seeds stacked in one model and (b) S times with one seed
each, and prints seed-steps per second of each and the ratio. Both arms evaluate only at the
first and last step, with 8 greedy tokens instead of 300, so the figure is dominated by the
training steps. The two arms must start from the same exact KL per seed (checked to 1e-6: same
initialisation) and end close to each other (the largest relative difference is printed; float
rounding differs between a batched and a single matmul, and training amplifies it), so the
speed-up is not bought with different work.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from learned.rule_extrapolation.config import preset
from learned.rule_extrapolation.train import train


def run(seeds: tuple[int, ...], steps: int, variant: str, root: str) -> tuple[float, tuple[list[float], list[float]]]:
    cfg = preset(
        "cpu",
        **{
            "train.seeds": seeds,
            "train.steps": steps,
            "train.eval_every": steps,
            "train.checkpoint_every": steps,
            "train.max_pred_length": 8,
            "train.variant": variant,
        },
    )
    start = time.perf_counter()
    res = train(cfg, f"{root}/{'-'.join(map(str, seeds))}", progress=False, resume=False)
    return time.perf_counter() - start, (res.history[0].kl_per_token, res.history[-1].kl_per_token)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[3, 9])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--variant", default="ml", choices=("ml", "adversarial", "oracle"))
    args = ap.parse_args()
    print(
        f"cpu preset, {args.variant}, {args.steps} steps, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(
        f"{'seeds':>5}  {'batched s':>9}  {'seq. s':>8}  {'batched seed-steps/s':>20}  {'seq. seed-steps/s':>17}  {'ratio':>6}"
    )
    with tempfile.TemporaryDirectory() as root:
        run((0,), 5, args.variant, root)  # warm-up
        for S in args.seeds:
            seeds = tuple(range(S))
            t_b, (first_b, last_b) = run(seeds, args.steps, args.variant, root)
            t_s, first_s, last_s = 0.0, [], []
            for s in seeds:
                t, (first, last) = run((s,), args.steps, args.variant, root)
                t_s += t
                first_s += first
                last_s += last
            np.testing.assert_allclose(first_b, first_s, rtol=1e-6)
            drift = float(np.max(np.abs(np.array(last_b) - last_s) / np.array(last_s)))
            work = S * args.steps
            print(
                f"{S:>5}  {t_b:>9.2f}  {t_s:>8.2f}  {work / t_b:>20.1f}  {work / t_s:>17.1f}  {t_s / t_b:>5.1f}×"
                f"   (final KL max rel. difference {drift:.1e})"
            )


if __name__ == "__main__":
    main()
