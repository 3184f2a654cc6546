"""The command-line toolkit every ``nonident`` subcommand is built with.

* :class:`Parser` — argparse whose errors are one line on stderr and exit code 2;
* :class:`CliError` — a user error raised by a command (one line, exit 2);
* flag groups defined once: :func:`add_json_flag`, :func:`add_out_flag`, :func:`add_device_flag`;
* :func:`dispatch` — parse, run one command and map its outcome to an exit code:
  user errors (:class:`CliError`, :class:`~exact.core.validate.InputError`,
  :class:`~exact.core.validate.InputTypeError`, an ``OSError`` such as an
  unwritable ``--out``) print one line and return 2; Ctrl-C returns 130; any
  other exception is a bug: its traceback is printed and the exit code is 1;
* :func:`command_main` — ``python -m exact.anbn.cli …`` runs one command alone;
* :func:`print_json` and :func:`print_table` for output.

The ``nonident`` root (:mod:`exact.console`) finds the commands through the
``nonident.commands`` entry points, so this layer knows none of them.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from exact.core.artifacts import dumps_strict
from exact.core.validate import InputError, InputTypeError

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "USER_ERRORS",
    "CliError",
    "Parser",
    "add_device_flag",
    "add_json_flag",
    "add_out_flag",
    "command_main",
    "dispatch",
    "print_json",
    "print_table",
]

EXIT_USAGE = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


#: Exceptions that are the user's, not the program's: one line, exit code 2.
USER_ERRORS: tuple[type[BaseException], ...] = (CliError, InputError, InputTypeError, OSError)

#: ``add_parser(subparsers)``: how a command module adds its subcommand(s).
Registrar = Callable[[Any], None]


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        # argparse drops a bare "--" even from "--shots=--", leaving a one-value option with no value
        if action.nargs is None and action.option_strings and arg_strings in ([], ["--"]):
            self.error(f"argument {'/'.join(action.option_strings)}: expected one argument")
        return super()._get_values(action, arg_strings)


def add_json_flag(p: argparse.ArgumentParser, help: str = "machine-readable output (JSON on stdout)") -> None:
    p.add_argument("--json", action="store_true", help=help)


def add_out_flag(p: argparse.ArgumentParser, *, default: str | None, help: str) -> None:
    p.add_argument("--out", default=default, help=help)


def add_device_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda[:i] (default auto)")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _with_flags(message: str, flag_names: dict[str, str] | None) -> str:
    """``message`` with each library parameter name replaced by the flag the user typed.

    A command sets ``flag_names`` (``set_defaults(flag_names={"n_symbols": "--vocab"})``) so that an
    error raised deep in the library (``n_symbols=100000000 …``) names ``--vocab``.
    """
    for param, flag in (flag_names or {}).items():
        message = re.sub(rf"(?<![\w.-]){re.escape(param)}(?![\w])", flag, message)
    return message


def dispatch(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse ``argv``, run the chosen command's ``run(args)`` and return the exit code (see the module)."""
    try:
        args = parser.parse_args(argv)
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    name = f"{parser.prog} {getattr(args, 'command', '')}".strip()
    previous = _terminate_as_interrupt()
    try:
        return int(args.run(args))
    except USER_ERRORS as exc:
        print(f"{name}: error: {_with_flags(_one_line(exc), getattr(args, 'flag_names', None))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        hint = getattr(args, "on_interrupt", None)
        said = hint() if callable(hint) else None
        print(f"{name}: interrupted" + (f"; {said}" if said else ""), file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:  # a bug: show where it happened
        traceback.print_exc()
        print(f"{name}: internal error (the traceback above is a bug, not a usage problem)", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _terminate_as_interrupt() -> Any:
    """SIGTERM (``kill``, ``timeout``) unwinds like Ctrl-C, so a command cleans up what it started.

    Returns the previous handler (``None`` off the main thread, where handlers cannot be set).
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_interrupt)


def command_main(add_parser: Registrar, argv: Sequence[str] | None = None, *, prog: str = "nonident") -> int:
    """Run the single command that ``add_parser`` defines (``python -m <its module> …``)."""
    parser = Parser(prog=prog)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    add_parser(sub)
    names = list(sub.choices)
    args = list(sys.argv[1:] if argv is None else argv)
    if len(names) == 1:  # `python -m exact.anbn.cli --json` means `nonident anbn --json`
        args = [names[0], *args]
    return dispatch(parser, args)


def print_table(title: str, rows: Sequence[tuple[str, Any]]) -> None:
    """A readable two-column table on stdout."""
    width = max((len(k) for k, _ in rows), default=0)
    print(title)
    print("-" * len(title))
    for key, value in rows:
        shown = f"{value:.12g}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")


def print_json(doc: Any) -> None:
    """``doc`` as strict JSON on stdout (infinities as ``"inf"``/``"-inf"``; :func:`exact.core.artifacts.dumps_strict`)."""
    print(dumps_strict(doc))
