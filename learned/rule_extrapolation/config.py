"""Frozen, validated configurations for the aⁿbⁿ training runs (docs/paper.md §5, experiment E1).

A run is fully described by a :class:`RunConfig` (model, data, training). Every
run directory and every checkpoint stores the resolved config as JSON, and
:func:`RunConfig.from_dict` rebuilds it. Presets hold only the values that
differ from the defaults; ``--set section.key=value`` overrides must name an
existing field and parse to its type (:func:`apply_overrides`).

Default sizes follow the official code's paper sweeps (``sweeps/adversarial.yaml``):
width 10, 5 heads, feed-forward 1024, 5 layers, dropout 0.1, LayerNorm eps 6e-3,
AdamW lr 2e-3 with a 1000-step inverse-square-root warm-up, N = 128 (all
``SOS aⁿbⁿ EOS``, n = 1..128, once per step), PAD targets in the loss. The
default architecture is a standard one (pre-LN, sinusoidal positions,
independently initialised blocks); the ``paper`` preset switches to the official
post-LN blocks and reproduces its quirks (batch-row positions, cloned layers).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any

from exact.core.tokens import VOCAB_SIZE
from exact.core.validate import InputError, is_integer, is_number, require, require_type
from learned.nn.config import ModelConfig
from learned.nn.overrides import MAX_SEEDS, coerce, parse_seeds

__all__ = [
    "PRESETS",
    "VARIANTS",
    "DataConfig",
    "ModelConfig",
    "RunConfig",
    "TrainConfig",
    "apply_overrides",
    "parse_seeds",
    "preset",
]

#: Training variants (docs/paper.md §5.4). "oracle" is the official code's "extrapolation".
VARIANTS = ("ml", "adversarial", "oracle")


@dataclass(frozen=True)
class DataConfig:
    """Training data drawn from :mod:`exact`.

    ``law="uniform"``: the official set, every ``SOS aⁿbⁿ EOS`` with n = 1..``n_max``
    once per step (batch = the whole set). ``law="pcfg"``: ``batch_size``
    sequences per step sampled from the PCFG law ``P(n) ∝ rho^(n-1)`` truncated
    at ``n_max`` (exact.GeometricLength → TruncatedLength, renormalised), with a
    per-seed generator.
    """

    law: str = "uniform"
    n_max: int = 128
    rho: float = 0.9
    batch_size: int = 128
    pad_targets: str = "include"  # "include" (official) or "ignore"
    #: A language of :mod:`exact.grammar.library` other than ``"anbn"`` trains on that language
    #: (:mod:`learned.rule_extrapolation.languages`): ``batch_size`` words per step drawn from its
    #: exact law conditioned on ``|w| ≤ word_length``; ``n_max``/``rho`` then play no part.
    language: str = "anbn"
    language_law: str = ""  # "" = the library's default law
    language_params: str = ""  # "key=value,key=value" (e.g. "K=5"), as `nonident grammar --set`
    word_length: int = 0  # longest training word (library languages; 0 for anbn)

    def __post_init__(self) -> None:
        from exact.grammar.library import LANGUAGES as LIBRARY  # not this module's LANGUAGES (the table's)

        require(self.language in LIBRARY, "data.language", self.language, f"one of {sorted(LIBRARY)}")
        require_type(isinstance(self.language_law, str), "data.language_law", self.language_law, "a string")
        require_type(isinstance(self.language_params, str), "data.language_params", self.language_params, "a string")
        require_type(is_integer(self.word_length), "data.word_length", self.word_length, "an integer")
        if self.language == "anbn":
            require(
                not self.language_law and not self.language_params and self.word_length == 0,
                "data.language",
                self.language,
                "set without language_law, language_params or word_length (anbn is set by law, n_max and rho)",
            )
        else:
            require(
                self.law == "pcfg",
                "data.law",
                self.law,
                f"'pcfg' for data.language={self.language!r} (batches drawn from the language's exact law)",
            )
            require(2 <= self.word_length <= 256, "data.word_length", self.word_length, "an integer in [2, 256]")
            self.language_kwargs()  # malformed parameters are refused with the config
            require(
                self.pad_targets == "include",
                "data.pad_targets",
                self.pad_targets,
                f"'include' for data.language={self.language!r}",
            )
        require(self.law in ("uniform", "pcfg"), "data.law", self.law, "'uniform' or 'pcfg'")
        require_type(is_integer(self.n_max), "data.n_max", self.n_max, "an integer")
        require(4 <= self.n_max <= 2048, "data.n_max", self.n_max, "an integer in [4, 2048]")
        require_type(is_number(self.rho), "data.rho", self.rho, "a number")
        require(0 < self.rho < 1, "data.rho", self.rho, "in (0, 1)")
        require_type(is_integer(self.batch_size), "data.batch_size", self.batch_size, "an integer")
        require(self.batch_size >= 1, "data.batch_size", self.batch_size, "a positive integer")
        require(
            self.pad_targets in ("include", "ignore"), "data.pad_targets", self.pad_targets, "'include' or 'ignore'"
        )

    @property
    def width(self) -> int:
        """Padded sequence length: ``2·n_max + 2`` (official ``max_length + 2``), ``word_length + 2`` otherwise."""
        return 2 * self.n_max + 2 if self.language == "anbn" else self.word_length + 2

    def language_kwargs(self) -> dict[str, object]:
        """``language_params`` as keyword arguments of :func:`exact.grammar.library.language`."""
        from exact.grammar.library import law_params

        items = filter(None, (x.strip() for x in self.language_params.split(",")))
        return law_params((x.replace(" ", "") for x in items), "data.language_params")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, training variant and evaluation schedule.

    ``completion_loss="official"`` reproduces the official off-by-one (the first
    completion token of each extended OOD prompt is never supervised);
    ``"corrected"`` supervises it. The schedule is
    ``lr·s/warmup`` for ``s < warmup`` (the first step has lr 0) and
    ``lr·√(warmup/s)`` after (``transformers.get_inverse_sqrt_schedule``), stepped
    once per optimizer step. ``optimizer="sgd"`` is plain SGD with a constant lr.
    """

    variant: str = "ml"
    completion_loss: str = "official"
    optimizer: str = "adamw"
    lr: float = 2e-3
    weight_decay: float | None = None  # None: PyTorch's default for the optimizer (AdamW 0.01, SGD 0)
    warmup: int = 1000
    steps: int = 50_000
    eval_every: int = 100
    checkpoint_every: int = 1000
    prompt_length: int = 8
    max_pred_length: int = 300
    seeds: tuple[int, ...] = (0,)

    def __post_init__(self) -> None:
        require(self.variant in VARIANTS, "train.variant", self.variant, f"one of {VARIANTS}")
        require(
            self.completion_loss in ("official", "corrected"),
            "train.completion_loss",
            self.completion_loss,
            "'official' or 'corrected'",
        )
        require(self.optimizer in ("adamw", "sgd"), "train.optimizer", self.optimizer, "'adamw' or 'sgd'")
        require_type(is_number(self.lr), "train.lr", self.lr, "a number")
        require(math.isfinite(self.lr) and self.lr > 0, "train.lr", self.lr, "finite and > 0")
        wd = self.weight_decay
        require_type(wd is None or is_number(wd), "train.weight_decay", wd, "a number or unset")
        require(
            wd is None or (math.isfinite(wd) and wd >= 0),
            "train.weight_decay",
            wd,
            "finite and ≥ 0 (or unset for the optimizer's default)",
        )
        for name in ("warmup", "steps", "eval_every", "checkpoint_every", "prompt_length", "max_pred_length"):
            v = getattr(self, name)
            require_type(is_integer(v), f"train.{name}", v, "an integer")
            require(
                v >= (0 if name == "warmup" else 1),
                f"train.{name}",
                v,
                "a non-negative integer" if name == "warmup" else "a positive integer",
            )
        require_type(
            isinstance(self.seeds, (tuple, list)) and all(is_integer(s) for s in self.seeds),
            "train.seeds",
            self.seeds,
            "a sequence of integers",
        )
        seeds = tuple(int(s) for s in self.seeds)
        require(
            len(seeds) >= 1 and all(0 <= s < 2**63 for s in seeds),
            "train.seeds",
            self.seeds,
            "a non-empty list of integers in [0, 2^63)",
        )
        require(len(set(seeds)) == len(seeds), "train.seeds", self.seeds, "free of repeats")
        require(len(seeds) <= MAX_SEEDS, "train.seeds", f"{len(seeds)} seeds", f"at most {MAX_SEEDS} seeds")
        object.__setattr__(self, "seeds", seeds)

    @property
    def decay(self) -> float:
        """The weight decay in effect (PyTorch's default for the optimizer when unset)."""
        if self.weight_decay is not None:
            return float(self.weight_decay)
        return 0.01 if self.optimizer == "adamw" else 0.0

    def lr_factor(self, step: int) -> float:
        """Multiplier of ``lr`` at optimizer step ``step`` (0-based).

        ``transformers.get_inverse_sqrt_schedule``: ``s/warmup`` for ``s < warmup``, then
        ``1/√((s + τ − warmup)/τ)`` with timescale ``τ = warmup`` (or 10,000 when warmup = 0).
        """
        if self.optimizer == "sgd":
            return 1.0
        if step < self.warmup:
            return step / self.warmup
        tau = self.warmup or 10_000
        return 1.0 / math.sqrt((step + tau - self.warmup) / tau)


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    preset: str = "paper"

    def __post_init__(self) -> None:
        if self.data.language == "anbn":
            require(
                self.model.vocab_size == VOCAB_SIZE,
                "model.vocab_size",
                self.model.vocab_size,
                f"{VOCAB_SIZE} for aⁿbⁿ (a, b, SOS, EOS, PAD)",
            )
            require(
                self.train.prompt_length <= 2 * self.data.n_max,
                "train.prompt_length",
                self.train.prompt_length,
                f"≤ 2·data.n_max = {2 * self.data.n_max}",
            )
        reach = self.train.prompt_length + 1 + self.train.max_pred_length
        require(
            reach <= self.model.max_len,
            "model.max_len",
            self.model.max_len,
            f"≥ train.prompt_length + 1 + train.max_pred_length = {self.train.prompt_length} + 1 + "
            f"{self.train.max_pred_length} = {reach}",
        )
        require(
            self.data.width <= self.model.max_len,
            "model.max_len",
            self.model.max_len,
            f"≥ the padded width 2·data.n_max + 2 = {self.data.width} (data.n_max={self.data.n_max})",
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> RunConfig:
        try:
            train = dict(doc["train"])
            train["seeds"] = tuple(train["seeds"])
            return cls(ModelConfig(**doc["model"]), DataConfig(**doc["data"]), TrainConfig(**train), doc["preset"])
        except (KeyError, TypeError) as exc:
            raise InputError(f"config is not a nonident run config: {exc}") from None


#: Overrides of the defaults per preset. "paper": the official model, quirks included (post-LN,
#: batch-row "positions", cloned initial layers), at the official sizes (for a GPU).
#: "cpu": sized so 3 seeds × 3 variants reach the exact floor within 1e-3 nats/token
#: in about 10 minutes on 2 cores (README, "Performance").
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {"model": {"norm_first": False, "positions": "batch-row", "clone_layers": True}},
    "cpu": {
        "model": {"d_model": 16, "n_heads": 2, "d_ff": 64, "n_layers": 2, "dropout": 0.0, "max_len": 512},
        "data": {"n_max": 16},
        "train": {
            "lr": 1e-2,
            "warmup": 100,
            "steps": 2000,
            "eval_every": 100,
            "checkpoint_every": 500,
            "seeds": (0, 1, 2),
        },
    },
    "tiny": {
        "model": {"d_model": 16, "n_heads": 2, "d_ff": 64, "n_layers": 2, "dropout": 0.0, "max_len": 512},
        "data": {"n_max": 8},
        "train": {
            "lr": 1e-2,
            "warmup": 20,
            "steps": 300,
            "eval_every": 50,
            "checkpoint_every": 100,
            "max_pred_length": 40,
            "seeds": (0,),
        },
    },
}


#: The library languages of the cross-grammar table (``--grammar all``) at CPU sizes: the follow-up
#: study's own (``official``) laws where the library has them, parameters small enough that every
#: word up to ``word_length`` is enumerated exactly, and prompts of ``prompt_length`` symbols
#: (Dyck prompts are two more: ``) (`` or ``) [`` before a primitive word of that length).
#: Each entry is a set of overrides on a preset; the model's vocabulary is the language's.
LANGUAGES: dict[str, dict[str, object]] = {
    "anbncn": {"data.language_law": "uniform", "data.language_params": "n_max=8", "data.word_length": 24,
               "train.prompt_length": 5, "model.vocab_size": 6},
    "dyck1": {"data.language_law": "official", "data.language_params": "K=6", "data.word_length": 12,
              "train.prompt_length": 8, "model.vocab_size": 5},
    "dyck2": {"data.language_law": "official", "data.language_params": "K=5", "data.word_length": 10,
              "train.prompt_length": 8, "model.vocab_size": 7},
    "not_nested": {"data.language_law": "official", "data.language_params": "K=4", "data.word_length": 8,
                   "train.prompt_length": 8, "model.vocab_size": 7},
    "ban": {"data.language_law": "pcfg", "data.word_length": 12, "train.prompt_length": 6, "model.vocab_size": 5},
    "bban": {"data.language_law": "official", "data.language_params": "M=24", "data.word_length": 24,
             "train.prompt_length": 8, "model.vocab_size": 5},
    "anbm": {"data.language_law": "official", "data.language_params": "M=24", "data.word_length": 22,
             "train.prompt_length": 8, "model.vocab_size": 5},
}  # fmt: skip


def language_overrides(name: str) -> dict[str, object]:
    """Overrides that turn a preset into training on the library language ``name`` (:data:`LANGUAGES`)."""
    if name not in LANGUAGES:
        raise InputError(f"language must be one of {sorted(LANGUAGES)} (anbn is the official experiment), got {name!r}")
    return {
        "data.language": name,
        "data.law": "pcfg",
        "data.batch_size": 128,
        "model.mask_pad_keys": False,
        "train.max_pred_length": 48,
    } | LANGUAGES[name]


def apply_overrides(config: RunConfig, overrides: dict[str, object]) -> RunConfig:
    """A copy of ``config`` with ``{"section.key": value}`` replaced (strings are parsed)."""
    sections: dict[str, dict[str, Any]] = {"model": {}, "data": {}, "train": {}}
    for key, value in overrides.items():
        section, _, name = key.partition(".")
        if section not in sections or not name:
            raise InputError(f"override {key!r} must look like model.KEY, data.KEY or train.KEY")
        current_cfg = getattr(config, section)
        known = {f.name for f in fields(current_cfg)}
        if name not in known:
            raise InputError(f"override {key!r}: {section} has no field {name!r} (fields: {', '.join(sorted(known))})")
        current = getattr(current_cfg, name)
        sections[section][name] = coerce(value, current, key) if isinstance(value, str) else value
    return RunConfig(
        dataclasses.replace(config.model, **sections["model"]),
        dataclasses.replace(config.data, **sections["data"]),
        dataclasses.replace(config.train, **sections["train"]),
        config.preset,
    )


def preset(name: str, **overrides: object) -> RunConfig:
    """The preset ``name`` (``"cpu"``, ``"paper"``, ``"tiny"``), then ``overrides`` ("section.key")."""
    if name not in PRESETS:
        raise InputError(f"preset must be one of {tuple(PRESETS)}, got {name!r}")
    base = RunConfig(preset=name)
    flat = {f"{s}.{k}": v for s, kv in PRESETS[name].items() for k, v in kv.items()}
    return apply_overrides(apply_overrides(base, flat), overrides)
