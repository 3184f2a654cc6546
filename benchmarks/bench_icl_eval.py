"""Benchmark: the exact evaluation of one training batch against the model's forward pass on it.

Run: ``.venv/bin/python benchmarks/bench_icl_eval.py [--preset cpu] [--repeats 5]``

For the preset's batch (``train.batch_size`` documents of ``train.doc_length`` tokens) it times,
best of ``--repeats``:

* (a) the exact per-position Bayes predictive of every position
  (:func:`exact.hmm.positions.bayes_per_position`: one normalised forward pass per concept);
* (b) the same numbers as the reference computes them, one :meth:`HMMMixture.next_token_probs`
  call per prefix length (``T`` forward passes of growing length) — checked equal to (a);
* (c) the forward pass of the preset's transformer (one seed, evaluation mode, no gradients),
  with and (d) without the float64 log-softmax the evaluation takes of it.

It prints the times and the ratios (a)/(c) and (b)/(a). Target: (a) below (c).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from exact.core.tokens import TokenBatch
from exact.hmm.ginc import generate_ginc
from exact.hmm.positions import bayes_per_position
from learned.icl.config import icl_preset
from learned.icl.data import model_inputs, training_batch
from learned.nn.model import Transformer


def best(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu", choices=("cpu", "ginc", "tiny"))
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    cfg = icl_preset(args.preset)
    mix = generate_ginc(cfg.ginc).mixture
    t = cfg.train
    tokens = training_batch(mix, (0,), 0, t.batch_size, t.doc_length)[0]
    docs = TokenBatch(tokens, np.full(len(tokens), t.doc_length), mix.vocab_size)
    model = Transformer(cfg.model, (0,)).eval()
    x = torch.as_tensor(model_inputs(tokens, cfg.bos))[None]

    def reference() -> np.ndarray:
        return np.stack(
            [
                mix.next_token_probs(TokenBatch(tokens[:, :i], np.full(len(tokens), i), mix.vocab_size)).probs
                for i in range(t.doc_length)
            ],
            axis=1,
        )

    def forward() -> object:
        with torch.no_grad():
            return model(x)

    def forward_softmax() -> object:
        with torch.no_grad():
            return torch.log_softmax(model(x).double(), dim=-1)

    np.testing.assert_allclose(bayes_per_position(mix, docs).probs, reference(), rtol=1e-10, atol=1e-14)
    forward()  # warm-up
    a = best(lambda: bayes_per_position(mix, docs), args.repeats)
    b = best(reference, max(1, args.repeats // 2))
    c = best(forward_softmax, args.repeats)
    d = best(forward, args.repeats)
    m = cfg.model
    print(
        f"preset {args.preset}: {t.batch_size} documents × {t.doc_length} tokens; mixture {mix.n_concepts} concepts × "
        f"{mix.n_states} states, {mix.vocab_size} symbols; model width {m.d_model}, {m.n_layers} layers; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; best of {args.repeats}"
    )
    print(f"(a) exact Bayes predictive, every position   {1e3 * a:9.2f} ms")
    print(f"(b) reference, one call per prefix            {1e3 * b:9.2f} ms   (b)/(a) = {b / a:.1f}×")
    print(f"(c) model forward + float64 log-softmax       {1e3 * c:9.2f} ms   (a)/(c) = {a / c:.2f}")
    print(f"(d) model forward alone                       {1e3 * d:9.2f} ms   (a)/(d) = {a / d:.2f}")


if __name__ == "__main__":
    main()
