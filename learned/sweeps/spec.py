"""A sweep: experiment, grammars, arms, seeds, preset and overrides → a list of jobs (docs/sweeps.md).

A sweep is written as a TOML file (or built from the flags of ``nonident reproduce``)::

    experiment = "rule-extrapolation"
    preset = "cpu"
    grammars = ["all"]          # or ["anbn", "dyck2", …]; "all" = aⁿbⁿ and every library language
    arms = ["ml", "oracle-corrected"]   # default: every arm of each grammar
    seeds = "0-2"               # default: the preset's
    runs = "runs"               # where the run directories go
    retries = 1                 # a failed job is tried again this many times

    [overrides]                 # `--set` overrides applied to every job
    "train.steps" = 500

Each :class:`Job` is one seed-batched training run plus its exact evaluation, in its own run
directory: ``RUNS/rule-extrapolation-PRESET/ARM`` for aⁿbⁿ (the layout of ``nonident reproduce
rule-extrapolation``, so both share finished runs) and ``RUNS/rule-extrapolation-PRESET/GRAMMAR/ARM``
for a library language. Every job's config is resolved and validated when the sweep is read,
before anything runs.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exact.core.validate import InputError
from learned.nn.overrides import parse_seeds
from learned.rule_extrapolation.config import LANGUAGES, PRESETS, language_overrides, preset
from learned.rule_extrapolation.reproduce import ARMS

__all__ = ["ANBN_ARMS", "EXPERIMENTS", "GRAMMARS", "LANGUAGE_ARMS", "Job", "SweepSpec", "read_sweep"]

EXPERIMENTS = ("rule-extrapolation",)
#: aⁿbⁿ's arms: (variant, completion loss), those of ``nonident reproduce rule-extrapolation``.
ANBN_ARMS: dict[str, tuple[str, str]] = dict(ARMS)
#: The arms of a library language (the official off-by-one is a quirk of the aⁿbⁿ code only).
LANGUAGE_ARMS: dict[str, tuple[str, str]] = {
    "ml": ("ml", "official"),
    "adversarial-corrected": ("adversarial", "corrected"),
    "oracle-corrected": ("oracle", "corrected"),
}
#: Every grammar a sweep can name, aⁿbⁿ first.
GRAMMARS = ("anbn", *LANGUAGES)
FIELDS = ("experiment", "preset", "grammars", "arms", "seeds", "runs", "retries", "overrides")
#: Config keys a sweep sets itself (an override would silently relabel a job): key → what to use instead.
RESERVED = {
    "train.variant": "each arm sets it (use the field 'arms')",
    "train.completion_loss": "each arm sets it (use the field 'arms')",
    "train.seeds": "use the field 'seeds'",
    "data.language": "use the field 'grammars'",
}


@dataclass(frozen=True)
class Job:
    """One seed-batched training run and its evaluation.

    Attributes
    ----------
    name : str — ``GRAMMAR/ARM``.
    run_dir : str — its run directory.
    config : dict — the resolved :class:`~learned.rule_extrapolation.config.RunConfig` as a dict.
    """

    name: str
    grammar: str
    arm: str
    run_dir: str
    config: dict[str, Any]


def arms_of(grammar: str) -> dict[str, tuple[str, str]]:
    return ANBN_ARMS if grammar == "anbn" else LANGUAGE_ARMS


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep (see the module docstring); :meth:`jobs` lists its jobs."""

    experiment: str = "rule-extrapolation"
    preset: str = "cpu"
    grammars: tuple[str, ...] = ("anbn",)
    arms: tuple[str, ...] = ()
    seeds: tuple[int, ...] | None = None
    runs: str = "runs"
    retries: int = 1
    overrides: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.experiment not in EXPERIMENTS:
            raise InputError(f"sweep field 'experiment' must be one of {list(EXPERIMENTS)}, got {self.experiment!r}")
        if self.preset not in PRESETS:
            raise InputError(f"sweep field 'preset' must be one of {list(PRESETS)}, got {self.preset!r}")
        grammars = tuple(GRAMMARS) if tuple(self.grammars) == ("all",) else tuple(self.grammars)
        bad = [g for g in grammars if g not in GRAMMARS]
        if bad or not grammars or len(set(grammars)) != len(grammars):
            raise InputError(
                f"sweep field 'grammars' must be distinct names from {list(GRAMMARS)} or ['all'], got {list(self.grammars)}"
            )
        object.__setattr__(self, "grammars", grammars)
        known = set(ANBN_ARMS) | set(LANGUAGE_ARMS)
        bad = [a for a in self.arms if a not in known]
        if bad or len(set(self.arms)) != len(self.arms):
            raise InputError(f"sweep field 'arms' must be distinct names from {sorted(known)}, got {list(self.arms)}")
        if not isinstance(self.retries, int) or isinstance(self.retries, bool) or not 0 <= self.retries <= 10:
            raise InputError(f"sweep field 'retries' must be an integer in [0, 10], got {self.retries!r}")
        if not isinstance(self.runs, str) or not self.runs:
            raise InputError(f"sweep field 'runs' must be a folder name, got {self.runs!r}")
        reserved = sorted(set(self.overrides) & set(RESERVED))
        if reserved:
            raise InputError(f"sweep field 'overrides' may not set {reserved[0]!r}: {RESERVED[reserved[0]]}")
        self.jobs()  # every job's config validated now, before anything runs

    def jobs(self) -> list[Job]:
        """The jobs, grammar by grammar, arms in their table order."""
        root = Path(self.runs) / f"rule-extrapolation-{self.preset}"
        out = []
        for g in self.grammars:
            for arm, (variant, loss) in arms_of(g).items():
                if self.arms and arm not in self.arms:
                    continue
                over: dict[str, object] = {} if g == "anbn" else language_overrides(g)
                over |= {"train.variant": variant, "train.completion_loss": loss}
                if self.seeds is not None:
                    over["train.seeds"] = self.seeds
                try:
                    cfg = preset(self.preset, **(over | self.overrides))
                except InputError as exc:
                    raise InputError(f"sweep job {g}/{arm}: {exc}") from None
                run_dir = root / arm if g == "anbn" else root / g / arm
                out.append(Job(f"{g}/{arm}", g, arm, str(run_dir), cfg.to_dict()))
        missing = [g for g in self.grammars if not any(j.grammar == g for j in out)]
        if missing:
            raise InputError(
                f"sweep field 'arms' {list(self.arms)} selects no arm of grammar {missing[0]!r} "
                f"(its arms: {list(arms_of(missing[0]))})"
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "preset": self.preset,
            "grammars": list(self.grammars),
            "arms": list(self.arms),
            "seeds": None if self.seeds is None else list(self.seeds),
            "runs": self.runs,
            "retries": self.retries,
            "overrides": dict(self.overrides),
        }


def _str_list(doc: dict[str, Any], key: str, source: str) -> tuple[str, ...]:
    value = doc.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise InputError(f"{source}: field {key!r} must be a list of strings, got {value!r}")
    if key in doc and not value:
        raise InputError(f"{source}: field {key!r} is empty (leave it out for the default)")
    return tuple(value)


def _override_text(key: str, value: Any, source: str) -> dict[str, str]:
    """One ``[overrides]`` entry as ``--set`` text; an unquoted dotted key arrives as a nested table."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for k, v in value.items():
            out |= _override_text(f"{key}.{k}", v, source)
        return out
    if isinstance(value, bool):
        return {key: "true" if value else "false"}
    if isinstance(value, list):
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in value):
            raise InputError(f"{source}: override {key!r} must be a number, string or list of integers, got {value!r}")
        return {key: ",".join(map(str, value))}
    if isinstance(value, (int, float, str)):
        return {key: str(value)}
    raise InputError(f"{source}: override {key!r} must be a number, string or list of integers, got {value!r}")


def read_sweep(path: str | Path, **defaults: Any) -> SweepSpec:
    """The sweep in the TOML file ``path``; ``defaults`` fill fields the file leaves out (e.g. ``runs``)."""
    source = f"sweep file {str(path)!r}"
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{source} cannot be read ({type(exc).__name__}: {exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{source} is not valid TOML: {exc}") from None
    unknown = sorted(set(doc) - set(FIELDS))
    if unknown:
        raise InputError(f"{source}: unknown field {unknown[0]!r} (fields: {', '.join(FIELDS)})")
    merged = defaults | doc
    seeds = merged.get("seeds")
    if isinstance(seeds, list) and all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        seeds = ",".join(map(str, seeds)) if seeds else ""
    if seeds is not None and (not isinstance(seeds, str) or not seeds.strip()):
        raise InputError(f"{source}: field 'seeds' must look like \"0-2\" or [0, 1, 2], got {merged['seeds']!r}")
    overrides = merged.get("overrides", {})
    if not isinstance(overrides, dict):
        raise InputError(f"{source}: field 'overrides' must be a table of \"section.key\" = value, got {overrides!r}")
    for key in ("experiment", "preset", "runs"):
        if key in merged and not isinstance(merged[key], str):
            raise InputError(f"{source}: field {key!r} must be a string, got {merged[key]!r}")
    try:
        return SweepSpec(
            experiment=merged.get("experiment", "rule-extrapolation"),
            preset=merged.get("preset", "cpu"),
            grammars=_str_list(merged, "grammars", source) or ("anbn",),
            arms=_str_list(merged, "arms", source),
            seeds=None if seeds is None else parse_seeds(seeds),
            runs=merged.get("runs", "runs"),
            retries=merged.get("retries", 1),
            overrides={k: v for key, value in overrides.items() for k, v in _override_text(key, value, source).items()},
        )
    except InputError as exc:
        raise InputError(f"{source}: {str(exc).removeprefix('sweep ')}") from None
