"""Lazy re-exports for package ``__init__`` modules (PEP 562).

A package whose implementation needs a heavy library (torch, sympy) re-exports its
public names without importing them: the module that defines a name is imported
on first access. So ``import learned`` costs nothing until a name is used, and a
command that never trains never loads torch.

>>> import sys, types
>>> pkg = types.ModuleType("demo")
>>> pkg.__getattr__, pkg.__dir__ = lazy_exports("demo", {"sqrt": "math"})
>>> pkg.sqrt(4.0)
2.0
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, names: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` exporting ``name`` from module ``names[name]``."""
    table = dict(names)

    def __getattr__(name: str) -> Any:
        try:
            module = table[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:
        return sorted(table)

    return __getattr__, __dir__
