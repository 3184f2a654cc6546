"""The configuration of case study 2 on trained transformers (docs/icl.md).

An :class:`IclConfig` has four sections, each overridable with ``--set SECTION.KEY=VALUE``:

* ``ginc`` — the pretraining mixture, a :class:`~exact.hmm.ginc.GincConfig` (emission
  smoothing must be positive: it makes every string possible, so the Bayes predictor is
  defined on every prompt and ``q_n``'s KL is finite);
* ``model`` — the transformer (:class:`~learned.nn.config.ModelConfig`); its vocabulary is the
  mixture's symbols plus one beginning-of-document token ``BOS = n_symbols``;
* ``train`` — :class:`TrainConfig`;
* ``eval`` — :class:`EvalConfig` (example length ``k``, shot counts, sample sizes).

Presets: ``cpu`` (a GINC-structured mixture small enough to train near its floor in minutes on
2 cores), ``ginc`` (GINC's sizes and a GPT-2-sized model, for a GPU) and ``tiny`` (tests).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from typing import Any

from exact.core.validate import InputError, is_integer, is_number, require, require_type
from exact.hmm.ginc import GincConfig
from exact.hmm.prompts import PromptTemplate
from learned.nn.config import ModelConfig
from learned.nn.overrides import MAX_SEEDS, coerce

__all__ = ["PRESETS", "EvalConfig", "IclConfig", "TrainConfig", "icl_preset"]

SECTIONS = ("ginc", "model", "train", "eval")


def _ints(section: str, obj: object, bounds: dict[str, tuple[int, int | None]]) -> None:
    for name, (lo, hi) in bounds.items():
        v = getattr(obj, name)
        require_type(is_integer(v), f"{section}.{name}", v, "an integer")
        ok = v >= lo and (hi is None or v <= hi)
        require(ok, f"{section}.{name}", v, f"an integer in [{lo}, {hi}]" if hi is not None else f"an integer ≥ {lo}")


def _int_tuple(section: str, obj: object, name: str, *, limit: int, what: str) -> tuple[int, ...]:
    v = getattr(obj, name)
    require_type(isinstance(v, (tuple, list)) and all(is_integer(s) for s in v), f"{section}.{name}", v, what)
    out = tuple(int(s) for s in v)
    require(
        1 <= len(out) <= limit and len(set(out)) == len(out) and min(out) >= 0,
        f"{section}.{name}",
        v,
        f"1 to {limit} distinct non-negative integers",
    )
    return out


@dataclass(frozen=True)
class TrainConfig:
    """Seed-batched maximum likelihood on freshly sampled documents.

    Every step draws ``batch_size`` documents of ``doc_length`` tokens for each seed from the
    mixture — a pure function of (seed, step) on the named stream ``icl-data``, so nothing is
    stored and a resumed run sees the same data. AdamW with linear warm-up over ``warmup``
    steps, then cosine decay to ``min_lr_ratio · lr``; gradients clipped per seed to
    ``clip_norm`` (0: off). ``eval_every``: the exact KL of each seed on ``n_val_docs``
    held-out documents, recorded in the history.
    """

    seeds: tuple[int, ...] = (0, 1)
    steps: int = 4000
    batch_size: int = 32
    doc_length: int = 68
    lr: float = 3e-3
    warmup: int = 150
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    eval_every: int = 500
    checkpoint_every: int = 500
    n_val_docs: int = 64

    def __post_init__(self) -> None:
        object.__setattr__(self, "seeds", _int_tuple("train", self, "seeds", limit=MAX_SEEDS, what="a list of seeds"))
        bounds: dict[str, tuple[int, int | None]] = {
            "steps": (1, 10_000_000),
            "batch_size": (1, 1 << 20),
            "doc_length": (2, 1 << 20),
            "warmup": (0, None),
            "eval_every": (1, None),
            "checkpoint_every": (1, None),
            "n_val_docs": (1, 1 << 20),
        }
        _ints("train", self, bounds)
        for name in ("lr", "min_lr_ratio", "weight_decay", "clip_norm"):
            v = getattr(self, name)
            require_type(is_number(v), f"train.{name}", v, "a number")
            ok = math.isfinite(v) and (v > 0 if name == "lr" else v >= 0) and (name != "min_lr_ratio" or v <= 1)
            require(ok, f"train.{name}", v, "finite and > 0" if name == "lr" else "finite and ≥ 0 (≤ 1 for a ratio)")

    def lr_factor(self, step: int) -> float:
        """The learning-rate multiplier after ``step`` optimiser steps (warm-up, then cosine)."""
        if step < self.warmup:
            return (step + 1) / self.warmup
        span = max(1, self.steps - self.warmup)
        progress = min(1.0, (step - self.warmup) / span)
        return self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class EvalConfig:
    """The exact evaluation: ``n_docs`` held-out documents (stream ``icl-heldout`` of ``seed``), and
    ``n_prompts`` GINC prompts of example length ``k`` per shot count in ``shots`` (stream ``prompts``)."""

    k: int = 3
    shots: tuple[int, ...] = (0, 1, 2, 4, 8, 16)
    n_prompts: int = 1000
    n_docs: int = 512
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "shots", _int_tuple("eval", self, "shots", limit=64, what="a list of shot counts"))
        require(
            list(self.shots) == sorted(self.shots), "eval.shots", self.shots, "increasing shot counts (e.g. 0,1,2,4)"
        )
        _ints("eval", self, {"k": (2, 1000), "n_prompts": (1, 1 << 20), "n_docs": (2, 1 << 20), "seed": (0, None)})

    def template(self, n_shots: int) -> PromptTemplate:
        return PromptTemplate(self.k, n_shots)


@dataclass(frozen=True)
class IclConfig:
    """The whole experiment (see the module docstring)."""

    ginc: GincConfig = field(default_factory=GincConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    preset: str = "cpu"

    def __post_init__(self) -> None:
        g, m, t, e = self.ginc, self.model, self.train, self.eval
        require(
            g.emission_smoothing > 0,
            "ginc.emission_smoothing",
            g.emission_smoothing,
            "> 0 (every string possible: the Bayes predictor defined on every prompt, q_n's KL finite)",
        )
        require(
            m.vocab_size == g.n_symbols + 1,
            "model.vocab_size",
            m.vocab_size,
            f"ginc.n_symbols + 1 = {g.n_symbols + 1} (the symbols and BOS)",
        )
        require(not m.mask_pad_keys, "model.mask_pad_keys", m.mask_pad_keys, "false (no padding in GINC documents)")
        require(m.max_len >= t.doc_length, "model.max_len", m.max_len, f"≥ train.doc_length = {t.doc_length}")
        longest = max(e.shots)
        need = e.template(longest).length + 1
        require(
            need <= t.doc_length,
            "eval.shots",
            e.shots,
            f"prompts that fit the trained context: BOS + L_{longest} = {need} tokens exceed "
            f"train.doc_length = {t.doc_length}",
        )
        require(t.n_val_docs <= e.n_docs, "train.n_val_docs", t.n_val_docs, f"at most eval.n_docs = {e.n_docs}")

    @property
    def bos(self) -> int:
        """The beginning-of-document token id (after the mixture's symbols)."""
        return self.ginc.n_symbols

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> IclConfig:
        try:
            return cls(
                GincConfig(**doc["ginc"]),
                ModelConfig(**doc["model"]),
                TrainConfig(**(doc["train"] | {"seeds": tuple(doc["train"]["seeds"])})),
                EvalConfig(**(doc["eval"] | {"shots": tuple(doc["eval"]["shots"])})),
                doc["preset"],
            )
        except (KeyError, TypeError) as exc:
            raise InputError(f"config is not a nonident ICL config: {exc}") from None


#: The cpu mixture: 4 concepts, 2 values × 4 slots, 10 symbols, transition temperature 0.3, 1 %
#: emission smoothing (docs/icl.md says how it was chosen: the Bayes ICL accuracy rises with shots,
#: q_n's falls below chance, and P_p(S_n) — hence q_n's certified KL — falls fast with n).
CPU_GINC = {
    "n_concepts": 4,
    "n_values": 2,
    "n_slots": 4,
    "n_symbols": 10,
    "transition_temp": 0.3,
    "emission_smoothing": 0.01,
    "seed": 7,
}

#: Presets, as {section: {key: value}} over the defaults.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "cpu": {
        "ginc": CPU_GINC,
        "model": {
            "d_model": 64,
            "n_heads": 4,
            "d_ff": 256,
            "n_layers": 3,
            "dropout": 0.0,
            "ln_eps": 1e-5,
            "mask_pad_keys": False,
            "max_len": 128,
            "vocab_size": 11,
        },
        "train": {},
        "eval": {},
    },
    "ginc": {  # GINC's sizes (Xie et al. 2022): a GPU run, --device cuda
        "ginc": {"emission_smoothing": 0.01},
        "model": {
            "d_model": 768,
            "n_heads": 12,
            "d_ff": 3072,
            "n_layers": 12,
            "dropout": 0.1,
            "ln_eps": 1e-5,
            "mask_pad_keys": False,
            "max_len": 1024,
            "vocab_size": 51,
        },
        "train": {
            "seeds": (0,),
            "steps": 6250,
            "batch_size": 8,
            "doc_length": 1024,
            "lr": 8e-4,
            "warmup": 1000,
            "eval_every": 500,
            "checkpoint_every": 250,
            "n_val_docs": 16,
        },
        "eval": {"shots": (0, 1, 2, 4, 8, 16, 32, 64), "n_prompts": 1000, "n_docs": 64},
    },
    "tiny": {
        "ginc": CPU_GINC,
        "model": {
            "d_model": 16,
            "n_heads": 2,
            "d_ff": 32,
            "n_layers": 1,
            "dropout": 0.1,
            "mask_pad_keys": False,
            "max_len": 32,
            "vocab_size": 11,
        },
        "train": {
            "seeds": (0, 1),
            "steps": 12,
            "batch_size": 4,
            "doc_length": 24,
            "warmup": 2,
            "eval_every": 4,
            "checkpoint_every": 4,
            "n_val_docs": 8,
        },
        "eval": {"shots": (0, 1, 2, 4), "n_prompts": 40, "n_docs": 16},
    },
}


def _section_types() -> dict[str, type]:
    return {"ginc": GincConfig, "model": ModelConfig, "train": TrainConfig, "eval": EvalConfig}


def icl_preset(name: str, overrides: dict[str, object] | None = None) -> IclConfig:
    """The preset ``name`` with ``{"SECTION.KEY": value}`` overrides (strings parsed to the field's type)."""
    if name not in PRESETS:
        raise InputError(f"preset must be one of {tuple(PRESETS)} for icl, got {name!r}")
    values: dict[str, dict[str, Any]] = {s: dict(PRESETS[name][s]) for s in SECTIONS}
    types = _section_types()
    for key, value in (overrides or {}).items():
        section, _, attr = key.partition(".")
        if section not in types or not attr:
            raise InputError(f"override {key!r} must look like {', '.join(s + '.KEY' for s in SECTIONS)}")
        known = {f.name: f for f in fields(types[section])}
        if attr not in known:
            raise InputError(f"override {key!r}: {section} has no field {attr!r} (fields: {', '.join(sorted(known))})")
        current = values[section].get(attr, getattr(types[section](), attr))
        values[section][attr] = coerce(value, current, key) if isinstance(value, str) else value
    if "model.vocab_size" not in (overrides or {}):  # the symbols and BOS, whatever ginc.n_symbols is
        values["model"]["vocab_size"] = values["ginc"].get("n_symbols", GincConfig().n_symbols) + 1
    return IclConfig(
        GincConfig(**values["ginc"]),
        ModelConfig(**values["model"]),
        TrainConfig(**values["train"]),
        EvalConfig(**values["eval"]),
        name,
    )
