"""``nonident grammar NAME|FILE``: exact facts of a library language or of a grammar file.

Consistency (for a PCFG), the entropy with its bounds, the loss floors in both conventions, the
strings up to ``--max-len`` with the exact truncated mass, the prompt classes with how many of
each lie in the support, and the rules. Thin: parses, calls :mod:`exact.grammar`, prints.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from exact.core.cli import CliError, add_json_flag, command_main, print_table
from exact.core.tokens import TokenBatch
from exact.core.validate import InputError
from exact.grammar.base import WordDistribution
from exact.grammar.distribution import GrammarDistribution
from exact.grammar.library import LANGUAGES, all_words, language, law_params
from exact.grammar.text import load_grammar

#: Largest --max-len (the enumeration is also capped by its prefix count).
MAX_LEN = 64


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "grammar",
        help="exact entropy, loss floors, truncated mass, consistency and prompt classes of any grammar",
        description=(
            "Exact facts of a library language (" + ", ".join(sorted(LANGUAGES)) + ") or of a PCFG file "
            "in the text format of docs/grammars.md (e.g. a line 'S -> a S b [0.7] | a b [0.3]')."
        ),
    )
    p.add_argument("grammar", metavar="NAME|FILE", help="a library language or a grammar file")
    p.add_argument("--law", default=None, help="library law, e.g. uniform, geometric, pcfg, official")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="library law parameter, e.g. --set n_max=64, --set p_open=2/5, --set K=4 (repeatable)",
    )  # fmt: skip
    p.add_argument("--max-len", type=int, default=12, help="enumerate every string up to this length (default 12)")
    p.add_argument(
        "--prompt-length",
        type=int,
        default=None,
        help="prompt length k (default 8, 4 for brackets, less for big alphabets)",
    )
    p.add_argument(
        "--renormalise", action="store_true", help="grammar file: condition an inconsistent PCFG on finite derivations"
    )
    p.add_argument("--unambiguous", action="store_true", help="grammar file: declare it unambiguous (exact entropy)")
    add_json_flag(p)
    p.set_defaults(run=run, flag_names={"prompt_length": "--prompt-length", "max_len": "--max-len"})


def _int_flags(args: argparse.Namespace) -> None:
    """argparse gives ``[]`` for ``--max-len=--`` (it drops the ``--``); refuse anything but an int."""
    for flag, value in (("--max-len", args.max_len), ("--prompt-length", args.prompt_length)):
        if value is not None and not isinstance(value, int):
            raise CliError(f"{flag} needs an integer value, got {value!r}")


def _source(args: argparse.Namespace) -> tuple[dict[str, Any], WordDistribution, Any]:
    if args.grammar in LANGUAGES:
        if args.renormalise or args.unambiguous:
            raise CliError("--renormalise and --unambiguous apply to grammar files, not library languages")
        lang = language(args.grammar, args.law, **law_params(args.set, "--set"))
        return {"language": lang.describe()}, lang.distribution, lang
    path = Path(args.grammar)
    if not path.is_file():
        raise CliError(
            f"NAME|FILE: {args.grammar!r} is neither a library language ({', '.join(sorted(LANGUAGES))}) nor a file"
        )
    if args.law is not None or args.set:
        raise CliError("--law and --set apply to library languages, not grammar files")
    grammar = load_grammar(path)  # its errors name the file
    try:
        dist = GrammarDistribution(grammar, renormalise=args.renormalise, unambiguous=args.unambiguous)
    except InputError as exc:
        raise type(exc)(f"grammar file {str(path)!r}: {exc}") from None
    info = {"file": str(path), "grammar": str(dist.original).splitlines(), **dist.summary()}
    return {"grammar_file": info}, dist, None


def _prompts(dist: WordDistribution, lang: Any, k: int) -> dict[str, Any]:
    v = dist.vocabulary
    if lang is not None:
        classes = lang.prompts(k)
    else:
        words = all_words(v.terminals, k)
        batch = TokenBatch.from_sequences([[v.sos, *v.ids(w).tolist()] for w in words], vocab_size=v.size)
        support = dist.log_prob_prefix(batch) > -np.inf
        classes = {"support": batch.select(np.flatnonzero(support)), "ood": batch.select(np.flatnonzero(~support))}
    out = {}
    for name, batch in classes.items():
        inside = int(np.sum(dist.log_prob_prefix(batch) > -np.inf)) if len(batch) else 0
        out[name] = {"prompts": len(batch), "in_support": inside}
    return {"prompt_length": k, "classes": out}


def compute(args: argparse.Namespace) -> dict[str, Any]:
    _int_flags(args)
    if not 0 <= args.max_len <= MAX_LEN:
        raise CliError(f"--max-len must lie in 0..{MAX_LEN}, got {args.max_len}")
    doc, dist, lang = _source(args)
    k = args.prompt_length
    if k is None:  # 8 (4 for brackets), fewer where |Σ|^k would exceed 65,536 prompts
        k = 4 if lang is not None and lang.name in ("dyck1", "dyck2", "not_nested") else 8
        while k > 1 and dist.vocabulary.n_terminals**k > 65_536:
            k -= 1
    if k < 1:
        raise CliError(f"--prompt-length must be ≥ 1, got {k}")
    strings = dist.strings(args.max_len)
    h = dist.entropy(args.max_len, strings=strings)
    doc["max_len"] = args.max_len
    doc["strings"] = {
        "count": len(strings),
        "listed_mass": float(np.exp(strings.log_probs).sum()),
        "truncated_mass": strings.truncated_mass,
        "prefixes_expanded": strings.prefixes_expanded,
    }
    doc["expected_length"] = dist.expected_length()
    doc["entropy_nats"] = h.as_dict()
    doc["loss_floors_nats_per_token"] = dist.loss_floors(args.max_len, entropy=h).as_dict()
    doc["prompts"] = _prompts(dist, lang, k)
    return doc


def run(args: argparse.Namespace) -> int:
    doc = compute(args)
    if args.json:
        print(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False))
        return 0
    h = doc["entropy_nats"]
    f = doc["loss_floors_nats_per_token"]
    head = doc.get("language") or doc["grammar_file"]
    rows: list[tuple[str, Any]] = [("source", head.get("name") or head.get("file"))]
    if "law" in head:
        rows.append(("law", f"{head['law']} {head['params']}"))
    if "consistent" in head:
        rows += [
            ("consistent", head["consistent"]),
            ("partition function Z(start)", 1 - head["missing_mass"]),
            ("expectation-matrix spectral radius", head["expectation_spectral_radius"]),
        ]
    rows += [
        (f"strings up to length {doc['max_len']}", doc["strings"]["count"]),
        ("truncated mass (longer strings)", doc["strings"]["truncated_mass"]),
        ("expected length", doc["expected_length"] if doc["expected_length"] is not None else "infinite"),
        (
            "entropy (exact)" if h["exact"] is not None else "entropy bounds",
            h["exact"] if h["exact"] is not None else f"[{h['lower']:.12g}, {h['upper']}]",
        ),
        ("entropy method", h["method"]),
        ("loss floor, PAD ignored", f["pad_ignored"]),
        ("loss floor, padded", f["padded"] if f["padded"] is not None else "n/a (unbounded length)"),
    ]
    for name, c in doc["prompts"]["classes"].items():
        rows.append(
            (
                f"prompts of length {doc['prompts']['prompt_length']}: {name}",
                f"{c['prompts']} ({c['in_support']} in support)",
            )
        )
    for rule in head.get("rules", []):
        scope = rule["scope"] if isinstance(rule["scope"], str) else f"word after {rule['scope']} symbols"
        rows.append((f"rule {rule['name']} (on the {scope})", rule["description"]))
    print_table("exact facts of the language (nats)", rows)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m exact.grammar.cli …`` is ``nonident grammar …``."""
    return command_main(add_parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
