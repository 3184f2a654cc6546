"""Typed results of experiment E1 (docs/paper.md §5, §6.1; arXiv 2405.01964).

Every number that leaves a module of :mod:`learned.rule_extrapolation` — the
evaluation of a seed or a run (:mod:`~.evaluate`), a row of the training
history (:mod:`~.train`), the report of the whole experiment (:mod:`~.reproduce`)
— travels as one of the frozen dataclasses below, so a misspelt field fails
when the code is type-checked, not when it runs:

* :class:`GrammarRates` / :class:`GrammarMetrics` — the official greedy grammar
  metrics of one set of prompts (docs/paper.md §5.5), over each of the three
  denominators of :func:`~.protocol.grammar_metrics`;
* :class:`SeedExactLoss` — the exact test loss, its floor and ``KL(p‖q_θ)`` of one seed;
* :class:`ExtrapolationSummary` — the certified R1/R2 completion probabilities
  of one seed, averaged over the OOD prompts (:func:`exact.rule_extrapolation_probability`);
* :class:`SeedEvaluation` — all of the above for one seed;
* :class:`MeanStd` and :class:`RunSummary` — mean ± sample std over seeds;
* :class:`RunEvaluation` — a run's evaluation (``RUN_DIR/evaluation.json``);
* :class:`HistoryPoint` — one evaluation along training (a row of ``history.json``);
* :class:`ArmResult` and :class:`ReproductionReport` — ``reports/rule-extrapolation.json``.

The JSON files keep their layout: ``as_dict()`` gives exactly the dictionary
(keys, key order, nesting and values) that is written, and ``from_dict()`` reads
it back, so ``T.from_dict(x.as_dict()) == x``. Reading is strict: a missing or
unexpected key, or a value of the wrong kind, raises
:class:`~exact.core.validate.InputError` naming the key and where it sits
(e.g. ``variants.ml.per_seed[0].exact: missing key 'kl_per_token'``). Numbers
are stored as given (an ``int`` where a ``float`` is declared stays an ``int``),
so re-serialising a parsed document writes the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

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
]


# --- strict reading of JSON objects ---------------------------------------------------------------


def _object(doc: object, at: str, keys: Sequence[str], optional: Sequence[str] = ()) -> Mapping[str, Any]:
    """``doc`` as a mapping with exactly ``keys`` (plus any of ``optional``), or an InputError naming the keys."""
    if not isinstance(doc, Mapping):
        raise InputError(f"{at}: expected a JSON object, got {type(doc).__name__}")
    missing = [k for k in keys if k not in doc]
    unexpected = [k for k in doc if k not in keys and k not in optional]
    if missing or unexpected:
        problems = [f"missing key {k!r}" for k in missing] + [f"unexpected key {k!r}" for k in unexpected]
        raise InputError(f"{at}: {', '.join(problems)} (expected keys {', '.join(keys)})")
    return doc


def _real(doc: Mapping[str, Any], key: str, at: str) -> float:
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{at}.{key} must be a number, got {value!r}")
    return value


def _int(doc: Mapping[str, Any], key: str, at: str) -> int:
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{at}.{key} must be an integer, got {value!r}")
    return value


def _str(doc: Mapping[str, Any], key: str, at: str) -> str:
    value = doc[key]
    if not isinstance(value, str):
        raise InputError(f"{at}.{key} must be a string, got {value!r}")
    return value


def _reals(doc: Mapping[str, Any], key: str, at: str) -> tuple[float, ...]:
    value = doc[key]
    if not isinstance(value, list | tuple):
        raise InputError(f"{at}.{key} must be a list of numbers, got {value!r}")
    return tuple(_real({key: x}, key, f"{at}[{i}]") for i, x in enumerate(value))


def _list(doc: Mapping[str, Any], key: str, at: str) -> list[Any]:
    value = doc[key]
    if not isinstance(value, list | tuple):
        raise InputError(f"{at}.{key} must be a list, got {type(value).__name__}")
    return list(value)


def _dict(doc: Mapping[str, Any], key: str, at: str) -> dict[str, Any]:
    value = doc[key]
    if not isinstance(value, Mapping):
        raise InputError(f"{at}.{key} must be a JSON object, got {type(value).__name__}")
    return dict(value)


# --- the official grammar metrics (docs/paper.md §5.5) --------------------------------------------

_RATES = ("r1", "r2", "r2_completion", "grammatical", "finished")


@dataclass(frozen=True)
class GrammarRates:
    """The official grammar metrics of greedy completions over one denominator (docs/paper.md §5.5).

    Each rate is over the whole sequence (prompt + completion), as the official
    ``GrammarMetrics``; which sequences count depends on the denominator
    (:class:`GrammarMetrics`).

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

    def as_dict(self) -> dict[str, float]:
        """``{"r1", "r2", "r2_completion", "grammatical", "finished", "n"}``, as :func:`~.protocol.grammar_metrics`."""
        return {
            "r1": self.r1,
            "r2": self.r2,
            "r2_completion": self.r2_completion,
            "grammatical": self.grammatical,
            "finished": self.finished,
            "n": self.n,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, at: str = "grammar rates") -> GrammarRates:
        """Read :meth:`as_dict`'s layout; ``at`` names the place in the document for error messages."""
        d = _object(doc, at, (*_RATES, "n"))
        return cls(
            r1=_real(d, "r1", at),
            r2=_real(d, "r2", at),
            r2_completion=_real(d, "r2_completion", at),
            grammatical=_real(d, "grammatical", at),
            finished=_real(d, "finished", at),
            n=_int(d, "n", at),
        )


@dataclass(frozen=True)
class GrammarMetrics:
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

    def as_dict(self) -> dict[str, dict[str, float]]:
        """``{"all": …, "finished": …, "finished_over_all": …}``, as :func:`~.protocol.grammar_metrics`."""
        return {
            "all": self.all.as_dict(),
            "finished": self.finished.as_dict(),
            "finished_over_all": self.finished_over_all.as_dict(),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, at: str = "grammar metrics") -> GrammarMetrics:
        """Read :meth:`as_dict`'s layout (the return value of :func:`~.protocol.grammar_metrics`)."""
        d = _object(doc, at, ("all", "finished", "finished_over_all"))
        return cls(
            all=GrammarRates.from_dict(d["all"], at=f"{at}.all"),
            finished=GrammarRates.from_dict(d["finished"], at=f"{at}.finished"),
            finished_over_all=GrammarRates.from_dict(d["finished_over_all"], at=f"{at}.finished_over_all"),
        )


# --- one seed -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedExactLoss:
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

    def as_dict(self) -> dict[str, float]:
        """The ``"exact"`` entry of a per-seed evaluation."""
        return {
            "test_loss": self.test_loss,
            "floor": self.floor,
            "kl_per_token": self.kl_per_token,
            "kl_sequence": self.kl_sequence,
            "targets_per_sequence": self.targets_per_sequence,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, at: str = "exact loss") -> SeedExactLoss:
        """Read :meth:`as_dict`'s layout."""
        d = _object(doc, at, ("test_loss", "floor", "kl_per_token", "kl_sequence", "targets_per_sequence"))
        return cls(
            test_loss=_real(d, "test_loss", at),
            floor=_real(d, "floor", at),
            kl_per_token=_real(d, "kl_per_token", at),
            kl_sequence=_real(d, "kl_sequence", at),
            targets_per_sequence=_int(d, "targets_per_sequence", at),
        )


_EXTRAPOLATION = (
    "prompts",
    "r1_lower",
    "r1_upper",
    "r2_lower",
    "r2_upper",
    "unexplored_max",
    "nodes_expanded",
    "ended_mean",
    "malformed_mean",
    "settings",
)


@dataclass(frozen=True)
class ExtrapolationSummary:
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

    def as_dict(self) -> dict[str, Any]:
        """The ``"extrapolation"`` entry of a per-seed evaluation."""
        return {
            "prompts": self.prompts,
            "r1_lower": self.r1_lower,
            "r1_upper": self.r1_upper,
            "r2_lower": self.r2_lower,
            "r2_upper": self.r2_upper,
            "unexplored_max": self.unexplored_max,
            "nodes_expanded": self.nodes_expanded,
            "ended_mean": self.ended_mean,
            "malformed_mean": self.malformed_mean,
            "settings": dict(self.settings),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, at: str = "extrapolation") -> ExtrapolationSummary:
        """Read :meth:`as_dict`'s layout."""
        d = _object(doc, at, _EXTRAPOLATION)
        return cls(
            prompts=_int(d, "prompts", at),
            r1_lower=_real(d, "r1_lower", at),
            r1_upper=_real(d, "r1_upper", at),
            r2_lower=_real(d, "r2_lower", at),
            r2_upper=_real(d, "r2_upper", at),
            unexplored_max=_real(d, "unexplored_max", at),
            nodes_expanded=_int(d, "nodes_expanded", at),
            ended_mean=_real(d, "ended_mean", at),
            malformed_mean=_real(d, "malformed_mean", at),
            settings=_dict(d, "settings", at),
        )

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
class SeedEvaluation:
    """One seed of a run measured against the exact ground truth (docs/paper.md §5.5, §6.1).

    Attributes
    ----------
    seed : int
        The training seed.
    exact : SeedExactLoss
        Exact test loss and ``KL(p‖q_θ)``.
    ood : GrammarMetrics
        The official greedy metrics on the OOD length-k prompts (probability 0 under the data).
    id : GrammarMetrics
        The same on the in-distribution length-k prompts.
    extrapolation : ExtrapolationSummary
        Certified R1/R2 completion probabilities on the OOD prompts.
    selected_step : int or None
        The training step whose parameters were evaluated (the minimal exact test
        loss, or the last step); None where it is not known (a bare model), and
        then absent from :meth:`as_dict`.
    """

    seed: int
    exact: SeedExactLoss
    ood: GrammarMetrics
    id: GrammarMetrics
    extrapolation: ExtrapolationSummary
    selected_step: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """A row of ``per_seed``: ``seed``, ``selected_step`` (if known), ``exact``, ``ood``, ``id``, ``extrapolation``."""
        step = {} if self.selected_step is None else {"selected_step": self.selected_step}
        return (
            {"seed": self.seed}
            | step
            | {
                "exact": self.exact.as_dict(),
                "ood": self.ood.as_dict(),
                "id": self.id.as_dict(),
                "extrapolation": self.extrapolation.as_dict(),
            }
        )

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, at: str = "per-seed evaluation") -> SeedEvaluation:
        """Read :meth:`as_dict`'s layout (a row of ``per_seed`` in ``evaluation.json`` or the report)."""
        d = _object(doc, at, ("seed", "exact", "ood", "id", "extrapolation"), optional=("selected_step",))
        return cls(
            seed=_int(d, "seed", at),
            exact=SeedExactLoss.from_dict(d["exact"], at=f"{at}.exact"),
            ood=GrammarMetrics.from_dict(d["ood"], at=f"{at}.ood"),
            id=GrammarMetrics.from_dict(d["id"], at=f"{at}.id"),
            extrapolation=ExtrapolationSummary.from_dict(d["extrapolation"], at=f"{at}.extrapolation"),
            selected_step=_int(d, "selected_step", at) if "selected_step" in d else None,
        )


# --- over seeds -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeanStd:
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

    def as_dict(self) -> dict[str, Any]:
        """``{"mean", "std", "values"}``."""
        return {"mean": self.mean, "std": self.std, "values": list(self.values)}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, at: str = "mean and std") -> MeanStd:
        """Read :meth:`as_dict`'s layout."""
        d = _object(doc, at, ("mean", "std", "values"))
        return cls(_real(d, "mean", at), _real(d, "std", at), _reals(d, "values", at))


_SUMMARY = (
    "kl_per_token",
    "kl_sequence",
    "test_loss",
    "ood_r1_finished",
    "ood_r1_finished_over_all",
    "ood_r1_all_official",
    "ood_finished",
    "id_r1_finished",
    "ood_r1_probability_lower",
    "ood_r1_probability_upper",
)


@dataclass(frozen=True)
class RunSummary:
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

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """``{name: {"mean", "std", "values"}}`` in the field order."""
        return {name: getattr(self, name).as_dict() for name in _SUMMARY}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, at: str = "summary") -> RunSummary:
        """Read :meth:`as_dict`'s layout."""
        d = _object(doc, at, _SUMMARY)
        return cls(**{name: MeanStd.from_dict(d[name], at=f"{at}.{name}") for name in _SUMMARY})


@dataclass(frozen=True)
class RunEvaluation:
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

    def as_dict(self) -> dict[str, Any]:
        """The content of ``evaluation.json``."""
        return {
            "run_dir": self.run_dir,
            "variant": self.variant,
            "which": self.which,
            "n_ood": self.n_ood,
            "n_id": self.n_id,
            "per_seed": [r.as_dict() for r in self.per_seed],
            "summary": self.summary.as_dict(),
            "provenance": dict(self.provenance),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, at: str = "run evaluation") -> RunEvaluation:
        """Read :meth:`as_dict`'s layout (``evaluation.json``)."""
        keys = ("run_dir", "variant", "which", "n_ood", "n_id", "per_seed", "summary", "provenance")
        d = _object(doc, at, keys)
        rows = _list(d, "per_seed", at)
        return cls(
            run_dir=_str(d, "run_dir", at),
            variant=_str(d, "variant", at),
            which=_str(d, "which", at),
            n_ood=_int(d, "n_ood", at),
            n_id=_int(d, "n_id", at),
            per_seed=tuple(SeedEvaluation.from_dict(r, at=f"{at}.per_seed[{i}]") for i, r in enumerate(rows)),
            summary=RunSummary.from_dict(d["summary"], at=f"{at}.summary"),
            provenance=_dict(d, "provenance", at),
        )


# --- training and the report ----------------------------------------------------------------------

_HISTORY = (
    "step",
    "lr_next",
    "test_loss",
    "kl_per_token",
    "kl_sequence",
    "ood_r1_finished",
    "ood_r1_all",
    "ood_finished",
)


@dataclass(frozen=True)
class HistoryPoint:
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

    def as_dict(self) -> dict[str, Any]:
        """A row of ``history.json``."""
        return {
            "step": self.step,
            "lr_next": self.lr_next,
            "test_loss": list(self.test_loss),
            "kl_per_token": list(self.kl_per_token),
            "kl_sequence": list(self.kl_sequence),
            "ood_r1_finished": list(self.ood_r1_finished),
            "ood_r1_all": list(self.ood_r1_all),
            "ood_finished": list(self.ood_finished),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, at: str = "history point") -> HistoryPoint:
        """Read :meth:`as_dict`'s layout."""
        d = _object(doc, at, _HISTORY)
        return cls(
            step=_int(d, "step", at),
            lr_next=_real(d, "lr_next", at),
            test_loss=_reals(d, "test_loss", at),
            kl_per_token=_reals(d, "kl_per_token", at),
            kl_sequence=_reals(d, "kl_sequence", at),
            ood_r1_finished=_reals(d, "ood_r1_finished", at),
            ood_r1_all=_reals(d, "ood_r1_all", at),
            ood_finished=_reals(d, "ood_finished", at),
        )


@dataclass(frozen=True)
class ArmResult:
    """One arm of experiment E1 in the report: its evaluation and its training history.

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
    def from_dict(cls, doc: Mapping[str, Any], *, at: str = "arm") -> ArmResult:
        """Read :meth:`as_dict`'s layout."""
        if not isinstance(doc, Mapping):
            raise InputError(f"{at}: expected a JSON object, got {type(doc).__name__}")
        if "history" not in doc:
            raise InputError(f"{at}: missing key 'history'")
        rest = {k: v for k, v in doc.items() if k != "history"}
        hist = _list(doc, "history", at)
        return cls(
            evaluation=RunEvaluation.from_dict(rest, at=at),
            history=tuple(HistoryPoint.from_dict(h, at=f"{at}.history[{i}]") for i, h in enumerate(hist)),
        )


_REPORT = ("preset", "config", "device", "train_seconds", "variants", "provenance", "models_sha256")


@dataclass(frozen=True)
class ReproductionReport:
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

    def as_dict(self) -> dict[str, Any]:
        """The content of ``rule-extrapolation.json``."""
        return {
            "preset": self.preset,
            "config": dict(self.config),
            "device": self.device,
            "train_seconds": self.train_seconds,
            "variants": {v: a.as_dict() for v, a in self.variants.items()},
            "provenance": dict(self.provenance),
            "models_sha256": self.models_sha256,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, at: str = "report") -> ReproductionReport:
        """Read :meth:`as_dict`'s layout (``rule-extrapolation.json``)."""
        d = _object(doc, at, _REPORT)
        arms = _dict(d, "variants", at)
        return cls(
            preset=_str(d, "preset", at),
            config=_dict(d, "config", at),
            device=_str(d, "device", at),
            train_seconds=_real(d, "train_seconds", at),
            variants={v: ArmResult.from_dict(a, at=f"{at}.variants.{v}") for v, a in arms.items()},
            provenance=_dict(d, "provenance", at),
            models_sha256=_str(d, "models_sha256", at),
        )
