"""Seed-batched maximum-likelihood training on documents of a GINC mixture (docs/icl.md).

:func:`train` trains one model per seed in a single stacked :class:`~learned.nn.model.Transformer`
(the per-seed mean cross-entropies are summed; AdamW and the per-seed gradient clipping act on
each seed's slice alone, so every seed follows its own trajectory). Each step's documents are
a pure function of (seed, step) (:func:`learned.icl.data.training_batch`). Every
``train.eval_every`` steps the history records each seed's exact KL to the Bayes predictive on
the first ``train.n_val_docs`` held-out documents.

Run directory: ``config.json`` (resolved config + provenance), ``checkpoint.pt`` (rewritten
atomically every ``train.checkpoint_every`` steps: parameters, optimiser, scheduler, dropout
generators, history, wall time), ``history.json`` and at the end ``model.pt``. A killed run
resumes from its checkpoint and ends bit-identical to an uninterrupted one on the CPU.
A run that fails before its first checkpoint leaves no directory behind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from exact.core.artifacts import provenance, write_json
from exact.core.limits import LimitError
from exact.core.rng import stream_names, torch_seed
from exact.core.tokens import TokenBatch
from exact.core.validate import InputError, InputTypeError
from exact.hmm.ginc import generate_ginc
from exact.hmm.mixture import HMMMixture
from exact.hmm.positions import bayes_per_position
from learned.icl.config import IclConfig
from learned.icl.data import heldout_documents, training_batch
from learned.icl.evaluate import document_metrics
from learned.icl.results import HistoryPoint
from learned.nn.device import resolve_device
from learned.nn.model import Transformer
from learned.nn.runs import (
    DivergedError,
    Progress,
    created_dirs,
    load_state,
    memory_limit,
    on_failure,
    read_run_file,
    save_atomic,
)

__all__ = ["RANDOM_STREAMS", "TrainResult", "estimate_step_bytes", "load_model", "train"]

#: The named random streams of a run and its evaluation (exact.core.rng).
RANDOM_STREAMS = stream_names("dropout", "icl-data", "icl-heldout", "prompts")


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` did: the run directory, steps done, wall time over all sessions, history."""

    run_dir: Path
    steps: int
    seconds: float
    history: tuple[HistoryPoint, ...]


def estimate_step_bytes(cfg: IclConfig) -> int:
    """A lower bound on the memory of one training step (checked before anything is allocated):
    per seed, row and layer the attention pattern and the activations autograd keeps, the logits,
    and four copies of the parameters for AdamW."""
    m, t = cfg.model, cfg.train
    T = t.doc_length
    per_row = m.n_layers * (m.n_heads * T * T + T * (6 * m.d_model + m.d_ff)) + 2 * T * m.vocab_size
    params = m.n_layers * (4 * m.d_model**2 + 2 * m.d_model * m.d_ff) + m.vocab_size * m.d_model
    return 4 * len(t.seeds) * (t.batch_size * per_row + 4 * params)


def clip_per_seed(model: Transformer, max_norm: float) -> torch.Tensor:
    """Clip each seed's gradient (its slice of every parameter) to L2 norm ``max_norm``; the norms before."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    sq = torch.stack([g.reshape(g.shape[0], -1).pow(2).sum(dim=1) for g in grads]).sum(dim=0)
    norms = sq.sqrt()
    if max_norm > 0:
        scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.reshape(-1, *([1] * (g.dim() - 1))))
    return norms


def lm_loss(model: Transformer, docs: torch.Tensor, bos: int, dropout: list[torch.Generator] | None) -> torch.Tensor:
    """Per seed, the mean cross-entropy (nats/token) of predicting every token of ``docs`` (S, B, T)."""
    inputs = torch.cat([torch.full_like(docs[..., :1], bos), docs[..., :-1]], dim=-1)
    logits = model(inputs, dropout=dropout)
    ce = torch.nn.functional.cross_entropy(logits.flatten(0, 2), docs.flatten(), reduction="none")
    return ce.reshape(docs.shape).mean(dim=(1, 2))


def validation_documents(cfg: IclConfig, mixture: HMMMixture) -> TokenBatch:
    """The first ``train.n_val_docs`` of the held-out documents the final evaluation uses."""
    docs, _ = heldout_documents(mixture, cfg.eval.seed, cfg.eval.n_docs, cfg.train.doc_length)
    return TokenBatch(docs.tokens[: cfg.train.n_val_docs], docs.lengths[: cfg.train.n_val_docs], docs.vocab_size)


def train(
    cfg: IclConfig,
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
    if not isinstance(cfg, IclConfig):
        raise InputTypeError(f"cfg must be an IclConfig, got {type(cfg).__name__}")
    if stop_after is not None and (not isinstance(stop_after, int) or stop_after < 0):
        raise InputError(f"stop_after must be a non-negative integer, got {stop_after!r}")
    dev = resolve_device(device)
    need, limit = estimate_step_bytes(cfg), memory_limit(dev)
    if need > limit:
        m, t = cfg.model, cfg.train
        raise LimitError(
            f"train.batch_size={t.batch_size}, train.doc_length={t.doc_length}, model.d_model={m.d_model}, "
            f"model.n_layers={m.n_layers}, {len(t.seeds)} seed(s): one training step needs at least "
            f"{need / 2**30:.3g} GiB, above the memory limit {limit / 2**30:.3g} GiB "
            "(fewer seeds, a smaller batch or model, or raise NONIDENT_MAX_BYTES)"
        )
    run_dir = Path(out)
    made = created_dirs(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _train(cfg, run_dir, dev, resume=resume, progress=progress, stop_after=stop_after)
    except BaseException as exc:
        on_failure(run_dir, made, exc)
        raise


def _train(
    cfg: IclConfig, run_dir: Path, dev: torch.device, *, resume: bool, progress: bool, stop_after: int | None
) -> TrainResult:
    ckpt_path = run_dir / "checkpoint.pt"
    tc, seeds = cfg.train, cfg.train.seeds
    mixture = generate_ginc(cfg.ginc).mixture
    val = validation_documents(cfg, mixture)
    val_exact = bayes_per_position(mixture, val)  # the same documents at every evaluation: computed once

    model = Transformer(cfg.model, seeds).to(dev)
    opt = torch.optim.AdamW(list(model.parameters()), lr=tc.lr, weight_decay=tc.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, tc.lr_factor)
    drop_gens = [torch.Generator(device=dev).manual_seed(torch_seed(s, "dropout")) for s in seeds]

    step, elapsed0 = 0, 0.0
    history: list[HistoryPoint] = []
    if resume and ckpt_path.exists():
        ck = read_run_file(ckpt_path, "checkpoint")
        if ck["config"] != cfg.to_dict():
            raise InputError(
                f"{ckpt_path} was written by a different config: use another run directory "
                "(--runs for reproduce) or start over (delete it)"
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
            g.set_state(st.to("cpu"))
        step, elapsed0 = int(ck["step"]), float(ck.get("seconds", 0.0))
        history = [HistoryPoint.from_dict(h, at=f"{ckpt_path} history[{j}]") for j, h in enumerate(ck["history"])]
    else:
        for stale in ("checkpoint.pt", "model.pt", "history.json"):  # of an earlier run
            (run_dir / stale).unlink(missing_ok=True)
        prov = provenance(cfg.to_dict(), seed=None, streams=RANDOM_STREAMS) | {"seeds": list(seeds), "device": str(dev)}
        write_json(run_dir / "config.json", prov, indent=2)

    t0 = time.monotonic()
    last_loss = torch.full((len(seeds),), float("nan"))

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
                "history": [h.as_dict() for h in history],
                "seconds": elapsed0 + time.monotonic() - t0,
            },
        )

    def evaluate_now() -> None:
        metrics = document_metrics(model, mixture, val, cfg.bos, val_exact)
        history.append(
            HistoryPoint(
                step=step,
                lr_next=float(opt.param_groups[0]["lr"]),
                train_loss=tuple(float(x) for x in last_loss.tolist()) if step else (),
                kl_per_token=tuple(m.kl_per_token.mean for m in metrics),
            )
        )
        write_json(run_dir / "history.json", [h.as_dict() for h in history], indent=1)
        model.train()

    bar = Progress(f"icl seeds {','.join(map(str, seeds))}", tc.steps, progress)
    if step == 0 and not history:
        evaluate_now()
    model.train()
    while step < tc.steps:
        if stop_after is not None and step >= stop_after:
            break
        docs = torch.as_tensor(training_batch(mixture, seeds, step, tc.batch_size, tc.doc_length), device=dev)
        per_seed = lm_loss(model, docs, cfg.bos, drop_gens if cfg.model.dropout > 0 else None)
        opt.zero_grad(set_to_none=True)
        per_seed.sum().backward()
        clip_per_seed(model, tc.clip_norm)
        opt.step()
        sched.step()
        step += 1
        last_loss = per_seed.detach().cpu()
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
    seconds = elapsed0 + time.monotonic() - t0
    if step == tc.steps:
        save_atomic(
            run_dir / "model.pt",
            {"config": cfg.to_dict(), "seeds": list(seeds), "state": model.state_dict(), "seconds": seconds},
        )
    return TrainResult(run_dir, step, seconds, tuple(history))


def load_model(run_dir: str | Path, *, device: str = "cpu") -> tuple[IclConfig, Transformer, dict[str, Any]]:
    """The stacked model of a finished run, its config and the file's metadata (evaluation mode)."""
    path = Path(run_dir) / "model.pt"
    if not path.exists():
        raise InputError(f"{run_dir} has no model.pt (not a finished nonident icl run; rerun to resume it)")
    ck = read_run_file(path, "model")
    cfg = IclConfig.from_dict(ck["config"])
    model = Transformer(cfg.model, cfg.train.seeds)
    load_state(model, ck.get("state"), f"{path} does not hold the parameters of its config")
    model.to(resolve_device(device))
    model.eval()
    return cfg, model, ck
