"""``nonident ginc``: a generated GINC mixture, its prompt probabilities and the Bayes ICL curve.

Thin: parses arguments, builds a :class:`~exact.hmm.ginc.GincConfig`, calls
:mod:`exact`, prints tables or JSON (with provenance).
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

from exact.core.artifacts import provenance
from exact.core.cli import CliError, add_json_flag, command_main, print_json, print_table
from exact.core.rng import stream, stream_names
from exact.hmm.assumptions import check_assumptions
from exact.hmm.ginc import GincConfig, generate_ginc
from exact.hmm.prompts import check_curve_cost, icl_accuracy

#: GINC's shot counts (docs/official-code.md §5).
GINC_SHOTS = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "ginc",
        help="exact GINC mixture of HMMs: summary, assumptions, prompt probabilities, Bayes ICL accuracy",
        description=(
            "Generate a GINC mixture of HMMs (Xie et al. 2022) and print its summary, the checks of Xie's "
            "assumptions, log P(S_n) of the n-shot prompt set under pretraining and the Bayes predictor's "
            "ICL accuracy against GINC's label for n = 0, 1, 2, 4, … up to --shots (exact where the prompt "
            "space is small enough, otherwise a seeded estimate with a 95%% interval; the output says which)."
        ),
    )
    add_ginc_flags(p, GincConfig())
    p.add_argument("--k", type=int, default=3, help="example length: k−1 inputs and one label (default 3)")
    p.add_argument("--shots", type=int, default=64, help="largest shot count of the curve (default 64)")
    p.add_argument(
        "--prompts", type=int, default=1000, help="sampled prompts per shot count for estimates (default 1000)"
    )
    p.add_argument(
        "--max-enumeration", type=int, default=100_000, help="largest prompt space summed exactly (default 100000)"
    )
    add_json_flag(p)
    p.set_defaults(
        run=run,
        flag_names=GINC_FLAGS
        | {"shots": "--shots", "n_prompts": "--prompts", "max_enumeration": "--max-enumeration", "k": "--k"},
    )


#: The library parameter behind each generator flag, so that errors name the flag the user typed.
GINC_FLAGS = {
    "n_concepts": "--concepts",
    "n_values": "--values",
    "n_slots": "--slots",
    "n_symbols": "--vocab",
    "emission_smoothing": "--smoothing",
    "seed": "--seed",
}


def add_ginc_flags(p: argparse.ArgumentParser, defaults: GincConfig) -> None:
    """The GINC generator flags (``--concepts --values --slots --vocab --smoothing --seed``), defaults from ``defaults``.

    Shared by ``nonident ginc`` (GINC's own defaults) and ``nonident icl`` (the demo mixture);
    :func:`config_from_args` turns them back into a :class:`~exact.hmm.ginc.GincConfig`.
    """
    d = defaults
    p.add_argument("--concepts", type=int, default=d.n_concepts, help=f"pretraining concepts (default {d.n_concepts})")
    p.add_argument(
        "--values", type=int, default=d.n_values, help=f"values (entities) per hidden state (default {d.n_values})"
    )
    p.add_argument(
        "--slots",
        type=int,
        default=d.n_slots,
        help=f"slots (properties); slot 0 emits the delimiter (default {d.n_slots})",
    )
    p.add_argument(
        "--vocab", type=int, default=d.n_symbols, help=f"symbols including the delimiter '/' (default {d.n_symbols})"
    )
    p.add_argument(
        "--smoothing",
        type=float,
        default=d.emission_smoothing,
        help=f"emission smoothing η in [0, 1): B ← (1−η)B + η/vocab (default {d.emission_smoothing}; "
        "0 is GINC's deterministic emissions)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=d.seed,
        help=f"run seed (default {d.seed}): the generator uses it, sampled prompts and KL-rate samples "
        "its named random streams",
    )


def config_from_args(args: argparse.Namespace) -> GincConfig:
    """The generator configuration named by ``--concepts --values --slots --vocab --smoothing --seed``."""
    return GincConfig(
        n_concepts=args.concepts,
        n_values=args.values,
        n_slots=args.slots,
        n_symbols=args.vocab,
        emission_smoothing=args.smoothing,
        seed=args.seed,
    )


def compute(args: argparse.Namespace) -> dict[str, Any]:
    if args.shots < 0:
        raise CliError(f"--shots must be ≥ 0, got {args.shots}")
    config = config_from_args(args)
    start = time.perf_counter()
    ginc = generate_ginc(config)
    mix = ginc.mixture
    shots = sorted({n for n in GINC_SHOTS if n <= args.shots} | {args.shots})
    check_curve_cost(mix, args.k, shots, n_prompts=args.prompts, delimiter=ginc.delimiter)  # before any work
    assumptions = check_assumptions(mix, delimiter=ginc.delimiter, seed=stream(args.seed, "assumptions"))
    curve = icl_accuracy(
        mix,
        args.k,
        shots,
        delimiter=ginc.delimiter,
        n_prompts=args.prompts,
        seed=stream(args.seed, "prompts"),
        max_enumeration=args.max_enumeration,
    )
    return {
        "dataset_id": config.dataset_id(),
        "mixture": {
            "concepts": mix.n_concepts,
            "hidden states": mix.n_states,
            "vocab": mix.vocab_size,
            "delimiter": ginc.vocab[ginc.delimiter],
            "value matrix shared": mix.value_transmat.shape[0] == 1,
            "positive transition entries (value, slot)": [
                float((mix.value_transmat > 0).mean()),
                float((mix.slot_transmat > 0).mean()),
            ],
        },
        "assumptions": assumptions.summary(),
        "k": args.k,
        "curve": [p.as_dict() for p in curve],
        "seconds": round(time.perf_counter() - start, 3),
        "provenance": provenance(
            config.as_dict() | {"k": args.k, "shots": shots, "prompts": args.prompts},
            args.seed,
            streams=stream_names("prompts", "assumptions"),
        ),
    }


def _fmt_log(x: float) -> str:
    return f"{x:.6g} (P = {math.exp(x):.3g})" if x > -700 else f"{x:.6g}"


def run(args: argparse.Namespace) -> int:
    doc = compute(args)
    if args.json:
        print_json(doc)
        return 0
    rows: list[tuple[str, Any]] = [("dataset", doc["dataset_id"])]
    rows += list(doc["mixture"].items()) + list(doc["assumptions"].items())
    print_table("GINC mixture of HMMs", rows)
    print()
    head = (
        f"{'n':>4}  {'method':<8}  {'Bayes ICL accuracy [95% interval]':<34}  {'p(prompt)=0':>11}  "
        f"{'E p(θ*|prompt)':>16}  log P(S_n) (pretraining)"
    )
    print(f"Bayes ICL curve, k = {doc['k']} (accuracy against GINC's label)")
    print(head)
    for p in doc["curve"]:
        acc = f"{p['accuracy']:.4f} [{p['low']:.4f}, {p['high']:.4f}]"
        post = f"{p['true_posterior']:.4f}" + (
            f" ± {p['true_posterior_halfwidth']:.3f}" if p["method"] == "estimate" else ""
        )
        print(
            f"{p['n_shots']:>4}  {p['method']:<8}  {acc:<34}  {p['undefined']:>11.4f}  {post:>16}  "
            f"{_fmt_log(p['log_prob_prompt_set'])}"
        )
    print(
        f"({doc['seconds']} s; exact = sum over all {{prompt strings}} × {{concept, slot}}; "
        "estimate = sampled prompts, Wilson interval)"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m exact.hmm.cli …`` is ``nonident ginc …``."""
    return command_main(add_parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
