"""``nonident icl``: ε-non-identifiability of in-context learning — q_n with a certified KL.

Thin: parses arguments, generates the mixture, calls :func:`exact.icl.swap_kl.icl_table`,
prints the table or JSON (with provenance). "KL < ε" is printed only where the
certified (ball-arithmetic) upper bound proves it.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from flint import arb

from exact.core.artifacts import provenance
from exact.core.cli import CliError, add_json_flag, command_main, print_json
from exact.core.rng import stream, stream_names
from exact.hmm.cli import GINC_FLAGS, add_ginc_flags, config_from_args
from exact.hmm.ginc import generate_ginc
from exact.icl.certify import arb_log10_bounds, format_upper
from exact.icl.qn import DEMO_CONFIG, DEMO_K
from exact.icl.swap_kl import EPSILON_LADDER, icl_table


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "icl",
        help="q_n: swap the top two answers on every n-shot prompt; exact and certified KL(p‖q_n), N_ε, flips",
        description=(
            "The ICL construction of Reizinger et al. (claim F2) on a GINC-structured mixture of HMMs: for "
            "n = 0..--max-shots the exact KL(p‖q_n) by the swap identity over all n-shot prompt strings, the "
            "bounds P(S_n)·ln(1/c_min) and ρⁿ·ln(1/c_min), a certified upper bound (interval arithmetic), the "
            "argmax flips and the ICL accuracy of p and q_n; then N_ε, the smallest n whose certified bound is "
            "below ε. The defaults are a small mixture whose prompt sets can be enumerated."
        ),
    )
    p.add_argument(
        "--epsilon",
        default="1e-9",
        help="ε of the ε-non-identifiability, a decimal such as 1e-9 or 1e-400 (default 1e-9)",
    )
    add_ginc_flags(p, DEMO_CONFIG)
    p.add_argument("--k", type=int, default=DEMO_K, help=f"example length (default {DEMO_K})")
    p.add_argument("--max-shots", type=int, default=6, help="table rows n = 0..N (default 6)")
    p.add_argument("--search-shots", type=int, default=5000, help="largest n searched for N_ε (default 5000)")
    p.add_argument("--max-strings", type=int, default=2_000_000, help="largest prompt set summed exactly (default 2e6)")
    p.add_argument("--prompts", type=int, default=2000, help="sampled prompts per n for estimated ICL accuracy")
    p.add_argument(
        "--tie-policy",
        choices=("raise", "keep"),
        default="raise",
        help="tied top tokens: refuse (default) or keep q_n = p there",
    )
    add_json_flag(p)
    p.set_defaults(
        run=run,
        flag_names=GINC_FLAGS
        | {
            "max_shots": "--max-shots",
            "max_strings": "--max-strings",
            "search_shots": "--search-shots",
            "accuracy_prompts": "--prompts",
            "n_prompts": "--prompts",
            "k": "--k",
        },
    )


def compute(args: argparse.Namespace) -> dict[str, Any]:
    try:
        eps_ok = arb(args.epsilon) > 0 and arb(args.epsilon).is_finite()
    except (ValueError, TypeError):
        eps_ok = False
    if not eps_ok:
        raise CliError(f"--epsilon must be a positive decimal number, got {args.epsilon!r}")
    for flag, value, low in (
        ("--prompts", args.prompts, 0),
        ("--max-strings", args.max_strings, 1),
        ("--max-shots", args.max_shots, 0),
        ("--search-shots", args.search_shots, args.max_shots),
    ):
        if value < low:
            raise CliError(f"{flag} must be ≥ {low}, got {value}")
    config = config_from_args(args)
    start = time.perf_counter()
    g = generate_ginc(config)
    table = icl_table(
        g,
        args.k,
        args.max_shots,
        epsilons=list(dict.fromkeys([*EPSILON_LADDER, args.epsilon])),
        delimiter=g.delimiter,
        search_shots=args.search_shots,
        max_strings=args.max_strings,
        tie_policy=args.tie_policy,
        accuracy_prompts=args.prompts,
        seed=stream(args.seed, "prompts"),
    )
    cfg = config.as_dict() | {
        k: getattr(args, k)
        for k in ("epsilon", "k", "max_shots", "search_shots", "max_strings", "prompts", "tie_policy")
    }
    return {
        "dataset_id": config.dataset_id(),
        "epsilon": args.epsilon,
        **table.as_dict(),
        "seconds": round(time.perf_counter() - start, 3),
        "provenance": provenance(cfg, args.seed, streams=stream_names("prompts")),
    }


def _e(x: float | None) -> str:
    return "—" if x is None else f"{x:.3e}"


def _sci(x: float, log10: float) -> str:
    """A float value, or ``10^e`` where it is below the float range (not a certified statement)."""
    return f"{x:.3e}" if x > 1e-300 else f"10^{log10:.2f}"


def run(args: argparse.Namespace) -> int:
    doc = compute(args)
    if args.json:
        print_json(doc)
        return 0
    eps_log10_low = arb_log10_bounds(arb(args.epsilon))[0]
    print(f"q_n on {doc['dataset_id']}, k = {args.k}")
    print(
        f"certified: β = {doc['beta (certified lower bound of c_min)']:.6g} ≤ c_min, "
        f"ρ = {doc['rho (certified ceiling of a delimiter placement)']:.6g} ≥ every delimiter placement"
    )
    print()
    print(
        f"{'n':>3}  {'P(S_n)':>10}  {'KL exact':>10}  {'flips':>15}  {'P·ln(1/c_min)':>13}  {'ρⁿ·ln(1/c_min)':>14}  "
        f"{'certified ≤':>11}  {'KL < ε?':>8}  {'ICL acc p':>9}  {'ICL acc q_n':>11}"
    )
    for r in doc["rows"]:
        ex = r["exact"]
        flips = f"{ex['flips']}/{ex['n_positive']}" if ex else "—"
        proved = "yes" if r["log10_certified_upper"] < eps_log10_low else "no"  # upper of bound < lower of ε
        acc = "—" if r["accuracy_p"] is None else f"{r['accuracy_p']:.4f}"
        accq = "—" if r["accuracy_q"] is None else f"{r['accuracy_q']:.4f}"
        print(
            f"{r['n_shots']:>3}  {_sci(r['prompt_set_mass'], r['log10_prompt_set_mass']):>10}  "
            f"{_e(ex['kl'] if ex else None):>10}  {flips:>15}  "
            f"{_sci(r['bound_mass'], r['log10_bound_mass']):>13}  {_sci(r['bound_rho'], r['log10_bound_rho']):>14}  "
            f"{format_upper(r['certified_upper'], r['log10_certified_upper']):>11}  {proved:>8}  "
            f"{acc:>9}  {accq:>11}"
        )
    methods = sorted({r["accuracy_method"] for r in doc["rows"] if r["accuracy_method"]})
    print(
        f"(ICL accuracy against GINC's label: {', '.join(methods) or 'not computed'}; "
        "c_min is the exact minimum over S_n where the row was enumerated, else β)"
    )
    print()
    print("N_ε = smallest n with certified KL(p‖q_n) < ε:")
    for e, n in doc["n_epsilon"].items():
        up = doc["log10 of the certified upper bound of KL(p‖q_n) at N_epsilon"][e]
        mark = "  ← --epsilon" if e == args.epsilon else ""  # keys are the strings given
        shown = (
            f"{n}  (certified KL(p‖q_{n}) ≤ {format_upper(10.0**up * (1 + 1e-14) if up > -300 else 0.0, up)})"
            if n is not None
            else f"not reached by n = {doc['search_shots']}"
        )
        print(f"  ε = {e:<8} N_ε = {shown}{mark}")
    n_eps = doc["n_epsilon"].get(args.epsilon)
    if n_eps is not None:
        row = next((r for r in doc["rows"] if r["n_shots"] == n_eps and r["exact"]), None)
        if row is not None:
            ex = row["exact"]
            print(
                f"At N_ε = {n_eps} for ε = {args.epsilon}: KL(p‖q_{n_eps}) < ε is certified, and the argmax flips on "
                f"{ex['flips']:,} of the {ex['n_positive']:,} prompt strings of S_{n_eps} (enumerated)."
            )
        else:
            print(
                f"At N_ε = {n_eps} for ε = {args.epsilon}: KL(p‖q_{n_eps}) < ε is certified; S_{n_eps} lies beyond the "
                "enumerated rows (raise --max-shots/--max-strings to count its flips; q_n flips every s whose top token "
                "is unique by construction)."
            )
    print(f"({doc['seconds']} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m exact.icl.cli …`` is ``nonident icl …``."""
    return command_main(add_parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
