"""``nonident anbn``: the exact facts of the aⁿbⁿ distribution.

Thin: parses arguments, builds the law, calls :mod:`exact`, prints a table or JSON.
"""

from __future__ import annotations

import argparse
from typing import Any

from exact.anbn.distribution import AnbnDistribution
from exact.anbn.enumeration import enumerate_prompts
from exact.anbn.laws import MAX_TABLE_N, GeometricLength, LengthLaw, TruncatedLength, UniformLength
from exact.core.cli import CliError, add_json_flag, command_main, print_json, print_table


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "anbn",
        help="exact entropy, loss floors, truncated mass and prompt counts of aⁿbⁿ",
        description="Exact facts of the aⁿbⁿ data distribution (uniform n as in the official code, or the PCFG).",
    )
    p.add_argument("--law", choices=("uniform", "pcfg"), default="uniform", help="length law of n (default uniform)")
    p.add_argument("--n-max", type=int, default=None, help="uniform law: n ∈ 1..N (default 128)")
    p.add_argument("--rho", default=None, help="pcfg law: probability of S → a S b, in (0, 1); e.g. 0.9 or 9/10")
    p.add_argument(
        "--max-len", type=int, default=None, help="pcfg law: keep strings of at most L a/b symbols (n ≤ L/2)"
    )
    p.add_argument("--prompt-length", type=int, default=8, help="length k of the a/b prompts to classify (default 8)")
    add_json_flag(p)
    p.set_defaults(
        run=run,
        flag_names={"n_max": "--n-max", "rho": "--rho", "prompt_length": "--prompt-length", "max_len": "--max-len"},
    )


def _int_flags(args: argparse.Namespace) -> None:
    """argparse gives ``[]`` for ``--max-len=--`` (it drops the ``--``); refuse anything but an int, and sizes
    above the tables of :mod:`exact.anbn.laws` (named by their flag, not by the derived table size)."""
    for flag, value in (("--n-max", args.n_max), ("--max-len", args.max_len), ("--prompt-length", args.prompt_length)):
        if value is not None and not isinstance(value, int):
            raise CliError(f"{flag} needs an integer value, got {value!r}")
    if args.n_max is not None and args.n_max > MAX_TABLE_N:
        raise CliError(f"--n-max must be at most {MAX_TABLE_N:,} (the largest tabulated law), got {args.n_max}")
    if args.max_len is not None and args.max_len // 2 > MAX_TABLE_N:
        raise CliError(f"--max-len must be at most {2 * MAX_TABLE_N + 1:,} (n ≤ {MAX_TABLE_N:,}), got {args.max_len}")


def _law(args: argparse.Namespace) -> tuple[LengthLaw, TruncatedLength | None]:
    """(law used for the facts, truncated sub-law or None)."""
    _int_flags(args)
    if args.law == "uniform":
        if args.rho is not None or args.max_len is not None:
            raise CliError("--rho and --max-len apply to --law pcfg, not --law uniform")
        return UniformLength(128 if args.n_max is None else args.n_max), None
    if args.n_max is not None:
        raise CliError("--n-max applies to --law uniform; use --rho and --max-len with --law pcfg")
    if args.rho is None:
        raise CliError("--law pcfg needs --rho")
    law = GeometricLength(args.rho)
    if args.max_len is None:
        return law, None
    if args.max_len < 2:
        raise CliError(f"--max-len must be ≥ 2 (one a and one b), got {args.max_len}")
    return law, law.truncate(args.max_len // 2)


def compute(args: argparse.Namespace) -> dict[str, Any]:
    law, truncated = _law(args)
    p = AnbnDistribution(law)
    doc: dict[str, Any] = {"facts": p.facts().as_dict()}
    if truncated is not None:
        conditioned = AnbnDistribution(truncated.renormalised())
        try:  # exact rationals while their size is reasonable
            dropped_exact: str | None = str(truncated.dropped_mass_exact)
            kept_exact: str | None = str(truncated.kept_mass_exact)
        except ValueError:
            dropped_exact = kept_exact = None
        doc["truncation"] = {
            "max_len": args.max_len,
            "n_max": truncated.n_max,
            "truncated_mass": truncated.dropped_mass,
            "truncated_mass_exact": dropped_exact,
            "kept_mass_exact": kept_exact,
            "entropy_of_kept_part": truncated.entropy(),
            "facts_conditioned_on_n_le_n_max": conditioned.facts().as_dict(),
        }
    table = enumerate_prompts(p, args.prompt_length)
    doc["prompts"] = {"prompt_length": args.prompt_length, **table.counts()}
    return doc


def run(args: argparse.Namespace) -> int:
    doc = compute(args)
    if args.json:
        print_json(doc)
        return 0
    f = doc["facts"]
    rows: list[tuple[str, Any]] = [("law", ", ".join(f"{k}={v}" for k, v in f["law"].items()))]
    rows += [(k.replace("_", " "), v) for k, v in f.items() if k != "law" and v is not None]
    if "truncation" in doc:
        t = doc["truncation"]
        rows += [
            (
                f"truncation at n ≤ {t['n_max']}: truncated mass",
                f"{t['truncated_mass_exact']} ≈ {t['truncated_mass']:.6g}"
                if t["truncated_mass_exact"] is not None
                else f"{t['truncated_mass']!r} (float; exact rational too large)",
            ),
            ("entropy of the kept part (not renormalised)", t["entropy_of_kept_part"]),
        ]
        c = t["facts_conditioned_on_n_le_n_max"]
        rows += [
            ("conditioned on n ≤ n_max: padded loss floor", c["padded_loss_floor"]),
            ("conditioned on n ≤ n_max: PAD-ignored floor", c["pad_ignored_loss_floor"]),
        ]
    rows += [
        (f"prompts of length {args.prompt_length}: {k}", v) for k, v in doc["prompts"].items() if k != "prompt_length"
    ]
    print_table("aⁿbⁿ exact facts (nats)", rows)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m exact.anbn.cli …`` is ``nonident anbn …``."""
    return command_main(add_parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
