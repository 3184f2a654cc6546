"""Typed results of experiment E1 (docs/paper.md §5, §6.1; arXiv 2405.01964).

Every number that leaves a module of :mod:`learned.rule_extrapolation` — the
evaluation of a seed or a run (:mod:`~.evaluate`), a row of the training
history (:mod:`~.train`), the report of the whole experiment (:mod:`~.reproduce`)
— travels as one of the frozen dataclasses below, so a misspelt field fails
when the code is type-checked, not when it runs:

* :class:`GrammarRates` / :class:`GrammarMetrics` — the official greedy grammar metrics of one
  set of prompts (docs/paper.md §5.5), over each denominator of :func:`~.protocol.grammar_metrics`;
* :class:`SeedExactLoss` — the exact test loss, its floor and ``KL(p‖q_θ)`` of one seed;
* :class:`ExtrapolationSummary` — the certified R1/R2 completion probabilities
  of one seed, averaged over the OOD prompts (:func:`exact.rule_extrapolation_probability`);
* :class:`SeedEvaluation` — all of the above for one seed;
* :class:`MeanStd` and :class:`RunSummary` — mean ± sample std over seeds;
* :class:`RunEvaluation` — a run's evaluation (``RUN_DIR/evaluation.json``);
* :class:`HistoryPoint` — one evaluation along training (a row of ``history.json``);
* :class:`ArmResult` and :class:`ReproductionReport` — ``reports/rule-extrapolation.json``.

Each is an :class:`exact.core.records.Record`: its declaration is its JSON layout.
``as_dict()`` gives exactly the dictionary that is written (keys in field order),
``from_dict()`` reads it back strictly (``T.from_dict(x.as_dict()) == x``; a bad key
or value is an :class:`~exact.core.validate.InputError` naming it and its path, e.g.
``variants.ml.per_seed[0].exact: missing key 'kl_per_token'``), and numbers are kept
as given, so re-serialising a parsed document writes the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from exact.core.records import OMIT_IF_NONE, Record, read_value
from exact.core.validate import InputError

if TYPE_CHECKING:
    from exact.anbn.extrapolation import ExtrapolationResult

__all__ = [
    "GrammarRates",
    "GrammarMetrics",
    "SeedExactLoss",
    "ExtrapolationSummary",
    "SeedEvaluation",
    "MeanStd",
    "RunSummary",
    "RunEvaluation",
    "HistoryPoint",
    "ArmResult",
    "ReproductionReport",
    "LanguageSeedEvaluation",
    "LanguageRunEvaluation",
]


# --- the official grammar metrics (docs/paper.md §5.5) --------------------------------------------


@dataclass(frozen=True)
class GrammarRates(Record, at="grammar rates"):
    """The official grammar metrics of greedy completions over one denominator (docs/paper.md §5.5).

    Each rate is over the whole sequence (prompt + completion), as the official
    ``GrammarMetrics``; which sequences count depends on the denominator
    (:class:`GrammarMetrics`). The layout is that of :func:`~.protocol.grammar_metrics`.

    Attributes
    ----------
    r1 : float
        Fraction with ``#a == #b``.
    r2 : float
        Fraction with no a after a b.
    r2_completion : float
        Fraction whose completion alone has no a after a b.
    grammatical : float
        Fraction with R1 and R2.
    finished : float
        Fraction finished: the completion contains EOS and no a/b after the first EOS.
    n : int
        The denominator: the number of prompts, or of finished completions.
    """

    r1: float
    r2: float
    r2_completion: float
    grammatical: float
    finished: float
    n: int


@dataclass(frozen=True)
class GrammarMetrics(Record, at="grammar metrics"):
    """The official grammar metrics of one set of prompts, three ways (docs/paper.md §5.5).

    Attributes
    ----------
    all : GrammarRates
        Over all prompts (the official ``Val/OOD/<metric>``); ``n`` is the number of prompts.
    finished : GrammarRates
        Over finished completions only (``Val/OOD/finished/<metric>``, the paper's
        headline number; every rate 0 if nothing finished, as logged); ``n`` is the
        number of finished completions.
    finished_over_all : GrammarRates
        Finished *and* satisfied, over all prompts (unfinished outputs count as
        failures); ``n`` is the number of prompts.
    """

    all: GrammarRates
    finished: GrammarRates
    finished_over_all: GrammarRates


# --- one seed -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedExactLoss(Record, at="exact loss"):
    """The exact test loss of one seed against the training law (docs/paper.md §5.3, §7).

    Attributes
    ----------
    test_loss : float
        Padded next-token cross-entropy over every sentence, weighted by its exact probability (nats per target).
    floor : float
        Its minimum, ``H(p)`` per padded target.
    kl_per_token : float
        ``test_loss − floor``: the exact ``KL(p‖q_θ)`` per padded target.
    kl_sequence : float
        The exact KL of the sentence distributions (nats per sentence).
    targets_per_sequence : int
        Padded targets per sentence, ``2N + 1``.
    """

    test_loss: float
    floor: float
    kl_per_token: float
    kl_sequence: float
    targets_per_sequence: int


@dataclass(frozen=True)
class ExtrapolationSummary(Record, at="extrapolation"):
    """Certified rule-extrapolation probabilities of one seed, means over the OOD prompts (docs/paper.md §4.2).

    The first seven fields are :meth:`exact.anbn.extrapolation.ExtrapolationResult.summary`;
    a mean of certified intervals is a certified interval for the mean.

    Attributes
    ----------
    prompts : int
        Number of prompts.
    r1_lower, r1_upper : float
        Interval for the mean probability of completing with EOS and ``#a = #b`` (R1).
    r2_lower, r2_upper : float
        Interval for the mean probability of completing with EOS and no a after a b (R2).
    unexplored_max : float
        Largest probability mass left unexpanded at any prompt.
    nodes_expanded : int
        Nodes of the completion tree expanded.
    ended_mean : float
        Mean mass found ending with EOS.
    malformed_mean : float
        Mean mass with SOS or PAD before EOS.
    settings : dict[str, Any]
        The tree-expansion settings (``max_completion_length``, ``prune_below``, ``max_nodes``).
    """

    prompts: int
    r1_lower: float
    r1_upper: float
    r2_lower: float
    r2_upper: float
    unexplored_max: float
    nodes_expanded: int
    ended_mean: float
    malformed_mean: float
    settings: dict[str, Any]

    @classmethod
    def from_result(cls, result: ExtrapolationResult, settings: Mapping[str, Any]) -> ExtrapolationSummary:
        """Summarise :func:`exact.rule_extrapolation_probability`'s result computed with ``settings``."""
        doc = result.summary() | {
            "ended_mean": float(result.ended.mean()),
            "malformed_mean": float(result.malformed.mean()),
            "settings": dict(settings),
        }
        return cls.from_dict(doc, at="ExtrapolationResult.summary()")


@dataclass(frozen=True)
class SeedEvaluation(Record, at="per-seed evaluation"):
    """One seed of a run measured against the exact ground truth (a row of ``per_seed``; docs/paper.md §5.5, §6.1).

    Attributes
    ----------
    seed : int
        The training seed.
    selected_step : int or None
        The training step whose parameters were evaluated (the minimal exact test
        loss, or the last step); None where it is not known (a bare model), and
        then absent from :meth:`as_dict`. Keyword-only.
    exact : SeedExactLoss
        Exact test loss and ``KL(p‖q_θ)``.
    ood : GrammarMetrics
        The official greedy metrics on the OOD length-k prompts (probability 0 under the data).
    id : GrammarMetrics
        The same on the in-distribution length-k prompts.
    extrapolation : ExtrapolationSummary
        Certified R1/R2 completion probabilities on the OOD prompts.
    """

    seed: int
    selected_step: int | None = field(default=None, kw_only=True, metadata=OMIT_IF_NONE)
    exact: SeedExactLoss
    ood: GrammarMetrics
    id: GrammarMetrics
    extrapolation: ExtrapolationSummary


# --- over seeds -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeanStd(Record, at="mean and std"):
    """Mean and sample standard deviation of one number over seeds.

    Attributes
    ----------
    mean : float
        Mean over seeds.
    std : float
        Sample standard deviation (``ddof=1``); 0 for a single seed.
    values : tuple[float, ...]
        The values, one per seed in seed order.
    """

    mean: float
    std: float
    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> MeanStd:
        """Mean ± sample std of ``values`` (at least one)."""
        arr = np.asarray(values, dtype=float)
        if arr.size == 0:
            raise InputError("MeanStd needs at least one value")
        return cls(float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0, tuple(arr.tolist()))


@dataclass(frozen=True)
class RunSummary(Record, at="summary"):
    """The headline numbers of a run, mean ± sample std over its seeds (docs/paper.md §6.1).

    Attributes
    ----------
    kl_per_token, kl_sequence, test_loss : MeanStd
        :class:`SeedExactLoss` fields.
    ood_r1_finished : MeanStd
        OOD R1 over finished completions (the official headline metric).
    ood_r1_finished_over_all : MeanStd
        OOD R1 and finished, over all OOD prompts.
    ood_r1_all_official : MeanStd
        OOD R1 over all prompts, finished or not (the official ``Val/OOD/r1``).
    ood_finished : MeanStd
        Fraction of OOD completions that finish.
    id_r1_finished : MeanStd
        In-distribution R1 over finished completions.
    ood_r1_probability_lower, ood_r1_probability_upper : MeanStd
        The certified interval of the mean OOD R1 completion probability.
    """

    kl_per_token: MeanStd
    kl_sequence: MeanStd
    test_loss: MeanStd
    ood_r1_finished: MeanStd
    ood_r1_finished_over_all: MeanStd
    ood_r1_all_official: MeanStd
    ood_finished: MeanStd
    id_r1_finished: MeanStd
    ood_r1_probability_lower: MeanStd
    ood_r1_probability_upper: MeanStd

    @classmethod
    def of(cls, per_seed: Sequence[SeedEvaluation]) -> RunSummary:
        """Mean ± sample std over ``per_seed`` (at least one seed)."""

        def over(pick: Callable[[SeedEvaluation], float]) -> MeanStd:
            return MeanStd.of([pick(r) for r in per_seed])

        return cls(
            kl_per_token=over(lambda r: r.exact.kl_per_token),
            kl_sequence=over(lambda r: r.exact.kl_sequence),
            test_loss=over(lambda r: r.exact.test_loss),
            ood_r1_finished=over(lambda r: r.ood.finished.r1),
            ood_r1_finished_over_all=over(lambda r: r.ood.finished_over_all.r1),
            ood_r1_all_official=over(lambda r: r.ood.all.r1),
            ood_finished=over(lambda r: r.ood.all.finished),
            id_r1_finished=over(lambda r: r.id.finished.r1),
            ood_r1_probability_lower=over(lambda r: r.extrapolation.r1_lower),
            ood_r1_probability_upper=over(lambda r: r.extrapolation.r1_upper),
        )


@dataclass(frozen=True)
class RunEvaluation(Record, at="run evaluation"):
    """The evaluation of a run, every seed (``RUN_DIR/evaluation.json``; docs/paper.md §5.5, §6.1).

    Attributes
    ----------
    run_dir : str
        The run directory as given.
    variant : str
        The training variant (``ml``, ``adversarial`` or ``oracle``).
    which : str
        ``best`` (parameters at the minimal exact test loss) or ``final``.
    n_ood, n_id : int
        Numbers of OOD and in-distribution prompts.
    per_seed : tuple[SeedEvaluation, ...]
        One evaluation per seed, in the run's seed order.
    summary : RunSummary
        Mean ± sample std over seeds.
    provenance : dict[str, Any]
        Config, commit, versions and device (:func:`exact.core.artifacts.provenance`).
    """

    run_dir: str
    variant: str
    which: str
    n_ood: int
    n_id: int
    per_seed: tuple[SeedEvaluation, ...]
    summary: RunSummary
    provenance: dict[str, Any]


# --- training and the report ----------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryPoint(Record, at="history point"):
    """One evaluation along training, every seed (a row of ``history.json``; docs/paper.md §5.3, §5.5).

    Each tuple has one entry per seed, in the run's seed order.

    Attributes
    ----------
    step : int
        Optimiser steps done.
    lr_next : float
        The learning rate of the next step.
    test_loss, kl_per_token, kl_sequence : tuple[float, ...]
        :class:`SeedExactLoss` fields.
    ood_r1_finished : tuple[float, ...]
        Greedy OOD R1 over finished completions.
    ood_r1_all : tuple[float, ...]
        Greedy OOD R1 and finished, over all OOD prompts.
    ood_finished : tuple[float, ...]
        Fraction of greedy OOD completions that finish.
    """

    step: int
    lr_next: float
    test_loss: tuple[float, ...]
    kl_per_token: tuple[float, ...]
    kl_sequence: tuple[float, ...]
    ood_r1_finished: tuple[float, ...]
    ood_r1_all: tuple[float, ...]
    ood_finished: tuple[float, ...]


@dataclass(frozen=True)
class ArmResult(Record, at="arm"):
    """One arm of experiment E1 in the report: its evaluation and its training history.

    Its JSON object is the evaluation's keys followed by ``"history"`` (flat, not nested).

    Attributes
    ----------
    evaluation : RunEvaluation
        The run's evaluation.
    history : tuple[HistoryPoint, ...]
        Its training history.
    """

    evaluation: RunEvaluation
    history: tuple[HistoryPoint, ...]

    def as_dict(self) -> dict[str, Any]:
        """The evaluation's keys followed by ``"history"``."""
        return self.evaluation.as_dict() | {"history": [h.as_dict() for h in self.history]}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, at: str | None = None) -> Self:
        """Read :meth:`as_dict`'s layout; ``at`` names the place in the document for error messages."""
        at = cls._at if at is None else at
        if not isinstance(doc, Mapping):
            raise InputError(f"{at}: expected a JSON object, got {type(doc).__name__}")
        rest = dict(doc)
        if "history" not in rest:
            raise InputError(f"{at}: missing key 'history'")
        history = read_value(tuple[HistoryPoint, ...], rest.pop("history"), f"{at}.history")
        return cls(RunEvaluation.from_dict(rest, at=at), history)


@dataclass(frozen=True)
class ReproductionReport(Record, at="report"):
    """Experiment E1 end to end (``reports/rule-extrapolation.json``; docs/paper.md §5, §6.1).

    Attributes
    ----------
    preset : str
        The preset every arm was trained with.
    config : dict[str, Any]
        Its resolved run config (:meth:`~.config.RunConfig.to_dict`).
    device : str
        The device trained and evaluated on.
    train_seconds : float
        Training wall time of all arms.
    variants : dict[str, ArmResult]
        One entry per arm (:data:`~.reproduce.ARMS`), in order.
    provenance : dict[str, Any]
        Commit, versions and config (:func:`exact.core.artifacts.provenance`).
    models_sha256 : str
        SHA-256 of ``rule-extrapolation-models.pt``, the selected parameters of every arm.
    """

    preset: str
    config: dict[str, Any]
    device: str
    train_seconds: float
    variants: dict[str, ArmResult]
    provenance: dict[str, Any]
    models_sha256: str


# --- any library language (learned.rule_extrapolation.languages) ----------------------------------


@dataclass(frozen=True)
class LanguageSeedEvaluation(Record, at="per-seed language evaluation"):
    """One seed of a run on a library language, against its exact training law.

    Attributes
    ----------
    seed, selected_step : int
        The training seed and the step whose parameters were evaluated (minimal exact test loss).
    exact : SeedExactLoss
        Exact test loss, floor and KL to the training law (the language's law conditioned on
        ``|w| ≤ word_length``; ``truncated_mass`` is the probability the conditioning removed).
    ood_finished, ood_r1_finished, ood_r1_all : float
        Greedy completions of the OOD prompts: fraction finished; R1 over finished completions
        (0 if none finished); R1 and finished over all prompts.
    n_ood : int
        Number of OOD prompts.
    r1_lower, r1_upper : float
        Certified interval of the mean over OOD prompts of the model's exact probability of
        completing with EOS and R1 (:func:`exact.core.completions.completion_probabilities`).
    unexplored_max : float
        Largest completion-tree mass left unexpanded at any prompt (it widens the interval).
    """

    seed: int
    selected_step: int
    exact: SeedExactLoss
    truncated_mass: float
    ood_finished: float
    ood_r1_finished: float
    ood_r1_all: float
    n_ood: int
    r1_lower: float
    r1_upper: float
    unexplored_max: float


@dataclass(frozen=True)
class LanguageRunEvaluation(Record, at="language run evaluation"):
    """A run on a library language (``RUN_DIR/evaluation.json``)."""

    run_dir: str
    language: str
    law: str
    variant: str
    completion_loss: str
    per_seed: tuple[LanguageSeedEvaluation, ...]
    provenance: dict[str, Any]
