"""The ``nonident`` console script: one thin dispatcher over each package's CLI.

``main(argv)`` parses, runs one subcommand and returns its exit code. User
errors (``ValueError`` and bad arguments) print one line on stderr and exit 2,
never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from exact import cli as exact_cli
from exact import ginc_cli, icl_cli
from exact._cli_util import EXIT_USAGE, CliError, Parser
from learned import cli as learned_cli
from proofs_check import cli as check_cli


def build_parser() -> Parser:
    parser = Parser(prog="nonident", description="Exact, checkable non-identifiability (Reizinger et al., ICML 2024).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    check_cli.add_parser(sub)
    exact_cli.add_parser(sub)
    ginc_cli.add_parser(sub)
    icl_cli.add_parser(sub)
    learned_cli.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (CliError, ValueError, OSError) as exc:  # user errors, including unwritable --out paths
        print(f"nonident {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # python -m proofs_check.console
    sys.exit(main())
