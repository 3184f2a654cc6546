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

Register with :func:`claim`; run with :func:`run_claims`, which never lets one
claim's exception stop the others (an exception is a failure with its message).

A claim declares what it needs beyond the exact engines (``needs``):

* ``"torch"`` — it loads trained transformers (:mod:`learned`);
* ``"artifacts"`` — it reads committed artifacts; its function takes the keyword
  ``artifacts`` (a directory), which ``nonident check --artifacts DIR`` passes on.

The report order is :data:`proofs_check.claims.REPORT_ORDER`, the one list of claim
ids: a registered claim missing from it, or an id in it that nothing registers, is an error.
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from exact.core.validate import InputError

__all__ = ["Check", "Control", "Figure", "Outcome", "Claim", "ClaimRecord", "claim", "registered", "run_claims"]


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


def registered() -> dict[str, Claim]:
    """All claims in report order (:data:`proofs_check.claims.REPORT_ORDER`).

    Raises
    ------
    RuntimeError
        If a registered claim is missing from the order or an id in the order is not registered.
    """
    from proofs_check.claims import REPORT_ORDER  # importing the package registers the claims

    missing = [cid for cid in _REGISTRY if cid not in REPORT_ORDER]
    ghosts = [cid for cid in REPORT_ORDER if cid not in _REGISTRY]
    if missing or ghosts or len(set(REPORT_ORDER)) != len(REPORT_ORDER):
        raise RuntimeError(
            f"proofs_check.claims.REPORT_ORDER must list every registered claim once: not listed {missing}, "
            f"listed but not registered {ghosts}"
        )
    return {cid: _REGISTRY[cid] for cid in REPORT_ORDER}


def _run_one(c: Claim, artifacts: Path | None = None) -> ClaimRecord:
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


def run_claims(
    only: Iterable[str] | None = None,
    progress: Callable[[int, int, ClaimRecord], None] | None = None,
    artifacts: str | Path | None = None,
) -> list[ClaimRecord]:
    """Run the registered claims (or those in ``only``) and return their records.

    ``artifacts`` is the directory of committed artifacts that claims needing them read
    (``nonident check`` passes ``reports``).

    Raises
    ------
    ValueError
        If ``only`` names a claim that is not registered.
    """
    claims = registered()
    ids = list(claims) if only is None else list(dict.fromkeys(only))  # each claim once, in order
    unknown = [i for i in ids if i not in claims]
    if unknown:
        raise InputError(f"only names unknown claim {unknown[0]!r}; known: {', '.join(claims)}")
    records = []
    for n, cid in enumerate(ids, 1):
        rec = _run_one(claims[cid], None if artifacts is None else Path(artifacts))
        records.append(rec)
        if progress is not None:
            progress(n, len(ids), rec)
    return records
