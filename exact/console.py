"""The ``nonident`` console script: one root parser over every package's commands.

The commands are found through the ``nonident.commands`` entry points declared in
``pyproject.toml`` (``anbn``, ``check``, ``ginc``, ``icl``, and ``train``/``evaluate``/``reproduce``
from :mod:`learned`): each names a function ``add_parser(subparsers)`` in a light
module that imports its heavy dependencies (torch, sympy) only inside the command
it runs. So this root depends on no upper layer, ``nonident --help`` and
``nonident anbn`` never load torch, and a new command is one entry point.

``main(argv)`` returns the exit code: 0 success, 1 a failed check or an internal
error (with its traceback), 2 a user error (one line), 130 interrupted
(:func:`exact.core.cli.dispatch`). ``python -m exact`` is the same program.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib import metadata

from exact.core.cli import EXIT_INTERRUPTED, Parser, dispatch
from exact.core.heap import keep_freed_memory
from exact.core.threads import configure_threads

__all__ = ["COMMAND_GROUP", "build_parser", "main"]

#: The entry-point group that lists the subcommands.
COMMAND_GROUP = "nonident.commands"


def _version() -> str:
    try:
        return metadata.version("nonident")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def build_parser() -> Parser:
    """The root parser with every registered command (each module imported, none run)."""
    parser = Parser(
        prog="nonident",
        description="Exact, checkable non-identifiability (Reizinger et al., ICML 2024, arXiv 2405.01964).",
    )
    parser.add_argument("--version", action="version", version=f"nonident {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    entries = sorted(metadata.entry_points(group=COMMAND_GROUP), key=lambda ep: ep.name)
    if not entries:
        raise RuntimeError(f"no {COMMAND_GROUP!r} entry points: install the package (pip install -e .)")
    for ep in entries:
        ep.load()(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    configure_threads()  # first: OpenMP reads it when torch loads (exact.core.threads)
    keep_freed_memory()  # training steps reuse freed memory instead of page-faulting it (exact.core.heap)
    try:
        parser = build_parser()  # imports every command module: Ctrl-C here is still one line
    except KeyboardInterrupt:
        print("nonident: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return dispatch(parser, argv)


if __name__ == "__main__":  # python -m exact.console
    sys.exit(main())
