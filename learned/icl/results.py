"""The result records of case study 2 on trained transformers (strict JSON, :class:`~exact.core.records.Record`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exact.core.records import Record

__all__ = ["Accuracy", "AnswerScores", "DocumentMetrics", "HistoryPoint", "IclReport", "Interval", "ShotRow"]


@dataclass(frozen=True)
class Interval(Record, at="interval"):
    """A mean with its 95 % interval (normal over documents or prompts)."""

    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class Accuracy(Record, at="accuracy"):
    """``correct`` of ``n`` with the 95 % Wilson interval."""

    correct: int
    n: int
    accuracy: float
    low: float
    high: float


@dataclass(frozen=True)
class AnswerScores(Record, at="scores"):
    """One predictor's answers on one shot count's prompts (:func:`learned.icl.evaluate.score_answers`)."""

    vs_label: Accuracy
    vs_bayes: Accuracy
    kl_from_p: Interval
    kl_from_qn: Interval


@dataclass(frozen=True)
class DocumentMetrics(Record, at="documents"):
    """One model on the held-out documents (nats per token; intervals over documents)."""

    seed: int
    n_docs: int
    kl_per_token: Interval
    kl_curve: tuple[float, ...]
    kl_curve_low: tuple[float, ...]
    kl_curve_high: tuple[float, ...]
    model_ce: Interval
    floor_ce: Interval
    excess_ce: Interval


@dataclass(frozen=True)
class ShotRow(Record, at="shots"):
    """One shot count: ``p``'s, ``q_n``'s and each model's scores, and ``q_n``'s certified KL bound.

    ``qn_kl_upper`` is the upper end of a certified ball containing ``P_p(S_n)·ln(1/β) ≥ KL(p‖q_n)``
    (:mod:`exact.icl.certify`), as a float rounded up; ``qn_kl_upper_text`` the same in decimal
    (it may be below the float range).
    """

    n_shots: int
    prompt_length: int
    p: AnswerScores
    qn: AnswerScores
    models: tuple[AnswerScores, ...]
    qn_kl_upper: float
    qn_kl_upper_text: str


@dataclass(frozen=True)
class HistoryPoint(Record, at="history"):
    """Training curve: per seed, the last step's training loss and the exact KL on the validation documents."""

    step: int
    lr_next: float
    train_loss: tuple[float, ...]
    kl_per_token: tuple[float, ...]


@dataclass(frozen=True)
class IclReport(Record, at="icl report"):
    """What ``nonident reproduce icl`` computed (``reports/icl.json``)."""

    preset: str
    config: dict[str, Any]
    device: str
    seconds: float
    train_seconds: float
    eval_seconds: float
    chance: float
    documents: tuple[DocumentMetrics, ...]
    shots: tuple[ShotRow, ...]
    history: tuple[HistoryPoint, ...]
    published: dict[str, Any]
    provenance: dict[str, Any]
    models_sha256: str
