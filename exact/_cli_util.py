"""Shared CLI plumbing (private): one-line errors with exit code 2, tables, JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

EXIT_USAGE = 2


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def print_table(title: str, rows: Sequence[tuple[str, Any]]) -> None:
    """A readable two-column table on stdout."""
    width = max((len(k) for k, _ in rows), default=0)
    print(title)
    print("-" * len(title))
    for key, value in rows:
        shown = f"{value:.12g}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")


def print_json(doc: Any) -> None:
    print(json.dumps(doc, indent=2, ensure_ascii=False, default=str))
