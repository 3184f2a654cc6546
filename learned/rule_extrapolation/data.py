"""Training and evaluation data for aⁿbⁿ, drawn from :mod:`exact` (docs/paper.md §5.1, §5.4).

* :func:`sentence_set` — every ``SOS aⁿbⁿ EOS`` (n = 1..N) right-padded with PAD to
  ``2N + 2`` tokens, with its exact probability under the training law. For the
  official uniform law this is also the training batch (train = val = test).
* :class:`PcfgSampler` — batches drawn from the PCFG law with one numpy
  generator per seed.
* :func:`extended_prompts` — the official adversarial / oracle completions of
  the 251 OOD prompts (oracle: append |#a − #b| minority tokens then EOS;
  adversarial: one more), right-padded with PAD.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import NDArray

from exact import AnbnDistribution, GeometricLength, UniformLength, enumerate_prompts
from exact.anbn.laws import LengthLaw
from exact.core.rng import generator
from exact.core.tokens import EOS, PAD, SOS, A, B
from exact.core.validate import InputError
from learned.rule_extrapolation.config import DataConfig

__all__ = ["PcfgSampler", "PromptSet", "SentenceSet", "extended_prompts", "law_of", "prompt_set", "sentence_set"]


def law_of(cfg: DataConfig) -> LengthLaw:
    """The length law of the training data (the PCFG law renormalised on n ≤ n_max)."""
    if cfg.law == "uniform":
        return UniformLength(cfg.n_max)
    rho = Fraction(str(cfg.rho))  # the decimal the user wrote, read exactly (as exact.GeometricLength does)
    return GeometricLength(rho).truncate(cfg.n_max).renormalised()


def _padded(ns: NDArray[np.int64], width: int) -> NDArray[np.int64]:
    pos = np.arange(width)[None, :]
    n = ns[:, None]
    out = np.where(
        pos == 0, SOS, np.where(pos <= n, A, np.where(pos <= 2 * n, B, np.where(pos == 2 * n + 1, EOS, PAD)))
    )
    return out.astype(np.int64)


@dataclass(frozen=True)
class SentenceSet:
    """All sentences of the training law, padded, with exact log-probabilities.

    Attributes
    ----------
    tokens : int64 (N, 2N + 2)
    log_prob : float64 (N,), ``log p(SOS aⁿbⁿ EOS)`` under the law
    eos_at : int64 (N,), position of EOS (= 2n + 1)
    """

    tokens: NDArray[np.int64]
    log_prob: NDArray[np.float64]
    eos_at: NDArray[np.int64]
    entropy: float
    padded_floor: float


def sentence_set(cfg: DataConfig) -> SentenceSet:
    ns = np.arange(1, cfg.n_max + 1, dtype=np.int64)
    law = law_of(cfg)
    dist = AnbnDistribution(law)
    facts = dist.facts()
    if facts.padded_loss_floor is None:  # pragma: no cover - finite laws always have a floor
        raise InputError("the law has no padded floor")
    return SentenceSet(
        _padded(ns, cfg.width),
        law.log_pmf(ns),
        2 * ns + 1,
        float(facts.entropy_per_sequence),
        float(facts.padded_loss_floor),
    )


class PcfgSampler:
    """``batch_size`` sentences per step from the PCFG law, one generator per seed."""

    def __init__(self, cfg: DataConfig, seeds: Sequence[int]) -> None:
        self.cfg = cfg
        ns = np.arange(1, cfg.n_max + 1)
        p = np.exp(law_of(cfg).log_pmf(ns))
        self._p = p / p.sum()  # exact law up to float rounding; the law is already renormalised
        self.rngs = [generator(int(s), "data") for s in seeds]

    def draw(self) -> NDArray[np.int64]:
        """Token batch ``(n_seeds, batch_size, 2N + 2)``."""
        ns = np.arange(1, self.cfg.n_max + 1)
        return np.stack(
            [_padded(rng.choice(ns, size=self.cfg.batch_size, p=self._p), self.cfg.width) for rng in self.rngs]
        )

    def state(self) -> list[Any]:
        return [rng.bit_generator.state for rng in self.rngs]

    def set_state(self, states: list[Any]) -> None:
        for rng, st in zip(self.rngs, states, strict=True):
            rng.bit_generator.state = st


@dataclass(frozen=True)
class PromptSet:
    """The ``2ᵏ`` evaluation prompts (``SOS`` + k a/b tokens), split ID / OOD."""

    tokens: NDArray[np.int64]  # (2ᵏ, k + 1)
    words: tuple[str, ...]
    ood: NDArray[np.bool_]


def prompt_set(n_max: int, prompt_length: int) -> PromptSet:
    """ID iff ``p(SOS w) > 0`` under aⁿbⁿ with n ≤ n_max (the official rule for N ≥ k)."""
    table = enumerate_prompts(AnbnDistribution(UniformLength(n_max)), prompt_length)
    return PromptSet(table.tokens(), tuple(table.words()), ~table.in_distribution)


def extended_prompts(variant: str, n_max: int, prompt_length: int) -> NDArray[np.int64]:
    """Official training completions of the OOD prompts (docs/paper.md §5.4), PAD-padded.

    ``oracle``: ``|#a − #b|`` copies of the minority token then EOS (R1 holds).
    ``adversarial``: one more copy (R1 violated by one). Shape ``(251, width)`` at k = 8:
    width 18 (oracle) or 19 (adversarial).
    """
    if variant not in ("oracle", "adversarial"):
        raise InputError(f"variant must be 'oracle' or 'adversarial', got {variant!r}")
    ps = prompt_set(n_max, prompt_length)
    rows = []
    for toks in ps.tokens[ps.ood]:
        n_a, n_b = int(np.sum(toks == A)), int(np.sum(toks == B))
        extra = abs(n_a - n_b) + (variant == "adversarial")
        fill = B if n_a >= n_b else A
        rows.append(list(toks) + [fill] * extra + [EOS])
    width = max(len(r) for r in rows)
    return np.array([r + [PAD] * (width - len(r)) for r in rows], dtype=np.int64)
