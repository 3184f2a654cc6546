"""Typed results of the fine-tunability experiment (``reports/finetunability.json``; docs/finetunability.md).

* :class:`Curve` — one parametrisation fine-tuned with one optimiser: the exact KL along
  fine-tuning and the downstream scores before and after, per seed;
* :class:`Difference` — a parametrisation minus the original, seed by seed (paired), with
  its 95 % t-interval and the verdict "diverges beyond seed noise" (:func:`paired_difference`);
* :class:`FinetunabilityReport` — the whole experiment, with the equality proofs
  (:class:`~learned.finetunability.equality.EqualityProof`).

Each is an :class:`exact.core.records.Record` (its declaration is its JSON layout;
``from_dict`` reads it back strictly).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from exact.core.records import Record
from exact.core.validate import InputError
from learned.finetunability.equality import EqualityProof

__all__ = ["DIFFERENT", "ROUNDING", "Curve", "Difference", "FinetunabilityReport", "paired_difference"]

#: Differences smaller than this (in the metric's unit) are rounding, not divergence (the report
#: prints KL with three significant digits, and KL per target of a fine-tuned model is ≥ 1e-4).
ROUNDING = 1e-6
#: Two fine-tuned models are *different functions* when the KL between their distributions of
#: the ``proof_length`` tokens after SOS exceeds this (nats). Fine-tuning runs in float64, where
#: the permuted copies — the same function in exact arithmetic at every step — stay within ~1e-16
#: of the fine-tuned original (2.2e-16 in the committed report) and the closest reparametrisation
#: ends 2.9e-9 away, so the threshold sits far from both.
DIFFERENT = 1e-10


@dataclass(frozen=True)
class Curve(Record, at="curve"):
    """One parametrisation fine-tuned with one optimiser; every per-seed tuple is in ``seeds`` order.

    ``function_kl`` / ``function_logit_diff``: per seed, the KL from the fine-tuned original to this
    fine-tuned model over every sequence of the proof's length after SOS, and their largest logit
    difference (:func:`~learned.finetunability.equality.function_distance`); empty for the original and
    the arms.
    """

    name: str
    optimizer: str
    seeds: tuple[int, ...]
    steps: tuple[int, ...]
    kl_per_token: tuple[tuple[float, ...], ...]  # one row per entry of steps
    r1_before: tuple[float, ...]
    r1_after: tuple[float, ...]
    finished_after: tuple[float, ...]
    probe_before: tuple[float, ...]
    probe_after: tuple[float, ...]
    function_kl: tuple[float, ...] = ()
    function_logit_diff: tuple[float, ...] = ()

    @property
    def kl_after(self) -> tuple[float, ...]:
        return self.kl_per_token[-1]


@dataclass(frozen=True)
class Difference(Record, at="difference"):
    """``metric(parametrisation) − metric(original)`` per seed after fine-tuning, and its interval."""

    name: str
    optimizer: str
    metric: str
    deltas: tuple[float, ...]
    mean: float
    low: float | None  # None with a single seed (no interval)
    high: float | None
    divergent: bool


def paired_difference(
    name: str, optimizer: str, metric: str, values: Sequence[float], reference: Sequence[float]
) -> Difference:
    """The paired difference with a 95 % Student-t interval over seeds.

    Divergent ("beyond seed noise") when the interval excludes zero **and** the mean
    difference exceeds :data:`ROUNDING`; with one seed there is no interval (``low = high = None``).
    The interval is per comparison, not corrected for the several comparisons of a report.
    """
    v, r = np.asarray(values, dtype=float), np.asarray(reference, dtype=float)
    if v.size == 0 or v.shape != r.shape:
        raise InputError(
            f"paired_difference needs equally many values and references, got {len(values)} and {len(reference)}"
        )
    d = v - r
    if not np.all(np.isfinite(d)):
        raise InputError(f"paired_difference of {name!r} / {metric!r}: a difference is not finite ({d.tolist()})")
    mean = float(d.mean())
    if d.size < 2:
        return Difference(name, optimizer, metric, tuple(d.tolist()), mean, None, None, False)
    half = float(stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size))
    low, high = mean - half, mean + half
    divergent = (low > 0 or high < 0) and abs(mean) > ROUNDING
    return Difference(name, optimizer, metric, tuple(d.tolist()), mean, low, high, bool(divergent))


@dataclass(frozen=True)
class FinetunabilityReport(Record, at="report"):
    """``reports/finetunability.json``."""

    preset: str
    config: dict[str, Any]
    pretrain_config: dict[str, Any]
    device: str
    seconds: float
    pretrain_seconds: float
    pretrain_kl: dict[str, tuple[float, ...]]  # arm → exact pretraining KL per target, per arm seed
    proofs: tuple[EqualityProof, ...]
    controls: tuple[EqualityProof, ...]
    curves: tuple[Curve, ...]
    differences: tuple[Difference, ...]
    provenance: dict[str, Any]
    models_sha256: str

    def curve(self, name: str, optimizer: str) -> Curve:
        for c in self.curves:
            if c.name == name and c.optimizer == optimizer:
                return c
        raise InputError(f"the report has no curve {name!r} / {optimizer!r}")

    def difference(self, name: str, optimizer: str, metric: str) -> Difference:
        for d in self.differences:
            if (d.name, d.optimizer, d.metric) == (name, optimizer, metric):
                return d
        raise InputError(f"the report has no difference {name!r} / {optimizer!r} / {metric!r}")
