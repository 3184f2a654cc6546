"""The registry of claims and the records they produce.

A claim is a small named function that *computes* its evidence and returns a
:class:`Outcome`: the check on the real object and the same check applied to a
deliberately wrong variant (the negative control). The claim passes only if the
check holds **and** rejects the control — a check that cannot fail proves nothing.

Register with :func:`claim`; run with :func:`run_claims`, which never lets one
claim's exception stop the others (an exception is a failure with its message).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Check", "Outcome", "Claim", "ClaimRecord", "claim", "registered", "run_claims"]


@dataclass(frozen=True)
class Check:
    """One application of a check: did it hold, and the numbers it computed."""

    passed: bool
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What a claim function returns."""

    check: Check
    control: Check
    control_description: str


@dataclass(frozen=True)
class Claim:
    """A registered claim."""

    id: str
    title: str
    statement: str
    method: str
    source: str
    func: Callable[[], Outcome]


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
    negative_control: dict[str, Any]
    seconds: float
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_REGISTRY: dict[str, Claim] = {}


def claim(*, id: str, title: str, statement: str, method: str, source: str) -> Callable[
    [Callable[[], Outcome]], Callable[[], Outcome]
]:
    """Decorator registering a claim function under ``id``."""

    def register(func: Callable[[], Outcome]) -> Callable[[], Outcome]:
        if id in _REGISTRY and _REGISTRY[id].func is not func:
            raise ValueError(f"claim id {id!r} is registered twice")
        _REGISTRY[id] = Claim(id, title, statement, method, source, func)
        return func

    return register


def registered() -> dict[str, Claim]:
    """All claims, in registration order (importing the claim modules first)."""
    import proofs_check.claims  # noqa: F401  (registers the claims on import)

    return dict(_REGISTRY)


def _run_one(c: Claim) -> ClaimRecord:
    start = time.perf_counter()
    try:
        out = c.func()
    except Exception as exc:  # a failing claim must not hide the others
        return ClaimRecord(
            c.id, c.title, c.statement, c.method, c.source, "fail", {}, {},
            time.perf_counter() - start,
            f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}",
        )
    seconds = time.perf_counter() - start
    rejected = not out.control.passed
    status = "pass" if out.check.passed and rejected else "fail"
    control = {
        "description": out.control_description,
        "rejected": rejected,
        "evidence": out.control.evidence,
    }
    return ClaimRecord(
        c.id, c.title, c.statement, c.method, c.source, status,
        {"held": out.check.passed, **out.check.evidence}, control, seconds,
    )


def run_claims(
    only: Iterable[str] | None = None,
    progress: Callable[[int, int, ClaimRecord], None] | None = None,
) -> list[ClaimRecord]:
    """Run the registered claims (or those in ``only``) and return their records.

    Raises
    ------
    ValueError
        If ``only`` names a claim that is not registered.
    """
    claims = registered()
    ids = list(claims) if only is None else list(only)
    unknown = [i for i in ids if i not in claims]
    if unknown:
        raise ValueError(f"only names unknown claim {unknown[0]!r}; known: {', '.join(claims)}")
    records = []
    for n, cid in enumerate(ids, 1):
        rec = _run_one(claims[cid])
        records.append(rec)
        if progress is not None:
            progress(n, len(ids), rec)
    return records
