"""Hypothesis properties of the exact aⁿbⁿ distribution and the F1 non-identifiability claim."""

import math
from fractions import Fraction

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from pyformlang.cfg import CFG

from exact import (
    AnbnDistribution,
    OverrideModel,
    TokenBatch,
    check_rules,
    enumerate_strings,
    is_sentence,
    kl_brute_force,
    kl_chain_rule,
    sequence_log_prob,
)
from exact.core.tokens import TOKEN_NAMES
from tests.invariants import assert_defined_rows_are_distributions, assert_kl_nonneg
from tests.strategies import ab_words, length_laws, support_prefixes, token_rows

# Independent oracle: CYK membership in pyformlang (test-only dependency).
_WORDS = CFG.from_text("S -> a S b | a b")
_SENTENCES = CFG.from_text("S -> sos T eos P\nT -> a T b | a b\nP -> pad P | $")  # lower case: terminals
_CFG_NAME = {0: "a", 1: "b", 2: "sos", 3: "eos", 4: "pad"}


@given(law=length_laws(), prefixes=st.lists(support_prefixes(), min_size=1, max_size=8))
def test_conditionals_sum_to_one(law, prefixes):
    out = AnbnDistribution(law).next_token_probs(TokenBatch.from_sequences(prefixes))
    assert_defined_rows_are_distributions(out)


@given(law=length_laws(), prefixes=st.lists(support_prefixes(), min_size=1, max_size=8))
def test_chain_rule_reproduces_every_joint(law, prefixes):
    p = AnbnDistribution(law)
    batch = TokenBatch.from_sequences(prefixes)
    direct = p.log_prob_prefix(batch)
    assume(np.all(direct > -np.inf))
    np.testing.assert_allclose(sequence_log_prob(p, batch, start=1), direct, rtol=1e-12, atol=1e-15)


@given(law=length_laws(max_n=10), L=st.integers(1, 12))
def test_truncated_mass_accounted_for(law, L):
    table = enumerate_strings(AnbnDistribution(law), L)
    covered = math.fsum(np.exp(table.log_sentence_prob))
    exact_covered = sum((law.pmf_exact(n) for n in range(1, L // 2 + 1)), Fraction(0))
    assert exact_covered + table.truncated_mass == 1
    assert math.isclose(covered, float(exact_covered), rel_tol=1e-12, abs_tol=1e-300)


@given(
    law=length_laws(min_n=2, max_n=8),
    k=st.integers(1, 7),
    weights=st.lists(st.floats(0.01, 1), min_size=2, max_size=2),
)
def test_kl_zero_exactly_when_q_matches_p_on_support(law, k, weights):
    p = AnbnDistribution(law)
    k = min(k, law.n_max - 1) if law.n_max is not None else k  # SOS aᵏ: the a/b split is free
    prefix = [2] + [0] * k
    row = p.next_token_probs(TokenBatch.from_sequences([prefix]))
    a, b = row.probs[0, 0], row.probs[0, 1]
    assert row.defined[0] and a > 0 and b > 0
    new = row.probs[0].copy()
    new[0], new[1] = (a + b) * weights[0] / sum(weights), (a + b) * weights[1] / sum(weights)
    assume(abs(new[0] - a) > 1e-9)
    q = OverrideModel(p, {tuple(prefix): new})
    T = len(prefix) + 2
    chain, brute = kl_chain_rule(p, q, T).value, kl_brute_force(p, q, T).value
    assert_kl_nonneg(chain)
    # brute force sums ±O(δ) per-sequence terms to an O(δ²) KL: cancellation costs ~1e-16 absolute
    assert chain > 0 and math.isclose(chain, brute, rel_tol=1e-9, abs_tol=1e-14)
    off = OverrideModel(p, {tuple(prefix[:1]) + (1,) * len(prefix): [0.2, 0.2, 0.2, 0.2, 0.2]})
    assert kl_chain_rule(p, off, T).value == 0.0 == kl_brute_force(p, off, T).value


@given(word=ab_words(max_size=14))
def test_membership_agrees_with_pyformlang(word):
    checks = check_rules(TokenBatch.from_strings([word]))
    assert bool(checks.in_language[0]) == _WORDS.contains(list(word))
    assert bool(checks.r1[0]) == (word.count("a") == word.count("b"))
    assert bool(checks.r2[0]) == ("ba" not in word)


@st.composite
def near_sentences(draw):
    """A sentence SOS aⁿbⁿ EOS PAD*, possibly with one token changed (mostly valid ones)."""
    n, pads = draw(st.integers(0, 4)), draw(st.integers(0, 2))
    row = [2] + [0] * n + [1] * n + [3] + [4] * pads
    if draw(st.booleans()):
        row[draw(st.integers(0, len(row) - 1))] = draw(st.integers(0, 4))
    return row


@given(row=st.one_of(token_rows(max_size=10), near_sentences()))
def test_sentence_check_agrees_with_pyformlang(row):
    got = bool(is_sentence(TokenBatch.from_sequences([row]))[0])
    assert got == _SENTENCES.contains([_CFG_NAME[t] for t in row]), [TOKEN_NAMES[t] for t in row]
