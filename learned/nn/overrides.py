"""Parsing ``--set SECTION.KEY=VALUE`` overrides and seed lists, shared by every experiment's config."""

from __future__ import annotations

from exact.core.validate import InputError

__all__ = ["MAX_SEEDS", "coerce", "parse_seeds"]


def coerce(raw: str, current: object, name: str) -> object:
    """``raw`` (the text of a ``--set`` value) parsed to the type of the field's ``current`` value.

    A tuple field reads seeds-like integer lists (``0-2``, ``1,5,7``); a None field reads a number.
    """
    if isinstance(current, bool):
        if raw.lower() in ("true", "1", "yes"):
            return True
        if raw.lower() in ("false", "0", "no"):
            return False
        raise InputError(f"{name} expects true/false, got {raw!r}")
    if isinstance(current, tuple):
        try:
            return parse_seeds(raw)
        except InputError as exc:
            raise InputError(f"{name}: {exc}") from None
    if current is None:  # an optional float (train.weight_decay)
        try:
            return float(raw)
        except ValueError:
            raise InputError(f"{name} expects a number, got {raw!r}") from None
    try:
        if isinstance(current, str):
            return raw
        return int(raw) if isinstance(current, int) else float(raw)
    except ValueError:
        raise InputError(f"{name} expects a {type(current).__name__}, got {raw!r}") from None


#: The most seeds one run stacks (the paper reports means over about 50 per arm).
MAX_SEEDS = 1024


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0-2"`` → (0, 1, 2); ``"1,5,7"`` → (1, 5, 7); ``"3"`` → (3,); at most :data:`MAX_SEEDS`."""
    out: list[int] = []
    try:
        for part in str(text).split(","):
            lo, sep, hi = part.strip().partition("-")
            span = range(int(lo), int(hi) + 1) if sep else range(int(lo), int(lo) + 1)
            if len(out) + max(0, span.stop - span.start) > MAX_SEEDS:  # (len() overflows for huge ranges)
                raise InputError(f"seeds {text!r} name more than {MAX_SEEDS} seeds, the limit of one run")
            out.extend(span)
    except ValueError as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"seeds must look like 0-2 or 1,5,7, got {text!r}") from None
    if not out or min(out) < 0 or len(set(out)) != len(out):
        raise InputError(f"seeds must be distinct non-negative integers, got {text!r}")
    return tuple(out)
