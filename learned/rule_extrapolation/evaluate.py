"""Evaluate a finished run against the exact ground truth.

For each seed of a run (parameters at its minimal exact test loss by default,
the official model selection) :func:`evaluate_run` reports

* the exact test loss, the exact floor and ``KL(p‖q_θ)`` (per padded target and
  per sentence; :mod:`learned.rule_extrapolation.losses`);
* the official greedy protocol (300 new tokens) on the OOD and ID length-k
  prompts with all three denominators (:mod:`learned.rule_extrapolation.protocol`);
* the exact R1/R2 extrapolation probability on the OOD prompts with its
  certified interval (:func:`exact.rule_extrapolation_probability` through
  :class:`~learned.nn.predictor.TransformerPredictor`), and
* means and standard deviations over seeds.

The results are typed (:mod:`learned.rule_extrapolation.results`): one
:class:`~learned.rule_extrapolation.results.SeedEvaluation` per seed and a
:class:`~learned.rule_extrapolation.results.RunEvaluation` for the run, whose
``as_dict()`` is written to ``RUN_DIR/evaluation.json`` with provenance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from exact import TokenBatch, rule_extrapolation_probability
from exact.core.artifacts import provenance, write_json
from exact.core.completions import completion_probabilities
from exact.core.validate import InputError
from learned.nn.device import resolve_device
from learned.nn.model import Transformer
from learned.nn.predictor import TransformerPredictor
from learned.rule_extrapolation.config import RunConfig
from learned.rule_extrapolation.data import prompt_set, sentence_set
from learned.rule_extrapolation.languages import language_task, rule_rates
from learned.rule_extrapolation.losses import ExactLoss, exact_test_loss
from learned.rule_extrapolation.protocol import grammar_metrics, greedy_complete
from learned.rule_extrapolation.results import (
    ExtrapolationSummary,
    GrammarMetrics,
    LanguageRunEvaluation,
    LanguageSeedEvaluation,
    RunEvaluation,
    RunSummary,
    SeedEvaluation,
    SeedExactLoss,
)
from learned.rule_extrapolation.train import load_model

__all__ = ["EXTRAPOLATION_SETTINGS", "evaluate_language_run", "evaluate_model", "evaluate_run", "summarise"]

#: Tree expansion of :func:`exact.rule_extrapolation_probability` for trained models:
#: completions up to 24 tokens (an OOD prompt of length 8 needs at most 9), nodes
#: lighter than 1e-4 left unexplored (their mass widens the certified interval).
EXTRAPOLATION_SETTINGS: dict[str, Any] = {"max_completion_length": 24, "prune_below": 1e-4, "max_nodes": 20_000}


def summarise(per_seed: Sequence[SeedEvaluation]) -> RunSummary:
    """Mean ± sample std over seeds of the headline numbers (:meth:`RunSummary.of`)."""
    return RunSummary.of(per_seed)


def _settings(extrapolation: dict[str, Any] | None) -> dict[str, Any]:
    """:data:`EXTRAPOLATION_SETTINGS` with the caller's overrides (only known keys)."""
    unknown = set(extrapolation or {}) - set(EXTRAPOLATION_SETTINGS)
    if unknown:
        raise InputError(f"extrapolation accepts {sorted(EXTRAPOLATION_SETTINGS)}, got {sorted(unknown)}")
    return EXTRAPOLATION_SETTINGS | (extrapolation or {})


def _exact(loss: ExactLoss, i: int) -> SeedExactLoss:
    """Model ``i``'s row of the exact test metrics."""
    return SeedExactLoss(
        test_loss=float(loss.test_loss[i]),
        floor=loss.floor,
        kl_per_token=float(loss.kl_per_token[i]),
        kl_sequence=float(loss.kl_sequence[i]),
        targets_per_sequence=loss.targets_per_sequence,
    )


def evaluate_model(
    cfg: RunConfig,
    model: Transformer,
    *,
    device: torch.device | str = "cpu",
    extrapolation: dict[str, Any] | None = None,
) -> list[SeedEvaluation]:
    """Exact loss, official metrics and certified extrapolation of every stacked model, one per seed.

    The rows carry no ``selected_step`` (a bare model does not know it); :func:`evaluate_run` adds it.
    """
    settings = _settings(extrapolation)
    prompts = prompt_set(cfg.data.n_max, cfg.train.prompt_length)
    ood, idp = prompts.tokens[prompts.ood], prompts.tokens[~prompts.ood]
    loss = exact_test_loss(model, sentence_set(cfg.data), device=device)
    # OOD and ID prompts decoded as separate batches, in enumeration order, as during training
    # (with the official batch-row positions a prompt's row changes its output).
    ood_comps = greedy_complete(model, ood, cfg.train.max_pred_length, device=device)
    id_comps = greedy_complete(model, idp, cfg.train.max_pred_length, device=device)
    per_seed = []
    for i, seed in enumerate(cfg.train.seeds):
        ext = rule_extrapolation_probability(
            TransformerPredictor(model, i), TokenBatch(ood, np.full(len(ood), ood.shape[1])), **settings
        )
        per_seed.append(
            SeedEvaluation(
                seed=seed,
                exact=_exact(loss, i),
                ood=GrammarMetrics.from_dict(grammar_metrics(ood, ood_comps[i]), at="grammar_metrics (OOD)"),
                id=GrammarMetrics.from_dict(grammar_metrics(idp, id_comps[i]), at="grammar_metrics (ID)"),
                extrapolation=ExtrapolationSummary.from_result(ext, settings),
            )
        )
    return per_seed


def evaluate_run(
    run_dir: str | Path,
    *,
    which: str = "best",
    device: str = "cpu",
    write: bool = True,
    extrapolation: dict[str, Any] | None = None,
) -> RunEvaluation:
    """Evaluate every seed of the run in ``run_dir``; see the module docstring."""
    dev = resolve_device(device)
    cfg, model, ck = load_model(run_dir, which=which, device=str(dev))
    if cfg.data.language != "anbn":
        raise InputError(f"{run_dir} trained on {cfg.data.language}: evaluate it with evaluate_language_run")
    per_seed = tuple(
        replace(r, selected_step=int(ck["best_step"][i]) if which == "best" else cfg.train.steps)
        for i, r in enumerate(evaluate_model(cfg, model, device=dev, extrapolation=extrapolation))
    )
    result = RunEvaluation(
        run_dir=str(run_dir),
        variant=cfg.train.variant,
        which=which,
        n_ood=per_seed[0].ood.all.n,
        n_id=per_seed[0].id.all.n,
        per_seed=per_seed,
        summary=summarise(per_seed),
        provenance=provenance(cfg.to_dict()) | {"device": str(dev)},
    )
    if write:
        write_json(Path(run_dir) / "evaluation.json", result.as_dict(), indent=2)
    return result


def evaluate_language_run(
    run_dir: str | Path, *, device: str = "cpu", write: bool = True, extrapolation: dict[str, Any] | None = None
) -> LanguageRunEvaluation:
    """Evaluate every seed of a run on a library language (parameters at its minimal exact test loss).

    The same measurements as :func:`evaluate_run` on aⁿbⁿ, through the language's own rule:
    exact KL to the training law, greedy OOD R1 rates (:func:`~.languages.rule_rates`) and the
    certified R1 completion probability (:func:`exact.core.completions.completion_probabilities`
    with :data:`EXTRAPOLATION_SETTINGS`).
    """
    dev = resolve_device(device)
    cfg, model, ck = load_model(run_dir, which="best", device=str(dev))
    if cfg.data.language == "anbn":
        raise InputError(f"{run_dir} is an aⁿbⁿ run: evaluate it with evaluate_run")
    settings = _settings(extrapolation)
    task = language_task(cfg.data, cfg.train.prompt_length)
    loss = exact_test_loss(model, task.tests, device=dev)
    comps = greedy_complete(model, task.ood, cfg.train.max_pred_length, device=dev)
    prompts = TokenBatch(task.ood, np.full(len(task.ood), task.ood.shape[1]), model.vocab_size)
    per_seed = []
    for i, seed in enumerate(cfg.train.seeds):
        rates = rule_rates(task, task.ood, comps[i])
        ext = completion_probabilities(TransformerPredictor(model, i), prompts, [task.rule], **settings)
        lo, hi = ext.interval(task.rule.name)
        per_seed.append(
            LanguageSeedEvaluation(
                seed=seed,
                selected_step=int(ck["best_step"][i]),
                exact=_exact(loss, i),
                truncated_mass=task.truncated_mass,
                ood_finished=rates["finished"],
                ood_r1_finished=rates["r1_finished"],
                ood_r1_all=rates["r1_all"],
                n_ood=len(task.ood),
                r1_lower=float(lo.mean()),
                r1_upper=float(hi.mean()),
                unexplored_max=float(ext.unexplored.max(initial=0.0)),
            )
        )
    result = LanguageRunEvaluation(
        run_dir=str(run_dir),
        language=cfg.data.language,
        law=task.language.law,
        variant=cfg.train.variant,
        completion_loss=cfg.train.completion_loss,
        per_seed=tuple(per_seed),
        provenance=provenance(cfg.to_dict()) | {"device": str(dev)},
    )
    if write:
        write_json(Path(run_dir) / "evaluation.json", result.as_dict(), indent=2)
    return result
