"""A linear probe of a rule property from frozen features (case study 3, as Liu et al., arXiv 2210.14199).

The property is exact: for every ``w ∈ {a, b}^{1..L}`` (``2^{L+1} − 2`` strings,
in- and out-of-distribution), is ``#a(w) > #b(w)`` — does R1 still owe b's? The
features are the model's final residual (``hook_resid_final``, the readout's
input) at the last token of ``SOS w``, frozen. A logistic regression per stacked
model, from zero, on a seeded half of the strings (stream ``"probe"``), with the
optimiser kind of the fine-tuning; the score is its accuracy on the other half.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from exact.core.rng import generator
from exact.core.tokens import PAD, SOS
from exact.core.validate import check_int
from learned.nn.model import Transformer

__all__ = ["ProbeData", "ProbeResult", "linear_probe", "probe_data"]


@dataclass(frozen=True)
class ProbeData:
    """The probe's strings as PAD-padded rows ``SOS w PAD…``, their last index, labels and split."""

    tokens: NDArray[np.int64]
    last: NDArray[np.int64]
    labels: NDArray[np.bool_]
    train: NDArray[np.bool_]


@dataclass(frozen=True)
class ProbeResult:
    """Per stacked model: held-out accuracy and cross-entropy (nats)."""

    accuracy: NDArray[np.float64]
    cross_entropy: NDArray[np.float64]


def probe_data(length: int, seed: int) -> ProbeData:
    """Every ``w ∈ {a, b}^{1..length}``, labelled ``#a > #b``, split in halves by ``seed``."""
    L = check_int(length, "length", minimum=1, maximum=14)
    words = [w for n in range(1, L + 1) for w in itertools.product((0, 1), repeat=n)]
    tokens = np.full((len(words), L + 1), PAD, dtype=np.int64)
    tokens[:, 0] = SOS
    for i, w in enumerate(words):
        tokens[i, 1 : len(w) + 1] = w
    last = np.array([len(w) for w in words], dtype=np.int64)
    labels = np.array([w.count(0) > w.count(1) for w in words])
    order = generator(check_int(seed, "seed", minimum=0), "probe").permutation(len(words))
    train = np.zeros(len(words), dtype=bool)
    train[order[: len(words) // 2]] = True
    return ProbeData(tokens, last, labels, train)


@torch.no_grad()
def features(model: Transformer, data: ProbeData) -> torch.Tensor:
    """Frozen final features at each string's last token, (S, N, d_model), in the model's dtype."""
    model.eval()
    dev = model.embed.device
    x = torch.as_tensor(data.tokens, device=dev)
    _, cache = model.run_with_cache(x, names=lambda n: n == "hook_resid_final")
    h = cache["hook_resid_final"]  # (S, N, T, d); causal, so the PAD after a string does not reach it
    return h[:, torch.arange(len(data.last), device=dev), torch.as_tensor(data.last, device=dev)]


def linear_probe(
    model: Transformer, data: ProbeData, *, optimizer: str, lr: float, steps: int, weight_decay: float
) -> ProbeResult:
    """Train one logistic regression per stacked model on the frozen features; held-out scores."""
    h = features(model, data)
    dev = h.device
    y = torch.as_tensor(data.labels, device=dev, dtype=h.dtype)
    tr, te = torch.as_tensor(data.train, device=dev), torch.as_tensor(~data.train, device=dev)
    S, _, d = h.shape
    w = torch.zeros(S, d, device=dev, dtype=h.dtype, requires_grad=True)
    b = torch.zeros(S, 1, device=dev, dtype=h.dtype, requires_grad=True)
    opt: torch.optim.Optimizer = (
        torch.optim.SGD([w, b], lr=lr)
        if optimizer == "sgd"
        else torch.optim.AdamW([w, b], lr=lr, weight_decay=weight_decay)
    )
    for _ in range(steps):
        logits = torch.einsum("snd,sd->sn", h[:, tr], w) + b
        loss = F.binary_cross_entropy_with_logits(logits, y[tr].expand_as(logits), reduction="none").mean(1).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        logits = torch.einsum("snd,sd->sn", h[:, te], w) + b
        acc = ((logits > 0) == y[te].bool()).double().mean(1)
        ce = F.binary_cross_entropy_with_logits(logits.double(), y[te].double().expand_as(logits), reduction="none")
    return ProbeResult(acc.cpu().numpy(), ce.mean(1).cpu().numpy())
