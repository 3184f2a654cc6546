"""``nonident reproduce finetunability``: case study 3 end to end (docs/finetunability.md).

1. **Pretrain** (seed-batched, resumable, under ``runs/finetunability-PRESET/``): maximum
   likelihood on aⁿbⁿ with ``finetune.seeds``, and the adversarial and oracle arms (corrected
   completion loss) with ``finetune.arm_seeds`` — the rule-extrapolation models, at equal
   exact pretraining loss.
2. **Reparametrise** the maximum-likelihood models (:mod:`~learned.finetunability.transforms`)
   and **prove** each equal to the original on every sequence (:mod:`~learned.finetunability.equality`);
   the random growths are the negative controls.
3. **Fine-tune** every parametrisation and arm with SGD and with AdamW on the same data,
   steps and seeds (:mod:`~learned.finetunability.finetune`); models of one shape train stacked.
4. **Report**: ``finetunability.{md,json,png}`` and ``finetunability-models.pt`` (the pretrained
   and the fine-tuned parameters, from which the claims recompute their numbers), written as
   one report set.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from exact.core.artifacts import DEFAULT_REPORT_DIR, check_writable_dir, provenance, write_experiment_report
from exact.core.limits import LimitError, max_bytes
from learned.finetunability.config import OPTIMIZERS, FinetuneConfig, finetune_preset
from learned.finetunability.equality import function_distance, prove_equal
from learned.finetunability.finetune import FinetuneTrace, finetune, stack
from learned.finetunability.probe import probe_data
from learned.finetunability.report import figure, render_markdown
from learned.finetunability.results import Curve, Difference, FinetunabilityReport, paired_difference
from learned.finetunability.transforms import deepen, grow_randomly, permute, rescale_relu, widen
from learned.nn.device import resolve_device
from learned.nn.model import Transformer
from learned.rule_extrapolation.config import RunConfig, apply_overrides, preset
from learned.rule_extrapolation.data import sentence_set
from learned.rule_extrapolation.losses import exact_test_loss
from learned.rule_extrapolation.train import estimate_step_bytes, load_model, train

__all__ = ["ARMS", "REPORT_STEM", "parametrisations", "render_markdown", "reproduce_finetunability"]

REPORT_STEM = "finetunability"
#: The arms of equal pretraining loss (the rule-extrapolation variants; corrected completion loss).
ARMS = {"adversarial": ("adversarial", "corrected"), "oracle": ("oracle", "corrected")}
METRICS = ("kl_per_token", "r1_after", "probe_before", "probe_after")


def _sub(model: Transformer, members: list[int]) -> Transformer:
    return stack([model.member(i) for i in members])


def _rescale(model: Transformer, *, alpha: float) -> Transformer:
    return rescale_relu(model, alpha)


def parametrisations(
    cfg: FinetuneConfig, norm_first: bool
) -> dict[str, tuple[Callable[[Transformer], Transformer], dict]]:
    """name → (function-preserving transformation, its parameters); ``original`` is the identity."""
    out: dict[str, tuple[Callable[[Transformer], Transformer], dict]] = {
        "original": (lambda m: m, {}),
        f"widen-{cfg.widen_factor}": (lambda m: widen(m, cfg.widen_factor), {"factor": cfg.widen_factor}),
    }
    if norm_first:  # deepen is exact only for pre-LN (docs/finetunability.md)
        out[f"deepen-{cfg.deepen_blocks}"] = (
            lambda m: deepen(m, cfg.deepen_blocks, seed=cfg.permute_seed),
            {"blocks": cfg.deepen_blocks, "seed": cfg.permute_seed},
        )
    for a in cfg.alphas:
        out[f"relu-{a:g}"] = (functools.partial(_rescale, alpha=a), {"alpha": a})
    out["permute"] = (lambda m: permute(m, cfg.permute_seed), {"seed": cfg.permute_seed})
    return out


def _check_memory(cfg: FinetuneConfig, base: RunConfig) -> None:
    """Refuse, before any training, a fine-tuning step above the memory limit (:func:`estimate_step_bytes`).

    The largest steps: every same-shape parametrisation and arm stacked, and the widened models;
    float64 doubles each. The pretraining runs check their own steps in :func:`train`.
    """
    n_same = len([n for n in parametrisations(cfg, base.model.norm_first) if not n.startswith(("widen", "deepen"))])
    members = n_same * len(cfg.seeds) + len(ARMS) * len(cfg.arm_seeds)
    m = cfg.widen_factor
    wide = {
        "model.d_model": base.model.d_model * m,
        "model.n_heads": base.model.n_heads * m,
        "model.d_ff": base.model.d_ff * m,
        "model.pe_repeat": base.model.pe_repeat * m,
    }
    scale = 2 if cfg.dtype == "float64" else 1
    for over, count, what in (({}, members, f"{members} stacked models"), (wide, len(cfg.seeds), f"the ×{m} widened")):
        one = apply_overrides(base, {"data.n_max": cfg.n_max, "train.seeds": (0,), "train.variant": "ml", **over})
        need, limit = scale * count * estimate_step_bytes(one), max_bytes()  # linear in the models
        if need > limit:
            raise LimitError(
                f"finetune.n_max={cfg.n_max}, {len(cfg.seeds)} seeds ({what}), finetune.dtype={cfg.dtype}: one "
                f"fine-tuning step needs at least {need / 2**30:.3g} GiB, above the memory limit {limit / 2**30:.3g} "
                "GiB (fewer seeds or parametrisations, a shorter finetune.n_max, or raise NONIDENT_MAX_BYTES)"
            )


def _pretrain(
    cfg: FinetuneConfig, base: RunConfig, runs: Path, device: str, progress: bool
) -> tuple[Transformer, dict[str, Transformer], float, dict[str, RunConfig]]:
    ml_job = apply_overrides(base, {"train.eval_every": cfg.pretrain_eval_every, "train.seeds": cfg.seeds})
    jobs = {"ml": ml_job}
    for arm, (variant, loss) in ARMS.items():
        change: dict[str, object] = {
            "train.variant": variant,
            "train.completion_loss": loss,
            "train.seeds": cfg.arm_seeds,
        }
        jobs[arm] = apply_overrides(ml_job, change)
    seconds, models = 0.0, {}
    for name, run_cfg in jobs.items():
        seconds += train(run_cfg, runs / f"pretrain-{name}", device=device, progress=progress).seconds
        models[name] = load_model(runs / f"pretrain-{name}", device=device)[1]
    ml = models.pop("ml")
    return ml, models, seconds, jobs


def _curves(trace: FinetuneTrace, groups: dict[str, tuple[list[int], tuple[int, ...]]], optimizer: str) -> list[Curve]:
    out = []
    for name, (rows, seeds) in groups.items():
        pick = np.asarray(rows)
        out.append(
            Curve(
                name=name,
                optimizer=optimizer,
                seeds=seeds,
                steps=trace.steps,
                kl_per_token=tuple(tuple(r) for r in trace.kl_per_token[:, pick].tolist()),
                r1_before=tuple(trace.before.r1_finished[pick].tolist()),
                r1_after=tuple(trace.after.r1_finished[pick].tolist()),
                finished_after=tuple(trace.after.finished[pick].tolist()),
                probe_before=tuple(trace.before.probe_accuracy[pick].tolist()),
                probe_after=tuple(trace.after.probe_accuracy[pick].tolist()),
            )
        )
    return out


def _metric(c: Curve, metric: str) -> tuple[float, ...]:
    return c.kl_after if metric == "kl_per_token" else getattr(c, metric)


def _state(model: Transformer) -> dict[str, Any]:
    return {
        "model_config": dataclasses.asdict(model.cfg),
        "seeds": list(model.seeds),
        "state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }


def reproduce_finetunability(
    preset_name: str = "cpu",
    *,
    runs: str | Path = "runs",
    reports: str | Path = DEFAULT_REPORT_DIR,
    device: str = "cpu",
    progress: bool = True,
    overrides: dict[str, object] | None = None,
) -> FinetunabilityReport:
    """Pretrain, reparametrise, prove, fine-tune and report (see the module docstring).

    ``overrides``: ``finetune.KEY`` fields of :class:`FinetuneConfig`; ``model.``/``data.``/``train.``
    fields of the pretraining runs.
    """
    over = dict(overrides or {})
    ft_over = {k.partition(".")[2]: v for k, v in over.items() if k.startswith("finetune.")}
    cfg = finetune_preset(preset_name, ft_over)
    base = preset(cfg.pretrain_preset, **{k: v for k, v in over.items() if not k.startswith("finetune.")})
    dev = resolve_device(device)
    _check_memory(cfg, base)
    check_writable_dir(runs, "runs")
    out = check_writable_dir(reports, "reports")
    t0 = time.monotonic()
    ml, arms, pre_seconds, jobs = _pretrain(cfg, base, Path(runs) / f"finetunability-{preset_name}", device, progress)
    arm_rows = [cfg.seeds.index(s) for s in cfg.arm_seeds]
    pre_law = sentence_set(base.data)
    pretrain_kl = {"ml": tuple(exact_test_loss(ml, pre_law, device=dev).kl_per_token[arm_rows].tolist())}
    for arm, m in arms.items():
        pretrain_kl[arm] = tuple(exact_test_loss(m, pre_law, device=dev).kl_per_token.tolist())

    params = parametrisations(cfg, base.model.norm_first)
    proofs = tuple(
        prove_equal(ml, fn, length=cfg.proof_length, name=name, parameters=kw)
        for name, (fn, kw) in params.items()
        if name != "original"
    )
    kinds = ("widen", "deepen") if base.model.norm_first else ("widen",)
    controls = tuple(
        prove_equal(
            ml,
            functools.partial(grow_randomly, kind=k, seed=cfg.permute_seed),
            length=cfg.proof_length,
            name=f"random-{k}",
            parameters={"kind": k},
        )
        for k in kinds
    )

    probe = probe_data(cfg.probe_length, cfg.probe_seed)
    dtype = getattr(torch, cfg.dtype)  # fine-tuning precision: float64 keeps the rounding drift ~1e-16 (docs)
    ml_ft = copy.deepcopy(ml).to(dtype)
    arms_ft = {a: copy.deepcopy(m).to(dtype) for a, m in arms.items()}
    S, n_arm = len(cfg.seeds), len(cfg.arm_seeds)
    same = [n for n in params if not n.startswith(("widen", "deepen"))]
    curves: list[Curve] = []
    finetuned: dict[str, dict[str, Any]] = {}
    for optimizer in OPTIMIZERS:
        models = [params[n][0](ml_ft) for n in same] + [arms_ft[a] for a in ARMS]
        trace = finetune(stack(models), cfg, optimizer, probe)
        groups = {n: (list(range(i * S, (i + 1) * S)), cfg.seeds) for i, n in enumerate(same)}
        k = len(same) * S
        for j, a in enumerate(ARMS):
            groups[a] = (list(range(k + j * n_arm, k + (j + 1) * n_arm)), cfg.arm_seeds)
        found = _curves(trace, groups, optimizer)
        tuned = {n: _sub(trace.model, rows) for n, (rows, _) in groups.items()}
        for n in params:
            if n.startswith(("widen", "deepen")):
                tr = finetune(params[n][0](ml_ft), cfg, optimizer, probe)
                found += _curves(tr, {n: (list(range(S)), cfg.seeds)}, optimizer)
                tuned[n] = tr.model
        for c in found:  # how far each fine-tuned parametrisation ends from the fine-tuned original
            if c.name in params and c.name != "original":
                dist = function_distance(tuned["original"], tuned[c.name], length=cfg.proof_length)
                c = dataclasses.replace(c, function_kl=dist.kl, function_logit_diff=dist.max_logit_diff)
            curves.append(c)
        saved = ("original", f"widen-{cfg.widen_factor}", "permute")
        finetuned[optimizer] = {n: _state(tuned[n]) for n in saved}

    report_curves = tuple(curves)
    by = {(c.name, c.optimizer): c for c in report_curves}
    diffs: list[Difference] = []
    for optimizer in OPTIMIZERS:
        ref = by[("original", optimizer)]
        for n in params:
            if n != "original":
                diffs += [
                    paired_difference(n, optimizer, m, _metric(by[(n, optimizer)], m), _metric(ref, m)) for m in METRICS
                ]
        ref_arm = {m: tuple(np.asarray(_metric(ref, m))[arm_rows].tolist()) for m in METRICS}
        for a in ARMS:
            diffs += [paired_difference(a, optimizer, m, _metric(by[(a, optimizer)], m), ref_arm[m]) for m in METRICS]

    models_doc = {
        "finetune_config": cfg.to_dict(),
        "pretrain": {n: j.to_dict() for n, j in jobs.items()},
        "pretrained": {"ml": _state(ml)},
        "finetuned": finetuned,
    }
    buf = io.BytesIO()
    torch.save(models_doc, buf)
    doc = FinetunabilityReport(
        preset=preset_name,
        config=cfg.to_dict(),
        pretrain_config=jobs["ml"].to_dict(),
        device=str(dev),
        seconds=time.monotonic() - t0,
        pretrain_seconds=pre_seconds,
        pretrain_kl=pretrain_kl,
        proofs=proofs,
        controls=controls,
        curves=report_curves,
        differences=tuple(diffs),
        provenance=provenance(cfg.to_dict()),
        models_sha256=hashlib.sha256(buf.getvalue()).hexdigest(),
    )
    write_experiment_report(
        out,
        REPORT_STEM,
        models=buf.getvalue(),
        figure=figure(doc),
        document=doc.as_dict(),
        markdown=render_markdown(doc),
    )
    return doc
