"""Seed-batched training on aⁿbⁿ: maximum likelihood, adversarial and oracle (docs/paper.md §5.3–5.4).

:func:`train` trains one model per seed in a single stacked :class:`Transformer`
(every parameter has a leading seed axis; the per-seed losses are summed, and
AdamW/SGD act element-wise, so each seed follows its own trajectory — seed ``s``
trained alone or beside others sees the same initialisation, data and dropout
masks; only the float rounding of batched kernels can differ). A non-finite
loss in any seed stops the run with :class:`DivergedError` (a ValueError). Every ``eval_every`` steps it records, per seed, the exact
test loss and KL to the data (:func:`learned.rule_extrapolation.losses.exact_test_loss`) and the
official greedy OOD metrics (:mod:`learned.rule_extrapolation.protocol`), and keeps each seed's
parameters at its minimal test loss (the official model selection).

Run directory (``out``): ``config.json`` (resolved config + provenance),
``checkpoint.pt`` (everything needed to resume, rewritten atomically every
``checkpoint_every`` steps), ``history.json`` (the rows of :attr:`TrainResult.history`,
:class:`~learned.rule_extrapolation.results.HistoryPoint`) and, at the end, ``model.pt``
(config, final and best parameters, best steps). An interrupted run resumes
from its checkpoint and ends bit-identical to an uninterrupted one on the same
machine (CPU; CUDA kernels are not guaranteed deterministic).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from exact.core.artifacts import provenance, write_json
from exact.core.limits import LimitError
from exact.core.rng import generator, stream_names, torch_seed
from exact.core.validate import InputError, InputTypeError
from learned.nn.device import resolve_device
from learned.nn.model import Transformer
from learned.nn.runs import (
    DivergedError,
    Progress,
    created_dirs,
    deterministic,
    load_state,
    memory_limit,
    on_failure,
    read_run_file,
    save_atomic,
)
from learned.rule_extrapolation.config import RunConfig
from learned.rule_extrapolation.data import PcfgSampler, SentenceSet, extended_prompts, prompt_set, sentence_set
from learned.rule_extrapolation.languages import SetSampler, language_task, rule_rates
from learned.rule_extrapolation.losses import completion_loss, exact_test_loss, lm_loss
from learned.rule_extrapolation.protocol import grammar_metrics, greedy_complete
from learned.rule_extrapolation.results import GrammarMetrics, HistoryPoint

__all__ = ["DivergedError", "TrainResult", "estimate_step_bytes", "load_model", "train"]

#: The named random streams of a run (exact.core.rng); each seed's initialisation uses the seed itself.
RANDOM_STREAMS = stream_names("dropout", "data", "shuffle")


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` did.

    Attributes
    ----------
    run_dir : Path
        The run directory.
    steps : int
        Optimiser steps done (all of ``train.steps`` unless stopped early).
    seconds : float
        Training wall time, over all sessions of a resumed run.
    history : tuple[HistoryPoint, ...]
        One row per evaluation along training (``history.json``).
    """

    run_dir: Path
    steps: int
    seconds: float
    history: tuple[HistoryPoint, ...]


def estimate_step_bytes(cfg: RunConfig) -> int:
    """A lower bound on the memory one training step allocates (checked before anything is allocated).

    Autograd keeps, per seed, layer and sequence, at least the attention pattern
    (``heads·T²`` floats) and the residual, feed-forward and logit activations
    (``T·(6·d_model + d_ff + vocab)``); the optimiser keeps four copies of the parameters.
    The language-model batch is the official sentence set (``n_max`` rows) or ``batch_size``
    PCFG samples of width ``T = 2·n_max + 2``; the completion losses add 251 short rows.
    """
    m, d, tc = cfg.model, cfg.data, cfg.train
    seeds = len(tc.seeds)
    t = d.width
    rows = d.n_max if d.law == "uniform" else d.batch_size
    per_row = m.n_layers * (m.n_heads * t * t + t * (6 * m.d_model + m.d_ff)) + t * m.vocab_size
    ext = 0 if tc.variant == "ml" else 260 * m.n_layers * (m.n_heads * 400 + 20 * (6 * m.d_model + m.d_ff))
    params = m.n_layers * (4 * m.d_model**2 + 2 * m.d_model * m.d_ff) + m.vocab_size * m.d_model
    return 4 * seeds * (rows * per_row + ext + 4 * params)


@dataclass(frozen=True)
class _Data:
    """What one run trains and evaluates on: aⁿbⁿ's official sets, or a library language's."""

    tests: SentenceSet
    ood: np.ndarray
    extended: np.ndarray | None
    sampler: PcfgSampler | SetSampler | None
    #: (OOD prompts, one model's completions) → (R1 over finished, R1 over all prompts, finished)
    rates: Callable[[np.ndarray, np.ndarray], tuple[float, float, float]]


def _official_rates(ood: np.ndarray, comps: np.ndarray) -> tuple[float, float, float]:
    m = GrammarMetrics.from_dict(grammar_metrics(ood, comps))
    return m.finished.r1, m.finished_over_all.r1, m.all.finished


def _data(cfg: RunConfig) -> _Data:
    tc, d = cfg.train, cfg.data
    if d.language == "anbn":
        prompts = prompt_set(d.n_max, tc.prompt_length)
        ext = None if tc.variant == "ml" else extended_prompts(tc.variant, d.n_max, tc.prompt_length)
        sampler = PcfgSampler(d, tc.seeds) if d.law == "pcfg" else None
        return _Data(sentence_set(d), prompts.tokens[prompts.ood], ext, sampler, _official_rates)
    task = language_task(d, tc.prompt_length)

    def rates(ood: np.ndarray, comps: np.ndarray) -> tuple[float, float, float]:
        r = rule_rates(task, ood, comps)
        return r["r1_finished"], r["r1_all"], r["finished"]

    ext = None if tc.variant == "ml" else task.extended(tc.variant)
    return _Data(task.tests, task.ood, ext, SetSampler(task.tests, d.batch_size, tc.seeds), rates)


def _evaluate_point(
    model: Transformer, cfg: RunConfig, data: _Data, device: torch.device, step: int, lr_next: float
) -> HistoryPoint:
    loss = exact_test_loss(model, data.tests, device=device)
    comps = greedy_complete(model, data.ood, cfg.train.max_pred_length, device=device)
    rates = [data.rates(data.ood, comps[i]) for i in range(model.n_models)]
    return HistoryPoint(
        step=step,
        lr_next=lr_next,
        test_loss=tuple(loss.test_loss.tolist()),
        kl_per_token=tuple(loss.kl_per_token.tolist()),
        kl_sequence=tuple(loss.kl_sequence.tolist()),
        ood_r1_finished=tuple(r[0] for r in rates),
        ood_r1_all=tuple(r[1] for r in rates),
        ood_finished=tuple(r[2] for r in rates),
    )


def train(
    cfg: RunConfig,
    out: str | Path,
    *,
    device: str = "cpu",
    resume: bool = True,
    progress: bool = True,
    stop_after: int | None = None,
) -> TrainResult:
    """Train ``len(cfg.train.seeds)`` models together and write the run directory ``out``.

    Parameters
    ----------
    resume : bool
        Continue from ``out/checkpoint.pt`` if present (its config must equal ``cfg``).
    stop_after : int, optional
        Stop (after checkpointing) once this many steps are done — for tests of resumption.
    """
    if not isinstance(cfg, RunConfig):
        raise InputTypeError(f"cfg must be a RunConfig, got {type(cfg).__name__}")
    dev = resolve_device(device)
    need, limit = estimate_step_bytes(cfg), memory_limit(dev)
    if need > limit:
        raise LimitError(
            f"data.n_max={cfg.data.n_max}"
            + (f", data.batch_size={cfg.data.batch_size}" if cfg.data.law == "pcfg" else "")
            + f", model.d_model={cfg.model.d_model}, model.d_ff={cfg.model.d_ff}, model.n_heads={cfg.model.n_heads}, "
            f"model.n_layers={cfg.model.n_layers}, {len(cfg.train.seeds)} seed(s): one training step needs at least "
            f"{need / 2**30:.3g} GiB, above the "
            f"memory limit {limit / 2**30:.3g} GiB (fewer seeds or a smaller model, or raise NONIDENT_MAX_BYTES)"
        )
    if cfg.data.language != "anbn":
        vocab = language_task(cfg.data, cfg.train.prompt_length).language.distribution.vocab_size
        if cfg.model.vocab_size != vocab:
            raise InputError(
                f"model.vocab_size={cfg.model.vocab_size} must be {vocab} for data.language={cfg.data.language!r} "
                "(its terminals, then SOS, EOS, PAD)"
            )
    run_dir = Path(out)
    made = created_dirs(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        with deterministic(dev):
            return _train(cfg, run_dir, dev, resume=resume, progress=progress, stop_after=stop_after)
    except BaseException as exc:
        on_failure(run_dir, made, exc)
        raise


def _train(
    cfg: RunConfig, run_dir: Path, dev: torch.device, *, resume: bool, progress: bool, stop_after: int | None
) -> TrainResult:
    ckpt_path = run_dir / "checkpoint.pt"
    tc, seeds = cfg.train, cfg.train.seeds
    S = len(seeds)

    model = Transformer(cfg.model, seeds).to(dev)
    params = list(model.parameters())
    if tc.optimizer == "adamw":
        opt: torch.optim.Optimizer = torch.optim.AdamW(params, lr=tc.lr, weight_decay=tc.decay)
    else:
        opt = torch.optim.SGD(params, lr=tc.lr, weight_decay=tc.decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, tc.lr_factor)
    drop_gens = [torch.Generator(device=dev).manual_seed(torch_seed(s, "dropout")) for s in seeds]
    data = _data(cfg)
    sampler = data.sampler
    # With the official batch-row "positions" the row order carries information: shuffle the
    # training set every step (the official train DataLoader has shuffle=True), one generator per seed.
    shufflers = (
        [generator(int(s), "shuffle") for s in seeds]
        if cfg.model.positions == "batch-row" and sampler is None
        else None
    )

    uniform_batch = torch.as_tensor(data.tests.tokens, device=dev)
    ext = None if data.extended is None else torch.as_tensor(data.extended, device=dev)
    ignore_pad = cfg.data.pad_targets == "ignore"

    step, elapsed0 = 0, 0.0
    history: list[HistoryPoint] = []
    best_loss = np.full(S, np.inf)
    best_step = np.zeros(S, dtype=np.int64)
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if resume and ckpt_path.exists():
        ck = read_run_file(ckpt_path, "checkpoint")
        if ck["config"] != cfg.to_dict():
            raise InputError(
                f"{ckpt_path} was written by a different config: use another run directory "
                "(--out, or --runs for reproduce) or restart (--restart)"
            )
        if ck.get("device_type", "cpu") != dev.type:
            raise InputError(
                f"{ckpt_path} was written on device {ck.get('device_type')!r}; resume it with "
                f"--device {ck.get('device_type')} (got {dev.type!r})"
            )
        load_state(model, ck.get("model"), f"{ckpt_path} does not hold this model's parameters")
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        for g, st in zip(drop_gens, ck["dropout_rng"], strict=True):
            g.set_state(st.to("cpu") if st.device.type != "cpu" else st)
        if sampler is not None:
            sampler.set_state(ck["data_rng"])
        for rng, st in zip(shufflers or [], ck.get("shuffle_rng") or [], strict=True):
            rng.bit_generator.state = st
        step, elapsed0 = ck["step"], float(ck.get("seconds", 0.0))
        history = [HistoryPoint.from_dict(h, at=f"{ckpt_path} history[{j}]") for j, h in enumerate(ck["history"])]
        best_loss, best_step, best_state = np.asarray(ck["best_loss"]), np.asarray(ck["best_step"]), ck["best_state"]
    else:
        for stale in ("checkpoint.pt", "model.pt", "evaluation.json", "history.json"):  # of an earlier run
            (run_dir / stale).unlink(missing_ok=True)
        prov = provenance(cfg.to_dict(), seed=None, streams=RANDOM_STREAMS) | {"seeds": list(seeds), "device": str(dev)}
        write_json(run_dir / "config.json", prov, indent=2)

    def checkpoint() -> None:
        save_atomic(
            ckpt_path,
            {
                "config": cfg.to_dict(),
                "step": step,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "dropout_rng": [g.get_state() for g in drop_gens],
                "device_type": dev.type,
                "shuffle_rng": [r.bit_generator.state for r in shufflers] if shufflers else None,
                "data_rng": sampler.state() if sampler is not None else None,
                "history": [h.as_dict() for h in history],
                "best_loss": best_loss.tolist(),
                "best_step": best_step.tolist(),
                "best_state": best_state,
                "seconds": elapsed0 + time.monotonic() - t0,
            },
        )

    def evaluate_now() -> None:
        model.eval()
        point = _evaluate_point(model, cfg, data, dev, step, opt.param_groups[0]["lr"])
        history.append(point)
        # Selection: minimal exact test loss (official); with PAD targets ignored in training, the
        # PAD→PAD predictions are untrained, so select on the sentence KL instead.
        score = np.asarray(point.kl_sequence if ignore_pad else point.test_loss)
        better = score < best_loss
        for name, value in model.state_dict().items():
            for i in np.flatnonzero(better):
                best_state[name][i] = value[i]
        best_loss[better] = score[better]
        best_step[better] = step
        write_json(run_dir / "history.json", [h.as_dict() for h in history], indent=1)
        model.train()

    t0 = time.monotonic()
    bar = Progress(f"{tc.variant} seeds {','.join(map(str, seeds))}", tc.steps, progress)
    model.train()
    if step == 0 and not history:
        evaluate_now()
    last_loss = torch.zeros(S)
    while step < tc.steps:
        if stop_after is not None and step >= stop_after:
            break
        if sampler is not None:
            batch = torch.as_tensor(sampler.draw(), device=dev)
        elif shufflers is not None:
            perms = torch.as_tensor(np.stack([r.permutation(len(uniform_batch)) for r in shufflers]), device=dev)
            batch = uniform_batch[perms]  # (S, N, W): each seed its own row order
        else:
            batch = uniform_batch
        per_model = lm_loss(model(batch[..., :-1], dropout=drop_gens), batch, ignore_pad=ignore_pad)
        if ext is not None:
            per_model = per_model + completion_loss(
                model(ext[:, :-1], dropout=drop_gens),
                ext,
                prompt_length=data.ood.shape[1] - 1,  # prompt symbols (a Dyck prompt has k + 2)
                official=tc.completion_loss == "official",
                ignore_pad=ignore_pad,
            )
        opt.zero_grad(set_to_none=True)
        per_model.sum().backward()
        opt.step()
        sched.step()
        step += 1
        last_loss = per_model.detach().cpu()
        if not torch.all(torch.isfinite(last_loss)):
            raise DivergedError(
                f"training loss became non-finite at step {step} (per seed {last_loss.tolist()}); lower train.lr"
            )
        bar.update(step, float(last_loss.mean()))
        if step % tc.eval_every == 0 or step == tc.steps:
            evaluate_now()
        if step % tc.checkpoint_every == 0 or step == tc.steps:
            checkpoint()
    if stop_after is not None and step < tc.steps:
        checkpoint()
    bar.update(step, float(last_loss.mean()), force=True)
    bar.close()
    if step == tc.steps:
        save_atomic(
            run_dir / "model.pt",
            {
                "config": cfg.to_dict(),
                "seeds": list(seeds),
                "final_state": model.state_dict(),
                "best_state": best_state,
                "best_step": best_step.tolist(),
                "best_loss": best_loss.tolist(),
                "seconds": elapsed0 + time.monotonic() - t0,
            },
        )
    return TrainResult(run_dir, step, elapsed0 + time.monotonic() - t0, tuple(history))


def load_model(
    run_dir: str | Path, *, which: str = "best", device: str = "cpu"
) -> tuple[RunConfig, Transformer, dict[str, Any]]:
    """The stacked model of a finished run (``which`` = "best" or "final"), its config and metadata."""
    path = Path(run_dir) / "model.pt"
    if which not in ("best", "final"):
        raise InputError(f"which must be 'best' or 'final', got {which!r}")
    if not path.exists():
        raise InputError(f"{run_dir} has no model.pt (not a finished nonident run; resume it with nonident train)")
    dev = resolve_device(device)
    ck = read_run_file(path, "model")
    cfg = RunConfig.from_dict(ck["config"])
    model = Transformer(cfg.model, cfg.train.seeds)
    load_state(model, ck.get(f"{which}_state"), f"{path} does not hold the {which} parameters of its config")
    model.to(dev)
    model.eval()
    return cfg, model, ck
