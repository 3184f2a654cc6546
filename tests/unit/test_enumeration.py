"""Enumeration kernels against their NumPy twin, brute force and the paper's counts."""

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from exact import (
    AnbnDistribution,
    GeometricLength,
    TokenBatch,
    UniformLength,
    enumerate_prompts,
    enumerate_strings,
    estimate_enumeration_bytes,
)
from exact.anbn import _kernels as kernels
from exact.anbn.reference import enumerate_layer_reference

LAWS = [UniformLength(1), UniformLength(5), UniformLength(128), GeometricLength("1/2"), GeometricLength("9/10")]


@pytest.mark.parametrize("law", LAWS, ids=repr)
@pytest.mark.parametrize("length", [1, 2, 7, 12])
def test_kernel_equals_numpy_twin(law, length):
    log_pmf, log_sf = law.tables(length + 1)
    size = 1 << length
    out = (np.empty(size), np.empty(size), np.empty(size, np.uint8), np.empty(size, bool))
    kernels.enumerate_layer(length, log_pmf, log_sf, *out)
    ref = enumerate_layer_reference(length, log_pmf, log_sf)
    np.testing.assert_array_equal(out[2], ref[2])
    np.testing.assert_array_equal(out[3], ref[3])
    for got, want in zip(out[:2], ref[:2]):
        np.testing.assert_array_equal(got == -np.inf, want == -np.inf)
        np.testing.assert_allclose(got[got > -np.inf], want[want > -np.inf], rtol=1e-13)


def test_strings_against_per_string_brute_force():
    p = AnbnDistribution(UniformLength(3))
    table = enumerate_strings(p, 7)
    assert table.codes.size == 2**8 - 2
    words = ["".join(w) for L in range(1, 8) for w in itertools.product("ab", repeat=L)]
    assert [table.word(i) for i in range(table.codes.size)] == words
    np.testing.assert_array_equal(table.log_prefix_prob, p.log_prob_prefix(TokenBatch.from_strings(words)))
    sentences = TokenBatch.from_sequences([list(TokenBatch.from_strings([w]).row(0)) + [3] for w in words])
    np.testing.assert_array_equal(table.log_sentence_prob, p.log_prob_prefix(sentences))
    assert table.in_language.sum() == 3  # ab, aabb, aaabbb


def test_truncated_mass_reported_and_accounted():
    law = GeometricLength("1/2")
    table = enumerate_strings(AnbnDistribution(law), 9)  # n ≤ 4 fits
    assert table.truncated_mass == Fraction(1, 16)
    covered = math.fsum(np.exp(table.log_sentence_prob))
    assert covered == pytest.approx(1 - 1 / 16, rel=1e-15)
    assert covered + float(table.truncated_mass) == pytest.approx(1.0, rel=1e-15)


class TestPromptCountsAgainstPaper:
    def test_length_8(self):
        counts = enumerate_prompts(AnbnDistribution(UniformLength(128)), 8).counts()
        assert counts == {
            "prompts": 256,
            "id": 5,
            "ood": 251,
            "ood_r1_already": 69,
            "ood_violating_r2": 247,
            "ood_r2_more_b": 4,
            "completable": 5,
        }

    def test_id_words(self):
        table = enumerate_prompts(AnbnDistribution(UniformLength(128)), 8)
        assert table.words(table.in_distribution) == ["aaaaaaaa", "aaaaaaab", "aaaaaabb", "aaaaabbb", "aaaabbbb"]

    @pytest.mark.parametrize("k", range(1, 11))
    def test_against_string_enumeration(self, k):
        table = enumerate_prompts(AnbnDistribution(UniformLength(64)), k)
        words = ["".join(w) for w in itertools.product("ab", repeat=k)]
        assert table.words() == words
        grammar_id = [("ba" not in w) and w.count("a") >= w.count("b") for w in words]
        assert table.in_distribution.tolist() == grammar_id
        assert table.completable.tolist() == grammar_id

    def test_id_depends_on_law_when_prompt_exceeds_support(self):
        table = enumerate_prompts(AnbnDistribution(UniformLength(5)), 8)
        assert table.counts()["completable"] == 5  # the grammar rule ignores N …
        assert table.counts()["id"] == 2  # … but a⁸, a⁷b, a⁶b² have p = 0 under N = 5
        assert table.words(table.in_distribution) == ["aaaaabbb", "aaaabbbb"]


def test_refuses_enumerations_too_large_for_memory():
    p = AnbnDistribution(UniformLength(4))
    with pytest.raises(ValueError, match=r"max_length=25 .*max_bytes"):
        enumerate_strings(p, 25)
    with pytest.raises(ValueError, match="max_bytes"):
        enumerate_strings(p, 12, max_bytes=1000)
    with pytest.raises(ValueError, match="prompt_length"):
        enumerate_prompts(p, 40)
    with pytest.raises(ValueError, match="max_length"):
        enumerate_strings(p, 0)
    assert estimate_enumeration_bytes(24) == 27 * (2**25 - 2)
