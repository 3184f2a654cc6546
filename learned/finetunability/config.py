"""The configuration of the fine-tunability experiment (case study 3; docs/finetunability.md).

A :class:`FinetuneConfig` says which pretrained models (a preset of the
rule-extrapolation runs), which function-preserving reparametrisations, and how
they are fine-tuned and probed. ``--set finetune.KEY=VALUE`` overrides a field;
``--set model.…/data.…/train.…`` override the pretraining runs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any

from exact.core.validate import InputError, is_integer, is_number, require, require_type
from learned.rule_extrapolation.config import MAX_SEEDS, parse_seeds
from learned.rule_extrapolation.config import PRESETS as PRETRAIN_PRESETS

__all__ = ["OPTIMIZERS", "PRESETS", "FinetuneConfig", "finetune_preset"]

#: The fine-tuning optimisers, each run on every parametrisation with the same data, steps and seeds.
OPTIMIZERS = ("sgd", "adamw")


@dataclass(frozen=True)
class FinetuneConfig:
    """Fine-tuning and probing of the pretrained models and their reparametrisations.

    The downstream language is aⁿbⁿ with ``n = 1..n_max`` uniformly (the pretraining runs
    stop at their ``data.n_max``), trained full-batch (every sentence once per step, the
    same batch for every model) for ``steps`` steps with a constant learning rate, no
    dropout, in ``dtype`` (float64 by default: fine-tuning amplifies rounding, and in float64 the
    permuted copies — equal in exact arithmetic at every step — stay within ~1e-16 nats of each
    other, where float32 lets them drift to ~1e-6). The probe is a logistic regression of "#a > #b" on the frozen final features
    of every string ``SOS w`` with ``w ∈ {a, b}^{1..probe_length}``, trained from zero on a
    seeded half of them for ``probe_steps`` steps with the same optimiser kind.
    """

    pretrain_preset: str = "cpu"
    pretrain_eval_every: int = 1000
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
    arm_seeds: tuple[int, ...] = (0, 1, 2)
    n_max: int = 24
    steps: int = 300
    eval_every: int = 25
    sgd_lr: float = 0.01
    adamw_lr: float = 1e-3
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    dtype: str = "float64"
    prompt_length: int = 8
    max_pred_length: int = 80
    probe_length: int = 8
    probe_steps: int = 200
    probe_sgd_lr: float = 0.5
    probe_adamw_lr: float = 0.02
    probe_seed: int = 0
    widen_factor: int = 2
    deepen_blocks: int = 1
    alphas: tuple[float, ...] = (0.25, 4.0, 16.0)
    permute_seed: int = 0
    proof_length: int = 5

    def __post_init__(self) -> None:
        require(
            self.pretrain_preset in PRETRAIN_PRESETS,
            "finetune.pretrain_preset",
            self.pretrain_preset,
            f"one of {tuple(PRETRAIN_PRESETS)}",
        )
        ints = {
            "pretrain_eval_every": (1, None),
            "n_max": (4, 200),
            "steps": (1, 1_000_000),
            "eval_every": (1, None),
            "prompt_length": (1, 16),
            "max_pred_length": (1, 1000),
            "probe_length": (1, 14),
            "probe_steps": (1, 1_000_000),
            "probe_seed": (0, 2**63 - 1),
            "widen_factor": (2, 16),
            "deepen_blocks": (1, 64),
            "permute_seed": (0, 2**63 - 1),
            "proof_length": (1, 8),
        }
        for name, (lo, hi) in ints.items():
            v = getattr(self, name)
            require_type(is_integer(v), f"finetune.{name}", v, "an integer")
            require(
                v >= lo and (hi is None or v <= hi),
                f"finetune.{name}",
                v,
                f"an integer in [{lo}, {hi}]" if hi is not None else f"an integer ≥ {lo}",
            )
        for name in ("sgd_lr", "adamw_lr", "probe_sgd_lr", "probe_adamw_lr", "weight_decay", "clip_norm"):
            v = getattr(self, name)
            require_type(is_number(v), f"finetune.{name}", v, "a number")
            nonneg = name in ("weight_decay", "clip_norm")
            ok = math.isfinite(v) and (v >= 0 if nonneg else v > 0)
            require(ok, f"finetune.{name}", v, "finite and ≥ 0" if nonneg else "finite and > 0")
        require(self.dtype in ("float64", "float32"), "finetune.dtype", self.dtype, "'float64' or 'float32'")
        for name in ("seeds", "arm_seeds"):
            v = getattr(self, name)
            require_type(isinstance(v, (tuple, list)) and all(is_integer(s) for s in v), f"finetune.{name}", v, "seeds")
            seeds = tuple(int(s) for s in v)
            require(
                len(seeds) >= 1 and len(set(seeds)) == len(seeds) and min(seeds) >= 0 and len(seeds) <= MAX_SEEDS,
                f"finetune.{name}",
                v,
                f"1 to {MAX_SEEDS} distinct non-negative seeds",
            )
            object.__setattr__(self, name, seeds)
        require(
            set(self.arm_seeds) <= set(self.seeds),
            "finetune.arm_seeds",
            self.arm_seeds,
            f"a subset of finetune.seeds={self.seeds} (their maximum-likelihood models are the ML arm)",
        )
        require_type(
            isinstance(self.alphas, (tuple, list)) and all(is_number(a) for a in self.alphas),
            "finetune.alphas",
            self.alphas,
            "a list of numbers",
        )
        alphas = tuple(float(a) for a in self.alphas)
        require(
            len(alphas) >= 1 and all(math.isfinite(a) and a > 0 and a != 1 for a in alphas),
            "finetune.alphas",
            self.alphas,
            "a non-empty list of finite α > 0, α ≠ 1",
        )
        object.__setattr__(self, "alphas", alphas)

    def lr(self, optimizer: str) -> float:
        return self.sgd_lr if optimizer == "sgd" else self.adamw_lr

    def probe_lr(self, optimizer: str) -> float:
        return self.probe_sgd_lr if optimizer == "sgd" else self.probe_adamw_lr

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> FinetuneConfig:
        try:
            tuples = {k: tuple(doc[k]) for k in ("alphas", "seeds", "arm_seeds")}
            return cls(**(dict(doc) | tuples))
        except (KeyError, TypeError) as exc:
            raise InputError(f"config is not a nonident fine-tuning config: {exc}") from None


#: Presets: "cpu" (the rule-extrapolation cpu models, minutes on 2 cores) and "tiny" (a smoke test).
PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {},
    "tiny": {
        "pretrain_preset": "tiny",
        "pretrain_eval_every": 100,
        "seeds": (0, 1),
        "arm_seeds": (0,),
        "n_max": 10,
        "steps": 20,
        "eval_every": 10,
        "max_pred_length": 30,
        "probe_length": 5,
        "probe_steps": 20,
        "alphas": (4.0,),
        "proof_length": 3,
    },
}


def _parse(raw: str, current: object, name: str) -> object:
    if name.endswith("seeds"):
        return parse_seeds(raw)
    try:
        if isinstance(current, tuple):
            return tuple(float(x) for x in raw.split(",") if x.strip())
        if isinstance(current, str):
            return raw
        return int(raw) if isinstance(current, int) else float(raw)
    except ValueError:
        raise InputError(f"{name} expects a {type(current).__name__}, got {raw!r}") from None


def finetune_preset(name: str, overrides: dict[str, object] | None = None) -> FinetuneConfig:
    """The preset ``name`` with ``{"KEY": value}`` overrides (strings are parsed to the field's type)."""
    if name not in PRESETS:
        raise InputError(f"preset must be one of {tuple(PRESETS)} for finetunability, got {name!r}")
    base = FinetuneConfig(**PRESETS[name])
    known = {f.name for f in fields(FinetuneConfig)}
    changes: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if key not in known:
            raise InputError(f"override 'finetune.{key}': no such field (fields: {', '.join(sorted(known))})")
        current = getattr(base, key)
        changes[key] = _parse(value, current, f"finetune.{key}") if isinstance(value, str) else value
    return dataclasses.replace(base, **changes)
