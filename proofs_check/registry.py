"""The registry of claims and the records they produce.

A claim is a small named function that *computes* its evidence and returns an
:class:`Outcome`: the check on the real object and the same check applied to
one or more deliberately wrong variants (the negative controls). The claim
passes only if the check holds **and** refutes every control — a check that
cannot fail proves nothing. A control counts as refuted only when its failure
is backed by something concrete (``Check.refuted``): a non-zero number, a
mismatch of computed values, or a sign SymPy decides. A control that merely
could not be proved (an identity that did not simplify, a sign SymPy cannot
decide) is *inconclusive* and makes the claim fail.

Register with :func:`claim`; run one with :func:`run_one`, which never lets a
claim's exception escape (an exception is a failure with its message). The catalog
of claims, their report order and ``run_claims`` are in :mod:`proofs_check.catalog`.

A claim declares what it needs beyond the exact engines (``needs``):

* ``"torch"`` — it loads trained transformers (:mod:`learned`);
* ``"artifacts"`` — it reads committed artifacts; its function takes the keyword
  ``artifacts`` (a directory), which ``nonident check --artifacts DIR`` passes on.

"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from exact.core.validate import InputError

__all__ = [
    "NEEDS",
    "Check",
    "Control",
    "Figure",
    "Outcome",
    "Claim",
    "ClaimRecord",
    "claim",
    "registrations",
    "run_one",
]


@dataclass(frozen=True)
class Check:
    """One application of a check: did it hold, was it refuted, and the numbers it computed.

    Attributes
    ----------
    passed : bool
        The statement was proved (symbolically) or matched (numerically).
    refuted : bool
        The statement was shown false concretely. ``passed`` and ``refuted`` are
        never both true; both false means *inconclusive*.
    """

    passed: bool
    evidence: dict[str, Any] = field(default_factory=dict)
    refuted: bool = False

    def __post_init__(self) -> None:
        if self.passed and self.refuted:
            raise InputError("a check cannot both pass and be refuted")

    @classmethod
    def numeric(cls, passed: bool, evidence: dict[str, Any]) -> Check:
        """A comparison of computed values: failing it is a concrete refutation."""
        return cls(bool(passed), evidence, refuted=not passed)

    @classmethod
    def all_of(cls, checks: dict[str, Check], **extra: Any) -> Check:
        """Conjunction: passes if all pass; refuted if any part is refuted."""
        parts = list(checks.values())
        return cls(
            all(c.passed for c in parts),
            {**{name: c.evidence for name, c in checks.items()}, **extra},
            refuted=any(c.refuted for c in parts),
        )


@dataclass(frozen=True)
class Control:
    """A negative control: a deliberately wrong variant and the check's verdict on it."""

    description: str
    check: Check


@dataclass(frozen=True)
class Figure:
    """A PNG a claim computed (written next to the report as ``proof-check-<name>.png``)."""

    name: str
    caption: str
    png: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", self.name):
            raise InputError(f"figure name must be lower-case letters, digits and '-', got {self.name!r}")
        if not self.png.startswith(b"\x89PNG"):
            raise InputError(f"figure {self.name!r} is not a PNG")


@dataclass(frozen=True)
class Outcome:
    """What a claim function returns: the check, at least one negative control, optional figures."""

    check: Check
    controls: tuple[Control, ...]
    figures: tuple[Figure, ...] = ()

    def __post_init__(self) -> None:
        if not self.controls:
            raise InputError("an Outcome needs at least one negative control")


@dataclass(frozen=True)
class Claim:
    """A registered claim."""

    id: str
    title: str
    statement: str
    method: str
    source: str
    func: Callable[..., Outcome]
    needs: tuple[str, ...] = ()


#: What a claim may declare in ``needs``.
NEEDS = ("torch", "artifacts")


@dataclass(frozen=True)
class ClaimRecord:
    """The result of running one claim (JSON-ready through :meth:`as_dict`)."""

    id: str
    title: str
    statement: str
    method: str
    source: str
    status: str  # "pass" | "fail"
    evidence: dict[str, Any]
    negative_controls: list[dict[str, Any]]
    seconds: float
    error: str | None = None
    figures: list[Figure] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["figures"] = [
            {"name": f.name, "caption": f.caption, "file": f"proof-check-{f.name}.png"} for f in self.figures
        ]
        return d


_REGISTRY: dict[str, Claim] = {}


def claim(
    *, id: str, title: str, statement: str, method: str, source: str, needs: tuple[str, ...] = ()
) -> Callable[[Callable[..., Outcome]], Callable[..., Outcome]]:
    """Decorator registering a claim function under ``id`` (``needs``: see the module docstring)."""
    unknown = set(needs) - set(NEEDS)
    if unknown:
        raise InputError(f"claim {id!r}: needs must be among {NEEDS}, got {sorted(unknown)}")

    def register(func: Callable[..., Outcome]) -> Callable[..., Outcome]:
        if id in _REGISTRY and _REGISTRY[id].func is not func:
            raise InputError(f"claim id {id!r} is registered twice")
        _REGISTRY[id] = Claim(id, title, statement, method, source, func, tuple(needs))
        return func

    return register


def registrations() -> dict[str, Claim]:
    """Every claim registered so far, in registration order (a copy)."""
    return dict(_REGISTRY)


def run_one(c: Claim, artifacts: Path | None = None) -> ClaimRecord:
    start = time.perf_counter()
    try:
        if "artifacts" in c.needs:
            if artifacts is None:
                raise InputError(
                    f"claim {c.id!r} reads committed artifacts: pass artifacts=DIR (nonident check --artifacts)"
                )
            out = c.func(artifacts=Path(artifacts))
        else:
            out = c.func()
    except Exception as exc:  # a failing claim must not hide the others
        return ClaimRecord(
            c.id,
            c.title,
            c.statement,
            c.method,
            c.source,
            "fail",
            {},
            [],
            time.perf_counter() - start,
            f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}",
        )
    seconds = time.perf_counter() - start
    controls = [
        {
            "description": ctl.description,
            "rejected": (not ctl.check.passed) and ctl.check.refuted,
            "verdict": "refuted" if ctl.check.refuted else ("held" if ctl.check.passed else "inconclusive"),
            "evidence": ctl.check.evidence,
        }
        for ctl in out.controls
    ]
    status = "pass" if out.check.passed and all(ctl["rejected"] for ctl in controls) else "fail"
    return ClaimRecord(
        c.id,
        c.title,
        c.statement,
        c.method,
        c.source,
        status,
        {"held": out.check.passed, **out.check.evidence},
        controls,
        seconds,
        None,
        list(out.figures),
    )
