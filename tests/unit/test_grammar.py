"""The general PCFG engine against exact rational brute force, its own twin and hand-derived values."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exact.core.tokens import TokenBatch
from exact.core.validate import InputError, InputTypeError
from exact.grammar import PCFG, GrammarDistribution, analyse, derivational_entropy, parse_grammar
from exact.grammar.finite import FiniteLanguage
from exact.grammar.reference import scan_reference
from tests.strategies import pcfg_rules

DYCK2 = "S -> '(' S ')' S [3/10] | '[' S ']' S [1/5] | ε [1/2]"


def _word_probability(word: tuple[str, ...], by_lhs: dict, start: str) -> Fraction:
    """``P(word)`` by summing over its derivations: memoised over (symbol, span) and (suffix of a rule, span)."""

    @cache
    def sym(x: str, i: int, j: int) -> Fraction:
        if x not in by_lhs:
            return Fraction(int(j == i + 1 and word[i] == x))
        return sum((p * seq(rhs, i, j) for rhs, p in by_lhs[x]), Fraction(0))

    @cache
    def seq(rhs: tuple[str, ...], i: int, j: int) -> Fraction:
        if len(rhs) == 1:
            return sym(rhs[0], i, j)
        return sum((sym(rhs[0], i, k) * seq(rhs[1:], k, j) for k in range(i + 1, j - len(rhs) + 2)), Fraction(0))

    return sym(start, 0, len(word))


def exact_string_probs(rules, start: str, max_len: int, terminals=("a", "b")) -> dict[tuple[str, ...], Fraction]:
    """``P(w)`` for every word up to ``max_len`` by summing over derivations (no ε, acyclic unary)."""
    by_lhs: dict[str, list] = {}
    for lhs, rhs, p in rules:
        by_lhs.setdefault(lhs, []).append((rhs, p))
    return {
        word: _word_probability(word, by_lhs, start)
        for n in range(1, max_len + 1)
        for word in itertools.product(terminals, repeat=n)
    }


@settings(max_examples=40)
@given(pcfg_rules())
def test_string_and_prefix_probabilities_match_exact_derivation_sums(rules):
    g = PCFG(rules, terminals=("a", "b"))
    c = analyse(g)
    d = GrammarDistribution(g, renormalise=True)
    z = 1.0 - c.missing_mass
    L = 5
    exact = exact_string_probs(rules, "S", L)
    words = list(exact)
    ours = np.exp(d.log_prob([list(w) for w in words]))
    want = np.array([float(exact[w]) / z for w in words])
    np.testing.assert_allclose(ours, want, rtol=1e-9, atol=1e-15)
    # prefix probabilities lie between the listed continuations and those plus the unlisted mass
    listed = sum(want)
    for w in [w for w in words if len(w) <= 2]:
        partial = sum(want[i] for i, v in enumerate(words) if v[: len(w)] == w)
        pre = float(np.exp(d.prefix_log_prob([list(w)])[0]))
        assert partial * (1 - 1e-9) <= pre <= partial + (1 - listed) + 1e-9


@settings(max_examples=30)
@given(pcfg_rules(), st.lists(st.sampled_from("ab"), max_size=6))
def test_conditionals_are_distributions_and_match_the_log_space_twin(rules, word):
    d = GrammarDistribution(PCFG(rules, terminals=("a", "b")), renormalise=True)
    w, n = d._words([word])
    pre, strp, nxt = d._scan(w, n, True)
    ref = scan_reference(d.normal, w[0].tolist())
    for ours, twin in zip((pre[0], strp[0], nxt[0]), ref):
        assert np.array_equal(np.isinf(ours), np.isinf(twin))
        np.testing.assert_allclose(ours[np.isfinite(ours)], twin[np.isfinite(twin)], rtol=1e-11, atol=1e-11)
    probs, defined = d.conditionals_along([word])
    sums = probs[0][defined[0]].sum(axis=1)
    np.testing.assert_allclose(sums, 1.0, atol=1e-10)


def test_anbn_geometric_closed_forms():
    d = GrammarDistribution(parse_grammar("S -> a S b [0.7] | a b [0.3]"), unambiguous=True)
    for n in range(1, 30):
        assert math.isclose(np.exp(d.log_prob(["a" * n + "b" * n])[0]), 0.3 * 0.7 ** (n - 1), rel_tol=1e-12)
        assert math.isclose(np.exp(d.prefix_log_prob(["a" * n])[0]), 0.7 ** (n - 1), rel_tol=1e-12)
    assert d.log_prob(["abab"])[0] == -np.inf
    h = d.entropy(8)
    # H(N) of the geometric law (1 − ρ) ρ^(n−1): (−ρ ln ρ − (1 − ρ) ln(1 − ρ)) / (1 − ρ)
    want = (-0.7 * math.log(0.7) - 0.3 * math.log(0.3)) / 0.3
    assert h.exact is not None and math.isclose(h.exact, want, rel_tol=1e-12)
    assert h.lower <= want <= h.upper
    assert math.isclose(d.expected_length(), 2 / 0.3, rel_tol=1e-12)


def test_epsilon_and_critical_dyck2_is_exact():
    d = GrammarDistribution(parse_grammar(DYCK2))
    assert d.consistency.consistent and math.isclose(d.consistency.spectral_radius, 1.0)
    probs, _ = d.conditionals_along(["(["])
    np.testing.assert_allclose(
        probs[0], [[0.3, 0, 0.2, 0, 0.5], [0.3, 0.5, 0.2, 0, 0], [0.3, 0, 0.2, 0.5, 0]], atol=1e-15
    )
    # P("()") = 0.3 · e · e with e = P(ε) = 0.5; P("([])") = 0.3 · 0.2 · 0.5³
    np.testing.assert_allclose(np.exp(d.log_prob(["()", "([])", ""])), [0.075, 0.0075, 0.5], rtol=1e-14)
    s = d.strings(10)
    assert math.isclose(float(np.exp(s.log_probs).sum()) + s.truncated_mass, 1.0, rel_tol=1e-13)


def test_unary_cycles_and_epsilon_chains_are_summed():
    # S -> S [1/2] | a [1/2]: infinitely many derivations of "a", total probability 1
    d = GrammarDistribution(parse_grammar("S -> S [1/2] | a [1/2]"))
    assert math.isclose(np.exp(d.log_prob(["a"])[0]), 1.0, rel_tol=1e-14)
    # S -> A B [1]; A -> a [1/3] | ε [2/3]; B -> b [1/4] | ε [3/4]
    d = GrammarDistribution(parse_grammar("S -> A B [1]\nA -> a [1/3] | ε [2/3]\nB -> b [1/4] | ε [3/4]"))
    want = {"": 2 / 3 * 3 / 4, "a": 1 / 3 * 3 / 4, "b": 2 / 3 * 1 / 4, "ab": 1 / 12}
    np.testing.assert_allclose(np.exp(d.log_prob(list(want))), list(want.values()), rtol=1e-14)
    assert d.log_prob(["ba"])[0] == -np.inf


def test_ambiguous_grammar_sums_parses_and_bounds_entropy():
    # S -> S S [1/3] | a [2/3]: P(a^n) = C(n−1) (1/3)^(n−1) (2/3)^n (Catalan many parses)
    d = GrammarDistribution(parse_grammar("S -> S S [1/3] | a [2/3]"))
    for n in range(1, 12):
        cat = math.comb(2 * (n - 1), n - 1) // n
        assert math.isclose(np.exp(d.log_prob(["a" * n])[0]), cat * (1 / 3) ** (n - 1) * (2 / 3) ** n, rel_tol=1e-12)
    h = d.entropy(12)
    assert h.exact is None and h.lower < h.upper <= derivational_entropy(d.grammar) * (1 + 1e-9)


def test_inconsistent_grammar_is_refused_then_renormalised():
    g = parse_grammar("S -> S S [2/3] | a [1/3]")  # Z = 1/2
    with pytest.raises(InputError, match="inconsistent.*0.5"):
        GrammarDistribution(g)
    d = GrammarDistribution(g, renormalise=True)
    assert math.isclose(d.consistency.missing_mass, 0.5, rel_tol=1e-12)
    # conditioned on finite derivations: S -> S S [1/3] | a [2/3]
    ref = GrammarDistribution(parse_grammar("S -> S S [1/3] | a [2/3]"))
    words = ["a", "aa", "aaa", "aaaa"]
    np.testing.assert_allclose(d.log_prob(words), ref.log_prob(words), rtol=1e-12)


def test_finite_language_is_exact():
    L = FiniteLanguage(["abc", "aabbcc", "aaabbbccc"], ["1/2", "1/3", "1/6"])
    assert L.prefix_prob_exact("aa") == Fraction(1, 2)
    assert L.prob_exact("aabbcc") == Fraction(1, 3)
    probs, _ = L.conditionals_along(["aa"])
    np.testing.assert_allclose(probs[0, 2], [1 / 3, 2 / 3, 0, 0], rtol=1e-15)  # after "aa": (1/6, 1/3) / (1/2)
    h = L.entropy()
    assert math.isclose(h.exact, -(0.5 * math.log(0.5) + 1 / 3 * math.log(1 / 3) + 1 / 6 * math.log(1 / 6)))
    f = L.loss_floors()
    assert f.padded_targets == 10 and math.isclose(f.padded[0], h.exact / 10, rel_tol=1e-9)


def test_predictor_framing_of_token_sequences():
    d = GrammarDistribution(parse_grammar("S -> a S b [0.7] | a b [0.3]"))
    sos, eos, pad = 2, 3, 4
    rows = [[], [sos], [sos, 0, 1], [sos, 0, 1, eos], [sos, 0, 1, eos, pad], [sos, 1], [0], [sos, eos], [sos, 0, pad]]
    out = d.next_token_probs(TokenBatch.from_sequences(rows))
    assert out.defined.tolist() == [True, True, True, True, True, False, False, False, False]
    assert out.probs[0, sos] == 1 and out.probs[1, 0] == 1 and out.probs[3, pad] == 1
    np.testing.assert_allclose(out.probs[2], [0, 0, 0, 1, 0], atol=1e-15)
    lp = d.log_prob_prefix(TokenBatch.from_sequences(rows))
    np.testing.assert_allclose(np.exp(lp[:5]), [1, 1, 0.3, 0.3, 0.3], rtol=1e-14)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("S -> a S b [0.7] | a b", "line 1, column 23: the alternative 'a b' has no probability"),
        ("S -> a [0.7]\nS -> a S b [0.2]", "the rules of S have probabilities summing to 9/10"),
        ("S -> a [0.5] | b [-0.5]", r"line 1, column 18: probability \[-0.5\]"),
        ("S -> a [nan] | b [1]", r"probability \[nan\]"),
        ("S -> a Sb [0.5] | b [0.5]", "undefined nonterminal 'Sb'"),
        ("S -> a [1]\nT -> b [1]", r"unreachable nonterminal\(s\) \['T'\]"),
        ("S -> A [1/2] | a [1/2]\nA -> B [1]\nB -> A [1]", r"useless nonterminal\(s\) \['A', 'B'\]"),
        ("S a [1]", "line 1, column 3: expected '->'"),
        ("S -> a [1] -> b", "line 1, column 12"),
        ("", "no rules"),
    ],
)
def test_bad_grammars_are_refused_with_their_place(text, match):
    with pytest.raises(InputError, match=match):
        parse_grammar(text)


def test_bad_calls_are_refused():
    d = GrammarDistribution(parse_grammar(DYCK2))
    with pytest.raises(InputError, match="'x', which is not a terminal"):
        d.log_prob(["(x)"])
    with pytest.raises(InputTypeError, match="list of words"):
        d.log_prob("()")
    with pytest.raises(InputError, match="visits more than max_prefixes=1,000 prefixes"):
        d.strings(12, max_prefixes=1000)
    with pytest.raises(InputTypeError, match="must be a PCFG"):
        GrammarDistribution("S -> a [1]")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="weights sum to 3/4"):
        FiniteLanguage(["a", "b"], ["1/2", "1/4"])
    with pytest.raises(InputError, match="repeats"):
        FiniteLanguage(["a", "a"], ["1/2", "1/2"])


def test_nltk_grammars_convert():
    import nltk  # the test extra's parser oracle

    g = nltk.PCFG.fromstring("S -> 'a' S 'b' [0.7] | 'a' 'b' [0.3]")
    from exact.grammar import from_nltk

    d = GrammarDistribution(from_nltk(g))
    assert math.isclose(np.exp(d.log_prob(["aabb"])[0]), 0.21, rel_tol=1e-12)
    parser = nltk.ViterbiParser(g)
    # membership agrees with nltk's parser on every a/b word up to length 6
    for n in range(1, 7):
        for w in itertools.product("ab", repeat=n):
            in_nltk = any(True for _ in parser.parse(list(w)))
            assert in_nltk == (d.log_prob([list(w)])[0] > -np.inf)


@settings(max_examples=20)
@given(pcfg_rules(), st.integers(0, 6))
def test_depth_first_enumeration_matches_the_level_by_level_twin(rules, max_len):
    from exact.grammar.base import WordDistribution

    d = GrammarDistribution(PCFG(rules, terminals=("a", "b")), renormalise=True)
    fast, slow = d.strings(max_len), WordDistribution.strings(d, max_len)
    key = {tuple(w[:n]): lp for w, n, lp in zip(fast.words.tolist(), fast.lengths, fast.log_probs)}
    ref = {tuple(w[:n]): lp for w, n, lp in zip(slow.words.tolist(), slow.lengths, slow.log_probs)}
    assert key.keys() == ref.keys()
    np.testing.assert_allclose([key[k] for k in ref], list(ref.values()), rtol=1e-12)
    assert math.isclose(fast.truncated_mass, slow.truncated_mass, rel_tol=1e-12, abs_tol=1e-300)
    total = float(np.exp(fast.log_probs).sum()) + fast.truncated_mass
    assert math.isclose(total, 1.0, rel_tol=1e-9)


# -- edges of the float range (independent review) ------------------------------------------------


def test_a_long_word_whose_chart_spans_more_than_the_float_range_is_recomputed_not_dropped():
    g = parse_grammar("S -> B b [1/2] | A c [1/2]\nA -> a A [1/2] | a [1/2]\nB -> a B [1/4] | a [3/4]")
    d = GrammarDistribution(g, unambiguous=True)
    for n in (10, 1080):  # at n = 1080 the A-chart entries fall 10^-325 below the B ones
        want = math.log(0.5) + (n - 1) * math.log(0.25) + math.log(0.75)
        assert math.isclose(d.log_prob(["a" * n + "b"])[0], want, rel_tol=1e-13)
    assert d.flagged_rows >= 1  # the factored scan flagged it and the log-space kernel took over
    # the same on a short word with rule probabilities 1e-30 apart, against the NumPy twin
    tiny = parse_grammar(
        "S -> B b [1/2] | A c [1/2]\nA -> a A [1/2] | a [1/2]\n"
        "B -> a B [1/1000000000000000000000000000000] | a [999999999999999999999999999999/1000000000000000000000000000000]"
    )
    d = GrammarDistribution(tiny)
    w = list("a" * 12 + "b")
    twin = scan_reference(d.normal, d.vocabulary.ids(w).tolist())[1][-1]
    assert math.isclose(d.log_prob([w])[0], twin, rel_tol=1e-12) and math.isclose(
        twin, math.log(0.5) + 11 * math.log(1e-30), rel_tol=1e-12
    )


def test_probabilities_next_to_one_keep_their_digits():
    d = GrammarDistribution(parse_grammar("S -> S [0.999999999] | a [0.000000001]"))
    assert math.isclose(np.exp(d.log_prob(["a"])[0]), 1.0, rel_tol=1e-12)
    d = GrammarDistribution(parse_grammar("S -> S a [0.999999999] | a [0.000000001]"))
    assert math.isclose(np.exp(d.prefix_log_prob(["a"])[0]), 1.0, rel_tol=1e-12)
    # an ε-probability of 1 − 1e-19: the word "a" of probability 5e-20 is found, not lost
    d = GrammarDistribution(
        parse_grammar("S -> A B [1]\nA -> a [1e-19] | ε [0.9999999999999999999]\nB -> b [0.5] | ε [0.5]")
    )
    assert math.isclose(d.log_prob(["a"])[0], math.log(5e-20), rel_tol=1e-12)
    assert len(d.strings(3)) == 4  # ε, a, b, ab
    # entropy and mean length of aⁿbⁿ at ρ = 1 − 1e-8 (derivational entropy of the geometric law)
    rho = Fraction(99999999, 100000000)
    d = GrammarDistribution(parse_grammar(f"S -> a S b [{rho}] | a b [{1 - rho}]"), unambiguous=True)
    r, q = float(rho), float(1 - rho)
    want = (-r * math.log1p(-q) - q * math.log(q)) / q
    h = d.entropy(3)
    assert h.lower <= want <= h.upper and math.isclose(h.exact, want, rel_tol=1e-12)
    assert d.expected_length() == 2e8


def test_finite_support_is_decided_on_the_grammar():
    d = GrammarDistribution(parse_grammar("S -> a [0.5] | b b [0.5]"))
    assert d.max_word_length() == 2
    f = d.loss_floors(4)
    assert f.padded_targets == 3 and f.padded is not None
    assert d.entropy(4).method == "enumeration (finite support)"
    assert GrammarDistribution(parse_grammar("S -> S [1/2] | a [1/2]")).max_word_length() == 1
    assert GrammarDistribution(parse_grammar("S -> a S [1/2] | a [1/2]")).max_word_length() is None


def test_tiny_exact_weights_of_a_finite_language_keep_their_logarithm():
    L = FiniteLanguage(["a", "b"], [Fraction(1, 10**400), 1 - Fraction(1, 10**400)])
    assert math.isclose(L.log_prob(["a"])[0], -400 * math.log(10), rel_tol=1e-14)
    assert len(L.strings(2)) == 2 and L.entropy().exact >= 0.0


def test_huge_words_and_enumerations_are_refused_before_allocating():
    d = GrammarDistribution(parse_grammar("S -> a S [0.5] | b [0.5]"))
    with pytest.raises(InputError, match="max_len: a word of length 100000 needs a chart of"):
        d.strings(100000, max_prefixes=10)
    with pytest.raises(InputError, match="words: a word of length 30001 needs a chart of"):
        d.log_prob(["a" * 30000 + "b"])
    assert FiniteLanguage(["a"], [1]).strings(10**9).words.shape == (1, 1)


@pytest.mark.parametrize(
    ("text", "rules"),
    [
        ("S -> '#' S [0.5] | a [0.5]   # a comment", ["S -> '#' S [1/2]", "S -> 'a' [1/2]"]),
        ("# hashes: '#'\nS -> 'a#b' [1]", ["S -> 'a#b' [1]"]),
        ("S -> 'eps' [1/2] | '' [1/2]", ["S -> 'eps' [1/2]", "S -> ε [1/2]"]),
        ("S -> a [0.5]\n   | b [0.5]", ["S -> 'a' [1/2]", "S -> 'b' [1/2]"]),
    ],
)
def test_text_format_edges_round_trip(text, rules):
    g = parse_grammar(text)
    assert str(g).splitlines() == rules
    assert parse_grammar(str(g)).productions == g.productions


def test_wrong_types_are_type_errors():
    with pytest.raises(InputTypeError, match="unambiguous must be a bool"):
        GrammarDistribution(parse_grammar("S -> a [1]"), unambiguous="no")  # type: ignore[arg-type]
    with pytest.raises(InputTypeError, match="productions must be an iterable"):
        PCFG(5)  # type: ignore[arg-type]
    g = PCFG([("S", (x for x in ["a", "b"]), "1/2"), ("S", ("c",), "1/2")])
    assert [p.rhs for p in g.productions] == [("a", "b"), ("c",)]
    with pytest.raises(InputError, match="spelled like the nonterminal"):
        parse_grammar("S -> a 'A' [0.5] | A [0.5]\nA -> b [1]")


def _frequencies_match(words: list[tuple[str, ...]], probs: dict[str, float]) -> bool:
    """Each word's frequency within 4 standard errors of ``probs`` (a conditional law)."""
    n = len(words)
    counts = {w: sum(1 for x in words if "".join(x) == w) for w in probs}
    return sum(counts.values()) == n and all(
        abs(counts[w] / n - p) <= 4 * math.sqrt(p * (1 - p) / n) for w, p in probs.items()
    )


def test_sampled_words_follow_the_conditional_law():
    d = GrammarDistribution(parse_grammar("S -> a S b [1/2] | a b [1/2]"))
    words = d.sample_words(2000, np.random.default_rng(7), max_len=6)
    assert _frequencies_match(words, {"ab": 4 / 7, "aabb": 2 / 7, "aaabbb": 1 / 7})
    # negative control: the unconditioned law (1/2, 1/4, 1/8) is rejected by the same check
    assert not _frequencies_match(words, {"ab": 1 / 2, "aabb": 1 / 4, "aaabbb": 1 / 8})
    assert all(len(w) >= 2 for w in d.sample_words(50, np.random.default_rng(1), min_len=2, max_len=6))
    with pytest.raises(InputError, match="min_len=9 is above the limit 6"):
        d.sample_words(5, np.random.default_rng(1), min_len=9, max_len=6)
