"""The grammar library: the follow-up study's languages with their rules, prompts and exact laws.

Each :class:`Language` bundles an exact distribution (a :class:`~exact.grammar.GrammarDistribution`
or a :class:`~exact.grammar.finite.FiniteLanguage`), its rules (:class:`~exact.core.completions.Rule`,
definitions as in Mészáros et al. 2024, ``rule_extrapolation``), its prompt classes and, per
rule on whole words, a *completer* and a *breaker* for the functional-non-identifiability
witnesses (:mod:`exact.grammar.witnesses`). docs/grammars.md lists every language, law and rule.

>>> lang = language("dyck2")
>>> [r.name for r in lang.rules], lang.distribution.vocabulary.terminals
(['R1', 'R2'], ('(', ')', '[', ']'))
>>> {name: len(batch) for name, batch in lang.prompts(4).items()}
{'id': 4, 'ood': 4}
"""

from __future__ import annotations

import itertools
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from exact.anbn import AnbnDistribution, GeometricLength, UniformLength
from exact.core.completions import Rule
from exact.core.tokens import TokenBatch
from exact.core.validate import InputError, InputTypeError, check_int
from exact.grammar import rules as r
from exact.grammar.base import WordDistribution
from exact.grammar.distribution import GrammarDistribution
from exact.grammar.finite import MAX_TRIE_NODES, MAX_TRIE_SYMBOLS, FiniteLanguage
from exact.grammar.pcfg import as_probability
from exact.grammar.text import parse_grammar
from exact.grammar.walks import dyck1_walk, dyck2_walk, not_nested_walk

__all__ = ["LANGUAGES", "Language", "language", "law_params"]

#: Prompts of more than this many words are refused (exhaustive classes grow like |Σ|^k; 10⁵ bracket prompts
#: take a few seconds to build and score).
MAX_PROMPTS = 100_000


@dataclass(frozen=True)
class Language:
    """A language of the library: its exact law, rules, prompt classes and witness policies.

    Attributes
    ----------
    name, law : str — e.g. ``"anbn"``, ``"uniform"``.
    distribution : WordDistribution — the exact law (a predictor over ``SOS w EOS PAD…``).
    rules : tuple of Rule — R1 on whole words, R2 on the completion (as the follow-up study).
    prompt_words : callable ``k -> {class: [word, …]}`` — the prompt classes of length ``k``.
    completers, breakers : per rule name, the next token of a completion making the rule hold,
        and a token whose addition breaks it (word-scope rules only).
    fast : the closed-form special case where one exists (aⁿbⁿ), else ``None``.
    """

    name: str
    law: str
    description: str
    distribution: WordDistribution
    rules: tuple[Rule, ...]
    prompt_words: Callable[[int], dict[str, list[tuple[str, ...]]]]
    completers: Mapping[str, Callable[[NDArray[np.int64], NDArray[np.int64]], NDArray[np.int64]]]
    breakers: Mapping[str, int]
    unambiguous: bool = True
    fast: object | None = None
    params: dict[str, object] = field(default_factory=dict)

    def rule(self, name: str) -> Rule:
        """The rule called ``name``."""
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise InputError(f"rule must be one of {[x.name for x in self.rules]}, got {name!r}")

    def prompts(self, k: int) -> dict[str, TokenBatch]:
        """The prompt classes of ``k`` terminals, each a batch of ``SOS`` + word."""
        k = check_int(k, "prompt_length")
        v = self.distribution.vocabulary
        index = {t: i for i, t in enumerate(v.terminals)}
        out = {}
        for cls, words in self.prompt_words(k).items():
            if not words:
                out[cls] = TokenBatch(np.zeros((0, k + 1), np.int64), np.zeros(0, np.int64), v.size)
            elif len({len(w) for w in words}) == 1:  # one matrix at once (10⁵ prompts: not 10⁵ small arrays)
                body = np.array([[index[s] for s in w] for w in words], dtype=np.int64).reshape(len(words), -1)
                tokens = np.concatenate([np.full((len(words), 1), v.sos, dtype=np.int64), body], axis=1)
                out[cls] = TokenBatch(tokens, np.full(len(words), tokens.shape[1], dtype=np.int64), v.size)
            else:
                ids = [[v.sos, *v.ids(w).tolist()] for w in words]
                out[cls] = TokenBatch.from_sequences(ids, vocab_size=v.size)
        return out

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "law": self.law,
            "description": self.description,
            "params": {k: str(v) if isinstance(v, Fraction) else v for k, v in self.params.items()},
            "terminals": list(self.distribution.vocabulary.terminals),
            "rules": [{"name": x.name, "description": x.description, "scope": x.scope} for x in self.rules],
        }


def all_words(symbols: tuple[str, ...], k: int) -> list[tuple[str, ...]]:
    if len(symbols) > 1 and k * math.log(len(symbols)) > math.log(MAX_PROMPTS) + 1e-9:  # |Σ|^k is never built
        count = f"{len(symbols) ** k:,}" if k <= 64 else f"{len(symbols)}^{k}"
        raise InputError(f"prompt_length={k} gives {count} prompts, above the limit {MAX_PROMPTS:,}")
    return list(itertools.product(symbols, repeat=k))


def _split(words: list[tuple[str, ...]], is_id: Callable[[tuple[str, ...]], bool]) -> dict[str, list[tuple[str, ...]]]:
    return {"id": [w for w in words if is_id(w)], "ood": [w for w in words if not is_id(w)]}


def _is_prefix_of_blocks(w: tuple[str, ...], symbols: tuple[str, ...]) -> bool:
    """``w`` is a prefix of some ``s₀ⁿ s₁ⁿ …`` (aⁿbⁿ, aⁿbⁿcⁿ)."""
    counts = []
    rest = list(w)
    for s in symbols:
        n = 0
        while rest and rest[0] == s:
            rest.pop(0)
            n += 1
        counts.append(n)
        if rest and n == 0:
            return False
    if rest or (counts and counts[0] == 0 and any(counts)):
        return False
    filled = [c for c in counts if c]
    return all(c == counts[0] for c in filled[1:-1]) and (len(filled) < 2 or filled[-1] <= counts[0])


def _primitive_dyck(k: int, pairs: tuple[tuple[str, str], ...]) -> list[tuple[str, ...]]:
    """Every primitive (single outer pair) properly nested word of length ``k``, generated directly
    (their number, ``Catalan(k/2 − 1)·|pairs|^(k/2)``, is checked against :data:`MAX_PROMPTS` first)."""
    if k % 2 or k < 2:
        raise InputError(f"prompt_length must be an even number ≥ 2 for bracket languages, got {k}")
    m = k // 2
    if m > 32:  # Catalan(31) alone is above 10^15: refuse before computing a huge binomial
        raise InputError(f"prompt_length={k} gives more than 10^15 bracket prompts, above the limit {MAX_PROMPTS:,}")
    count = math.comb(2 * (m - 1), m - 1) // m * len(pairs) ** m
    if count > MAX_PROMPTS:
        raise InputError(f"prompt_length={k} gives {count:,} bracket prompts, above the limit {MAX_PROMPTS:,}")
    out: list[tuple[str, ...]] = []

    def grow(word: tuple[str, ...], stack: tuple[str, ...]) -> None:
        if len(word) == k:
            out.append(word)
            return
        room = k - len(word)
        if stack and room >= len(stack):  # close the innermost bracket, unless that ends the word early
            if len(stack) > 1 or room == 1:
                grow((*word, stack[-1]), stack[:-1])
        if room > len(stack) + 1:  # open another, leaving room to close everything
            for o, c in pairs:
                grow((*word, o), (*stack, c))

    for o, c in pairs:
        grow((o,), (c,))
    rank = {s: i for i, s in enumerate(s for p in pairs for s in p)}
    return sorted(out, key=lambda w: [rank[x] for x in w])


def _check_finite_size(name: str, value: int, *, symbols: int, prefixes: int | None = None) -> None:
    """Refuse, naming the parameter, a finite language whose trie would exceed :class:`FiniteLanguage`'s limits
    (counted in closed form before any word is built)."""
    if symbols > MAX_TRIE_SYMBOLS:
        raise InputError(
            f"{name}={value} gives a finite language of {symbols:,} symbols, above the limit {MAX_TRIE_SYMBOLS:,} "
            f"(exact.grammar.finite.MAX_TRIE_SYMBOLS); lower {name}"
        )
    if prefixes is not None and prefixes > MAX_TRIE_NODES:
        raise InputError(
            f"{name}={value} gives a finite language of {prefixes:,} distinct prefixes, above the limit "
            f"{MAX_TRIE_NODES:,} (exact.grammar.finite.MAX_TRIE_NODES); lower {name}"
        )


def _prob(x: object, name: str) -> Fraction:
    q, _ = as_probability(x, name)
    if not 0 < q < 1:
        raise InputError(f"{name} must lie strictly between 0 and 1, got {x!r}")
    if min(float(q), float(1 - q)) < sys.float_info.min:  # a rule of probability q or 1 − q would vanish
        raise InputError(f"{name}={x!r} is too close to 0 or 1 for the float engine (a rule would have probability 0)")
    return q


# -- the languages ------------------------------------------------------------------------------


def _anbn(law: str = "uniform", *, n_max: int = 128, rho: object = "0.7") -> Language:
    if law == "uniform":
        n_max = check_int(n_max, "n_max", maximum=4096)
        # prefixes: the root, aⁱ (i ≤ N), and aⁿbʲ (1 ≤ j ≤ n) for each n
        _check_finite_size("n_max", n_max, prefixes=1 + n_max + n_max * (n_max + 1) // 2, symbols=n_max * (n_max + 1))
        dist: WordDistribution = FiniteLanguage.from_lengths(
            lambda n: "a" * n + "b" * n, [(n, Fraction(1, n_max)) for n in range(1, n_max + 1)], terminals=("a", "b")
        )
        fast: object = AnbnDistribution(UniformLength(n_max))
        params: dict[str, object] = {"n_max": n_max}
    elif law == "geometric":
        q = _prob(rho, "rho")
        dist = GrammarDistribution(parse_grammar(f"S -> a S b [{q}] | a b [{1 - q}]"), unambiguous=True)
        fast = AnbnDistribution(GeometricLength(q))
        params = {"rho": q}
    else:
        raise InputError(f"law must be 'uniform' or 'geometric' for anbn, got {law!r}")
    return Language(
        "anbn", law, "aⁿbⁿ, n ≥ 1", dist,
        (Rule("R1", "#a = #b", r.equal_counts((0, 1))), Rule("R2", "a's before b's", r.in_order((0, 1)), "completion")),
        lambda k: _split(all_words(("a", "b"), k), lambda w: _is_prefix_of_blocks(w, ("a", "b"))),
        {"R1": r.fill_counts((0, 1), 3)}, {"R1": 0}, fast=fast, params=params,
    )  # fmt: skip


def _anbncn(law: str = "uniform", *, n_max: int = 85) -> Language:
    if law != "uniform":
        raise InputError(f"law must be 'uniform' for anbncn (not context-free), got {law!r}")
    n_max = check_int(n_max, "n_max", maximum=4096)
    n = n_max  # prefixes: the root, aⁱ (i ≤ N), then 2n more for each aⁿbⁿcⁿ
    _check_finite_size("n_max", n, prefixes=1 + n + n * (n + 1), symbols=3 * n * (n + 1) // 2)
    dist = FiniteLanguage.from_lengths(
        lambda n: "a" * n + "b" * n + "c" * n,
        [(n, Fraction(1, n_max)) for n in range(1, n_max + 1)],
        terminals=("a", "b", "c"),
    )
    return Language(
        "anbncn", law, "aⁿbⁿcⁿ, n ≥ 1 (not context-free: a finite law)", dist,
        (Rule("R1", "#a = #b = #c", r.equal_counts((0, 1, 2))), Rule("R2", "a's before b's before c's", r.in_order((0, 1, 2)), "completion")),
        lambda k: _split(all_words(("a", "b", "c"), k), lambda w: _is_prefix_of_blocks(w, ("a", "b", "c"))),
        {"R1": r.fill_counts((0, 1, 2), 4)}, {"R1": 0}, params={"n_max": n_max},
    )  # fmt: skip


def _dyck_prompts(
    k: int, lead_id: tuple[str, str], lead_ood: tuple[str, str], pairs: tuple[tuple[str, str], ...]
) -> dict[str, list[tuple[str, ...]]]:
    ws = _primitive_dyck(k, pairs)
    return {"id": [(*lead_id, *w) for w in ws], "ood": [(*lead_ood, *w) for w in ws]}


def _dyck1(law: str = "pcfg", *, p_open: object = "1/3", K: int = 6) -> Language:
    if law == "pcfg":
        o = _prob(p_open, "p_open")
        dist: WordDistribution = GrammarDistribution(
            parse_grammar(f"S -> P [{1 - o}] | P S [{o}]\nP -> '(' D ')' [1]\nD -> ε [{1 - o}] | P D [{o}]"),
            unambiguous=True,
        )
        params: dict[str, object] = {"p_open": o}
    elif law == "official":
        dist, params = dyck1_walk(K), {"K": K}
    else:
        raise InputError(f"law must be 'pcfg' or 'official' for dyck1, got {law!r}")
    return Language(
        "dyck1", law, "Dyck-1: balanced parentheses (official law: primitive words only)", dist,
        (Rule("R1", "parentheses matched", r.matched(0, 1)),),
        lambda k: _dyck_prompts(k, ("(", ")"), (")", "("), (("(", ")"),)),
        {"R1": r.close_counter(0, 1, 3)}, {"R1": 1}, params=params,
    )  # fmt: skip


_DYCK2_RULES = (
    Rule("R1", "brackets matched", r.matched(2, 3)),
    Rule("R2", "parentheses matched after the two prompt symbols", r.matched(0, 1), 2),
)


def _dyck2(law: str = "pcfg", *, p_open: object = "1/3", K: int = 5) -> Language:
    if law == "pcfg":
        o = _prob(p_open, "p_open")
        text = f"S -> P [{1 - o}] | P S [{o}]\nP -> '(' D ')' [1/2] | '[' D ']' [1/2]\nD -> ε [{1 - o}] | P D [{o}]"
        dist: WordDistribution = GrammarDistribution(parse_grammar(text), unambiguous=True)
        params: dict[str, object] = {"p_open": o}
    elif law == "official":
        dist, params = dyck2_walk(K), {"K": K}
    else:
        raise InputError(f"law must be 'pcfg' or 'official' for dyck2, got {law!r}")
    return Language(
        "dyck2", law, "Dyck-2: properly nested ( ) and [ ]", dist, _DYCK2_RULES,
        lambda k: _dyck_prompts(k, ("(", "["), (")", "["), (("(", ")"), ("[", "]"))),
        {"R1": r.close_counter(2, 3, 5)}, {"R1": 3}, params=params,
    )  # fmt: skip


def _not_nested(law: str = "official", *, K: int = 4) -> Language:
    if law != "official":
        raise InputError(f"law must be 'official' for not_nested (not context-free), got {law!r}")
    return Language(
        "not_nested", law, "( ) and [ ] each balanced on their own, crossing allowed", not_nested_walk(K), _DYCK2_RULES,
        lambda k: _dyck_prompts(k, ("(", "["), (")", "["), (("(", ")"), ("[", "]"))),
        {"R1": r.close_counter(2, 3, 5)}, {"R1": 3}, unambiguous=True, params={"K": K},
    )  # fmt: skip


def _ban(law: str = "pcfg", *, p_stop: object = "1/4") -> Language:
    if law != "pcfg":
        raise InputError(f"law must be 'pcfg' for ban, got {law!r}")
    q = _prob(p_stop, "p_stop")
    half = (1 - q) / 2
    text = f"S -> b E [1]\nE -> ε [{q}] | b E [{half}] | a O [{half}]\nO -> b O [1/2] | a E [1/2]"
    return Language(
        "ban", law, "b followed by any word with an even number of a's", GrammarDistribution(parse_grammar(text), unambiguous=True),
        (Rule("R1", "#a even", r.even_count(0)), Rule("R2", "begins with b", r.starts_with(1), "completion")),
        lambda k: _split(all_words(("a", "b"), k), lambda w: w[0] == "b"),
        {"R1": r.make_even(0, 3)}, {"R1": 0}, params={"p_stop": q},
    )  # fmt: skip


def _bban(law: str = "pcfg", *, p_b: object = "1/2", p_stop: object = "1/2", M: int = 256) -> Language:
    if law == "pcfg":
        pb, q = _prob(p_b, "p_b"), _prob(p_stop, "p_stop")
        text = f"S -> b B [1]\nB -> b B [{pb}] | A [{1 - pb}]\nA -> ε [{q}] | a a A [{1 - q}]"
        dist: WordDistribution = GrammarDistribution(parse_grammar(text), unambiguous=True)
        params: dict[str, object] = {"p_b": pb, "p_stop": q}
    elif law == "official":
        M = check_int(M, "M", minimum=2, maximum=1024)
        symbols = sum(length * ((length - 1) // 2 + 1) for length in range(1, M + 1))
        _check_finite_size("M", M, symbols=symbols)  # its prefixes bᵐa²ᵏ are far fewer than its symbols
        words, probs = [], []
        for length in range(1, M + 1):
            for k in range((length - 1) // 2 + 1):
                words.append("b" * (length - 2 * k) + "a" * (2 * k))
                probs.append(Fraction(1, M * ((length - 1) // 2 + 1)))
        dist, params = FiniteLanguage(words, probs, terminals=("a", "b")), {"M": M}
    else:
        raise InputError(f"law must be 'pcfg' or 'official' for bban, got {law!r}")

    def prompts(k: int) -> dict[str, list[tuple[str, ...]]]:
        return {
            "id": [tuple("b" * (k - j) + "a" * j) for j in range(1, k)],
            "ood": [tuple("a" + "b" * (k - 1 - j) + "a" * j) for j in range(1, k - 1)],
        }

    return Language(
        "bban", law, "bᵐ a²ᵏ, m ≥ 1", dist,
        (Rule("R1", "even number of a's after the last b", r.even_count_after_last(0, 1)),
         Rule("R2", "some b, and no a before the last b", r.blocks_after_some(1, 0), "completion")),
        prompts, {"R1": r.make_even(0, 3, after=1)}, {"R1": 0}, params=params,
    )  # fmt: skip


def _anbm(law: str = "pcfg", *, p_a: object = "1/2", p_b: object = "1/2", M: int = 256) -> Language:
    if law == "pcfg":
        pa, pb = _prob(p_a, "p_a"), _prob(p_b, "p_b")
        text = f"S -> a A [1]\nA -> a A [{pa}] | B [{1 - pa}]\nB -> b B [{pb}] | b [{1 - pb}]"
        dist: WordDistribution = GrammarDistribution(parse_grammar(text), unambiguous=True)
        params: dict[str, object] = {"p_a": pa, "p_b": pb}
    elif law == "official":
        M = check_int(M, "M", minimum=4, maximum=4096)
        # prefixes: the root, aⁱ (i ≤ M − 3), then M − 2 − a more for each word aᵃ b^(M−2−a)
        _check_finite_size("M", M, prefixes=1 + (M - 3) + (M - 3) * (M - 2) // 2, symbols=(M - 3) * (M - 2))
        words = ["a" * la + "b" * (M - 2 - la) for la in range(1, M - 2)]
        dist, params = FiniteLanguage(words, [Fraction(1, M - 3)] * (M - 3), terminals=("a", "b")), {"M": M}
    else:
        raise InputError(f"law must be 'pcfg' or 'official' for anbm, got {law!r}")
    return Language(
        "anbm", law, "aⁿbᵐ, n, m ≥ 1 (R1 #a = #b is the follow-up's, not a rule of the language)", dist,
        (Rule("R1", "#a = #b", r.equal_counts((0, 1))), Rule("R2", "a's before b's", r.in_order((0, 1)), "completion")),
        lambda k: _split(all_words(("a", "b"), k), lambda w: "ba" not in "".join(w)),
        {"R1": r.fill_counts((0, 1), 3)}, {"R1": 0}, params=params,
    )  # fmt: skip


#: Library languages by name: the builder and, per law (the first is the default), its parameters.
LANGUAGES: dict[str, tuple[Callable[..., Language], dict[str, tuple[str, ...]]]] = {
    "anbn": (_anbn, {"uniform": ("n_max",), "geometric": ("rho",)}),
    "anbncn": (_anbncn, {"uniform": ("n_max",)}),
    "dyck1": (_dyck1, {"pcfg": ("p_open",), "official": ("K",)}),
    "dyck2": (_dyck2, {"pcfg": ("p_open",), "official": ("K",)}),
    "not_nested": (_not_nested, {"official": ("K",)}),
    "ban": (_ban, {"pcfg": ("p_stop",)}),
    "bban": (_bban, {"pcfg": ("p_b", "p_stop"), "official": ("M",)}),
    "anbm": (_anbm, {"pcfg": ("p_a", "p_b"), "official": ("M",)}),
}


def law_params(items: Iterable[str], what: str) -> dict[str, object]:
    """``KEY=VALUE`` texts as keyword arguments of :func:`language` (integers parsed, the rest kept as text).

    ``what`` names where they came from in the error (``--set``, ``data.language_params``).
    """
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise InputError(f"{what} must be KEY=VALUE, got {item!r}")
        if key in ("name", "law"):
            raise InputError(f"{what} {key}=… is not a law parameter (the language is NAME|FILE, its law --law)")
        # ASCII digits only ("²".isdigit() is true but int("²") fails), and no 5000-digit integers
        out[key] = int(value) if re.fullmatch(r"-?[0-9]{1,30}", value) else value
    return out


def language(name: str, law: str | None = None, **params: object) -> Language:
    """The library language ``name`` under ``law`` (default: the first listed in :data:`LANGUAGES`)."""
    if not isinstance(name, str):
        raise InputTypeError(f"language name must be a str, got {type(name).__name__} {name!r}")
    if law is not None and not isinstance(law, str):
        raise InputTypeError(f"law must be a str, got {type(law).__name__} {law!r}")
    if name not in LANGUAGES:
        raise InputError(f"language must be one of {sorted(LANGUAGES)}, got {name!r}")
    build, laws = LANGUAGES[name]
    law = next(iter(laws)) if law is None else law
    if law not in laws:
        raise InputError(f"law must be one of {list(laws)} for {name}, got {law!r}")
    unknown = sorted(set(params) - set(laws[law]))
    if unknown:
        raise InputError(f"{name} under law {law!r} takes parameters {list(laws[law])}, not {unknown}")
    return build(law, **params)
