"""Fine-tuning stacked models on a downstream language with an exact ground truth (case study 3).

:func:`finetune` trains every model of a stacked :class:`~learned.nn.model.Transformer`
on aⁿbⁿ with a longer length range (``FinetuneConfig.n_max``), full-batch — every
model sees the same batch at every step, so the data order is identical by
construction — with SGD or AdamW at a constant learning rate and no dropout. It
records, every ``eval_every`` steps, each model's exact KL per target to the new
language (:func:`learned.rule_extrapolation.losses.exact_test_loss`, every
sentence with its exact probability), and at the start and the end the greedy
OOD rule accuracy (R1, the official protocol) and the linear probe
(:mod:`learned.finetunability.probe`).

:func:`stack` joins models of one shape into one stacked model, so every
parametrisation of a shape trains in one batched computation (each model's
gradient is that of its own loss; SGD and AdamW act element-wise).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from exact.core.validate import InputError
from learned.finetunability.config import FinetuneConfig
from learned.finetunability.probe import ProbeData, linear_probe
from learned.nn.model import Transformer
from learned.rule_extrapolation.config import DataConfig
from learned.rule_extrapolation.data import prompt_set, sentence_set
from learned.rule_extrapolation.losses import exact_test_loss, lm_loss
from learned.rule_extrapolation.protocol import grammar_metrics, greedy_complete
from learned.rule_extrapolation.train import DivergedError

__all__ = ["Downstream", "FinetuneTrace", "downstream", "finetune", "stack"]


def stack(models: Sequence[Transformer]) -> Transformer:
    """One stacked model holding every model of ``models`` (same config), in order."""
    if not models:
        raise InputError("stack needs at least one model")
    cfg = models[0].cfg
    if any(m.cfg != cfg for m in models):
        raise InputError("stack needs models of one config (shape)")
    seeds = tuple(s for m in models for s in m.seeds)
    out = Transformer(cfg, seeds).to(device=models[0].embed.device, dtype=models[0].embed.dtype)
    with torch.no_grad():
        for name, p in out.named_parameters():
            p.copy_(torch.cat([dict(m.named_parameters())[name] for m in models]))
    return out


def _clip_per_model(params: Sequence[torch.Tensor], max_norm: float) -> None:
    """Scale each stacked model's gradient to norm ≤ ``max_norm`` (its own norm: models stay independent).

    The norm is invariant under permutations of heads and units, so clipping keeps SGD and AdamW
    equivariant under :func:`~learned.finetunability.transforms.permute`.
    """
    with torch.no_grad():
        grads = [p.grad for p in params if p.grad is not None]
        sq = torch.stack([g.pow(2).flatten(1).sum(1) for g in grads]).sum(0)  # (S,)
        scale = (max_norm / (sq.sqrt() + 1e-12)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.reshape(-1, *([1] * (g.dim() - 1))))


@dataclass(frozen=True)
class Downstream:
    """The downstream scores of every stacked model at one point."""

    kl_per_token: NDArray[np.float64]
    r1_finished: NDArray[np.float64]
    finished: NDArray[np.float64]
    probe_accuracy: NDArray[np.float64]


def downstream(model: Transformer, cfg: FinetuneConfig, probe: ProbeData, optimizer: str) -> Downstream:
    """Exact KL to the downstream language, greedy OOD R1 and the probe's accuracy, per stacked model."""
    dev = model.embed.device
    was_training = model.training
    model.eval()
    loss = exact_test_loss(model, sentence_set(DataConfig(n_max=cfg.n_max)), device=dev)
    prompts = prompt_set(cfg.n_max, cfg.prompt_length)
    comps = greedy_complete(model, prompts.tokens[prompts.ood], cfg.max_pred_length, device=dev)
    metrics = [grammar_metrics(prompts.tokens[prompts.ood], comps[i]) for i in range(model.n_models)]
    pr = linear_probe(
        model,
        probe,
        optimizer=optimizer,
        lr=cfg.probe_lr(optimizer),
        steps=cfg.probe_steps,
        weight_decay=cfg.weight_decay,
    )
    model.train(was_training)
    return Downstream(
        loss.kl_per_token,
        np.array([m["finished"]["r1"] for m in metrics]),
        np.array([m["all"]["finished"] for m in metrics]),
        pr.accuracy,
    )


@dataclass(frozen=True)
class FinetuneTrace:
    """What fine-tuning did to every stacked model."""

    steps: tuple[int, ...]
    kl_per_token: NDArray[np.float64]  # (evaluations, S)
    before: Downstream
    after: Downstream
    model: Transformer


def finetune(model: Transformer, cfg: FinetuneConfig, optimizer: str, probe: ProbeData) -> FinetuneTrace:
    """Fine-tune a copy of ``model`` (every stacked model alike) and score it before and after."""
    if optimizer not in ("sgd", "adamw"):
        raise InputError(f"optimizer must be 'sgd' or 'adamw', got {optimizer!r}")
    model = copy.deepcopy(model)
    dev = model.embed.device
    data = sentence_set(DataConfig(n_max=cfg.n_max))
    batch = torch.as_tensor(data.tokens, device=dev)
    params = list(model.parameters())
    opt: torch.optim.Optimizer = (
        torch.optim.SGD(params, lr=cfg.sgd_lr)
        if optimizer == "sgd"
        else torch.optim.AdamW(params, lr=cfg.adamw_lr, weight_decay=cfg.weight_decay)
    )
    before = downstream(model, cfg, probe, optimizer)
    steps, curve = [0], [before.kl_per_token]
    model.train()
    for step in range(1, cfg.steps + 1):
        loss = lm_loss(model(batch[..., :-1]), batch, ignore_pad=False)  # no dropout generators: none
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        if cfg.clip_norm > 0:
            _clip_per_model(params, cfg.clip_norm)
        opt.step()
        if not bool(torch.all(torch.isfinite(loss.detach()))):
            raise DivergedError(f"fine-tuning loss became non-finite at step {step} ({optimizer}); lower its lr")
        if step % cfg.eval_every == 0 and step != cfg.steps:
            model.eval()
            steps.append(step)
            curve.append(exact_test_loss(model, data, device=dev).kl_per_token)
            model.train()
    after = downstream(model, cfg, probe, optimizer)
    steps.append(cfg.steps)
    curve.append(after.kl_per_token)
    model.eval()
    return FinetuneTrace(tuple(steps), np.stack(curve), before, after, model)
