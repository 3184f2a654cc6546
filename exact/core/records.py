"""Frozen dataclasses that write and strictly read their own JSON layout.

The experiments write their results as JSON (``RUN_DIR/evaluation.json``,
``reports/rule-extrapolation.json``; docs/paper.md §5, §6.1) and the claims read
them back. A :class:`Record` is a frozen dataclass whose JSON object holds its
fields under their names, in declaration order, so the declaration is the schema:

* :meth:`Record.as_dict` writes a nested Record as its ``as_dict()``, a
  ``tuple[T, ...]`` as a list, a ``dict[str, T]`` as a new dict, anything else as
  it is; a field whose metadata is :data:`OMIT_IF_NONE` is left out while None.
* :meth:`Record.from_dict` takes exactly the declared keys (an ``OMIT_IF_NONE``
  field may be absent) and checks each value against its declared type: ``int``
  (``bool`` excluded), ``float`` (an ``int`` is kept as it is, so a parsed
  document re-serialises to the same bytes), ``str``, ``bool``, a Record,
  ``tuple[T, ...]``, ``dict[str, T]``, ``Any`` (unchecked) or ``T | None``. Every
  error is an :class:`~exact.core.validate.InputError` naming the key and its path.

A class whose layout is not "one key per field" overrides the two methods.

>>> from dataclasses import dataclass, field
>>> @dataclass(frozen=True)
... class Point(Record, at="point"):
...     x: int
...     label: str | None = field(default=None, kw_only=True, metadata=OMIT_IF_NONE)
...     ys: tuple[float, ...] = ()
>>> Point(1, ys=(0.5, 2)).as_dict()
{'x': 1, 'ys': [0.5, 2]}
>>> Point.from_dict({"x": 1, "label": "p", "ys": [0.5, 2]})
Point(x=1, label='p', ys=(0.5, 2))
>>> Point.from_dict({"x": 1, "ys": [0.5, True]})
Traceback (most recent call last):
exact.core.validate.InputError: point.ys[1] must be a number, got True
>>> Point.from_dict({"x": 1, "y": []})
Traceback (most recent call last):
exact.core.validate.InputError: point: missing key 'ys', unexpected key 'y' (expected keys x, ys; optional label)
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from dataclasses import Field, fields
from typing import TYPE_CHECKING, Any, ClassVar, Self, Union, get_args, get_origin, get_type_hints

from exact.core.validate import InputError

__all__ = ["OMIT_IF_NONE", "Record", "read_value"]

#: Field metadata: leave the key out of :meth:`Record.as_dict` while the value is None (and accept its absence);
#: with ``kw_only=True`` the field may sit before required ones, where its key belongs.
OMIT_IF_NONE: Mapping[str, bool] = types.MappingProxyType({"omit_if_none": True})

#: The scalar types: what a value must be (one, and a list of them), and the check.
_SCALARS: dict[Any, tuple[str, str, Callable[[object], bool]]] = {
    int: ("an integer", "integers", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    float: ("a number", "numbers", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    str: ("a string", "strings", lambda v: isinstance(v, str)),
    bool: ("true or false", "booleans", lambda v: isinstance(v, bool)),
}


def _got(value: object) -> str:
    """``value``'s repr if it is a scalar, else its type's name (a whole list in a message helps nobody)."""
    return repr(value) if value is None or isinstance(value, int | float | str) else type(value).__name__


def _optional(tp: Any) -> Any:
    """``T`` for ``T | None``, else None."""
    if get_origin(tp) not in (Union, types.UnionType):
        return None
    rest = [a for a in get_args(tp) if a is not type(None)]
    if len(rest) != 1:
        raise TypeError(f"a Record field may be T | None, not {tp!r}")
    return rest[0]


def read_value(tp: Any, value: object, at: str) -> Any:
    """``value`` (parsed JSON at path ``at``) checked against the declared type ``tp``; see the module docstring."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return value
    if (inner := _optional(tp)) is not None:
        return None if value is None else read_value(inner, value, at)
    if isinstance(tp, type) and issubclass(tp, Record):
        return tp.from_dict(value, at=at)  # type: ignore[arg-type]  # from_dict checks that it is a mapping
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        if not isinstance(value, list | tuple):
            of = f" of {_SCALARS[args[0]][1]}" if args[0] in _SCALARS else ""
            raise InputError(f"{at} must be a list{of}, got {_got(value)}")
        return tuple(read_value(args[0], x, f"{at}[{i}]") for i, x in enumerate(value))
    if origin is dict and args[:1] == (str,):
        if not isinstance(value, Mapping):
            raise InputError(f"{at} must be a JSON object, got {_got(value)}")
        return {k: read_value(args[1], v, f"{at}.{k}") for k, v in value.items()}
    if tp not in _SCALARS:
        raise TypeError(f"{at}: a Record field cannot be of type {tp!r}")
    what, _, ok = _SCALARS[tp]
    if not ok(value):
        raise InputError(f"{at} must be {what}, got {_got(value)}")
    return value


def _write(tp: Any, value: Any) -> Any:
    """``value`` of declared type ``tp`` as JSON-ready data (the inverse of :func:`read_value`)."""
    if value is None or isinstance(value, Record):
        return value if value is None else value.as_dict()
    tp = _optional(tp) or tp
    origin, args = get_origin(tp), get_args(tp)
    if origin is tuple:
        return [_write(args[0], x) for x in value]
    if origin is dict:
        return {k: _write(args[1], v) for k, v in value.items()}
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The resolved field types of ``cls``, once (at first use: they may name classes declared after it)."""
    return _HINTS[cls] if cls in _HINTS else _HINTS.setdefault(cls, get_type_hints(cls))


class Record:
    """Base of a frozen dataclass read from and written to one JSON object (see the module docstring).

    ``class T(Record, at="name")`` sets the path :meth:`from_dict` reports when
    no ``at`` is given (default: the class name).
    """

    _at: ClassVar[str]
    if TYPE_CHECKING:
        __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

        def __init__(self, *args: Any, **kwargs: Any) -> None: ...

    def __init_subclass__(cls, *, at: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._at = cls.__name__ if at is None else at

    def as_dict(self) -> dict[str, Any]:
        """The fields in declaration order, each written by its declared type."""
        hints = _hints(type(self))
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if not (value is None and f.metadata.get("omit_if_none")):
                out[f.name] = _write(hints[f.name], value)
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, at: str | None = None) -> Self:
        """Read :meth:`as_dict`'s layout strictly; ``at`` names the place in the document for error messages."""
        at = cls._at if at is None else at
        if not isinstance(doc, Mapping):
            raise InputError(f"{at}: expected a JSON object, got {type(doc).__name__}")
        hints, spec = _hints(cls), fields(cls)
        required = [f.name for f in spec if not f.metadata.get("omit_if_none")]
        optional = [f.name for f in spec if f.metadata.get("omit_if_none")]
        missing = [k for k in required if k not in doc]
        unexpected = [k for k in doc if k not in required and k not in optional]
        if missing or unexpected:
            problems = [f"missing key {k!r}" for k in missing] + [f"unexpected key {k!r}" for k in unexpected]
            expected = ", ".join(required) + (f"; optional {', '.join(optional)}" if optional else "")
            raise InputError(f"{at}: {', '.join(problems)} (expected keys {expected})")
        values: dict[str, Any] = dict.fromkeys(optional)  # absent: None; present: never null (it would not round-trip)
        for name in doc:
            tp = (_optional(hints[name]) or hints[name]) if name in optional else hints[name]
            values[name] = read_value(tp, doc[name], f"{at}.{name}")
        return cls(**values)
