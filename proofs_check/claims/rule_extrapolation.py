"""Experiment E1: trained transformers at the same exact loss extrapolate R1 differently.

The numbers are *recomputed* here from the selected parameters that
``nonident reproduce rule-extrapolation`` saved (``rule-extrapolation-models.pt`` in the
artifacts directory that ``nonident check --artifacts`` names, ``reports`` by default):
the exact KL to the data over every sentence, the official greedy OOD R1
accuracy, and the certified probability of an R1 completion. They must match
the committed report (``reports/rule-extrapolation.json``, read strictly as a
:class:`~learned.rule_extrapolation.results.ReproductionReport`), put every seed of
every variant within :data:`TOLERANCE` nats/token of the exact floor, and
separate the variants: adversarial < maximum likelihood < oracle with the
corrected completion loss, seed by seed (greedy and certified), and the
official oracle loss (first completion token unsupervised) < the corrected one;
every model must finish at least :data:`MIN_FINISHED` of its greedy completions,
since greedy R1 is scored on finished ones.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import torch

from exact.core.artifacts import read_json
from learned.nn.model import Transformer
from learned.rule_extrapolation.config import RunConfig
from learned.rule_extrapolation.evaluate import evaluate_model
from learned.rule_extrapolation.reproduce import ARMS
from learned.rule_extrapolation.results import ReproductionReport, SeedEvaluation
from proofs_check.registry import Check, Control, Outcome, claim

#: "Equal test loss": every model within this many nats per target of the exact floor.
TOLERANCE = 1e-3
#: Greedy R1 is scored on finished completions; every model must finish at least this fraction.
MIN_FINISHED = 0.8


def _load(artifacts: Path) -> tuple[dict[str, Any], ReproductionReport, str]:
    models, report = artifacts / "rule-extrapolation-models.pt", artifacts / "rule-extrapolation.json"
    if not (models.exists() and report.exists()):
        raise FileNotFoundError(
            f"{models.name} / {report.name} missing in {artifacts}: run "
            "`nonident reproduce rule-extrapolation --preset cpu`"
        )
    data = models.read_bytes()
    # weights_only: the file holds tensors, numbers and strings; unpickling runs no code
    return (
        torch.load(io.BytesIO(data), weights_only=True),
        ReproductionReport.from_dict(read_json(report, "rule-extrapolation report"), at=str(report)),
        hashlib.sha256(data).hexdigest(),
    )


def _measure(entry: dict[str, Any], state: dict[str, torch.Tensor]) -> list[SeedEvaluation]:
    cfg = RunConfig.from_dict(entry["config"])
    model = Transformer(cfg.model, cfg.train.seeds)
    model.load_state_dict(state)
    model.eval()
    return evaluate_model(cfg, model)  # what `nonident evaluate` computes


def _below(low: list[float], high: list[float]) -> bool:
    """Every value of ``low`` is below every value of ``high`` (per-seed separation)."""
    return max(low) < min(high)


def _equal_loss(measured: dict[str, list[SeedEvaluation]]) -> Check:
    kl = {v: [r.exact.kl_per_token for r in rows] for v, rows in measured.items()}
    worst = max(max(x) for x in kl.values())
    return Check.numeric(
        0 <= min(min(x) for x in kl.values()) and worst <= TOLERANCE,
        {"exact KL per token, per seed": kl, "largest": worst, "tolerance": TOLERANCE},
    )


def _differs(measured: dict[str, list[SeedEvaluation]]) -> Check:
    r1 = {v: [r.ood.finished.r1 for r in rows] for v, rows in measured.items()}
    lo = {v: [r.extrapolation.r1_lower for r in rows] for v, rows in measured.items()}
    hi = {v: [r.extrapolation.r1_upper for r in rows] for v, rows in measured.items()}
    greedy = Check.numeric(
        _below(r1["adversarial"] + r1["adversarial-corrected"], r1["ml"])
        and _below(r1["ml"], r1["oracle-corrected"])
        and _below(r1["oracle"], r1["oracle-corrected"]),
        {"OOD R1 (finished), per seed": r1},
    )
    certified = Check.numeric(
        _below(hi["adversarial"] + hi["adversarial-corrected"], lo["ml"]) and _below(hi["ml"], lo["oracle-corrected"]),
        {v: {"lower": lo[v], "upper": hi[v]} for v in measured},
    )
    # R1 over finished completions only is vacuous for a model that rarely finishes: require most to.
    fin = {v: [r.ood.all.finished for r in rows] for v, rows in measured.items()}
    finishing = Check.numeric(
        min(min(x) for x in fin.values()) >= MIN_FINISHED,
        {"OOD finished fraction, per seed": fin, "minimum required": MIN_FINISHED},
    )
    return Check.all_of(
        {"greedy R1 (official protocol)": greedy, "certified P(R1)": certified, "most completions finish": finishing}
    )


def _provenance(
    models: dict[str, Any], report: ReproductionReport, digest: str, measured: dict[str, list[SeedEvaluation]]
) -> Check:
    """The saved models are the report's (hash), carry the labels they claim, and reproduce its numbers."""
    labels = {
        v: (models[v]["config"]["train"]["variant"], models[v]["config"]["train"]["completion_loss"]) for v in models
    }
    shared = {json.dumps({k: models[v]["config"][k] for k in ("model", "data")}, sort_keys=True) for v in models}
    # Float32 kernels may round differently on another CPU: KL to 1e-8 nats/target, and at
    # most a couple of greedy completions may flip.
    dkl, dr1 = [], []
    for v, rows in measured.items():
        committed = report.variants[v].evaluation.per_seed
        for a, r in zip(rows, committed, strict=True):
            dkl.append(abs(a.exact.kl_per_token - r.exact.kl_per_token))
            dr1.append(abs(a.ood.finished.r1 - r.ood.finished.r1))
    ok = (
        digest == report.models_sha256
        and labels == {v: tuple(a) for v, a in ARMS.items()}
        and len(shared) == 1
        and max(dkl) <= 1e-8
        and max(dr1) <= 0.01
    )
    return Check.numeric(
        ok,
        {
            "sha256 matches the report": digest == report.models_sha256,
            "labels": labels,
            "one model/data config": len(shared) == 1,
            "largest KL difference to the report": max(dkl),
            "largest R1 difference to the report": max(dr1),
        },
    )


def _perturbed(state: dict[str, torch.Tensor], scale: float) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {k: v + scale * torch.randn(v.shape, generator=gen) for k, v in state.items()}


@claim(
    id="E1-rule-extrapolation",
    title="Trained transformers: the same exact loss, different rule extrapolation",
    statement=(
        f"Transformers trained on aⁿbⁿ by maximum likelihood, adversarially and with the oracle completion "
        f"loss (official and corrected) all come within {TOLERANCE} nats/target of the exact loss floor "
        "(the exact KL(p‖q_θ)), yet extrapolate R1 (#a = #b) on the 251 OOD prompts differently: every "
        "adversarial seed below every maximum-likelihood seed, every maximum-likelihood seed below every "
        "corrected-oracle seed (greedy official protocol and certified exact probability), and every "
        "official-oracle seed below every corrected-oracle seed (the official loss never supervises the "
        "first completion token); every model finishes at least 80 % of its greedy OOD completions."
    ),
    method=(
        "recomputed from the selected parameters in reports/rule-extrapolation-models.pt (written by "
        "`nonident reproduce rule-extrapolation`): exact KL over every sentence, greedy 300-token completions "
        "scored on finished outputs, certified completion-tree intervals; the file's sha256, its arm labels "
        "and the recomputed numbers must match reports/rule-extrapolation.json"
    ),
    source="docs/paper.md §4.2 (F1 empirical support), §5 E1, §6.1",
    needs=("torch", "artifacts"),
)
def check_rule_extrapolation(*, artifacts: Path) -> Outcome:
    models, report, digest = _load(artifacts)
    measured = {v: _measure(e, e["best_state"]) for v, e in models.items()}
    perturbed = dict(measured)
    perturbed["ml"] = _measure(models["ml"], _perturbed(models["ml"]["best_state"], 0.05))
    swapped = dict(measured)
    swapped["ml"], swapped["adversarial"] = measured["adversarial"], measured["ml"]
    misfiled, misfiled_measured = dict(models), dict(measured)
    misfiled["ml"], misfiled_measured["ml"] = models["adversarial"], measured["adversarial"]
    return Outcome(
        check=Check.all_of(
            {
                "equal loss": _equal_loss(measured),
                "extrapolation differs": _differs(measured),
                "models are the report's": _provenance(models, report, digest, measured),
            }
        ),
        controls=(
            Control(
                "the maximum-likelihood models with N(0, 0.05²) noise on every parameter: the equal-loss "
                "check alone must reject them",
                _equal_loss(perturbed),
            ),
            Control(
                "maximum-likelihood and adversarial labels swapped (a difference in the wrong direction): "
                "the difference check alone must reject it",
                _differs(swapped),
            ),
            Control(
                "the adversarial models filed under the maximum-likelihood label: the provenance check "
                "alone must reject them",
                _provenance(misfiled, report, digest, misfiled_measured),
            ),
        ),
    )
