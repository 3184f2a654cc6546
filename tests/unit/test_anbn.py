"""The exact aⁿbⁿ distribution against hand-computed values (docs/paper.md §4.2, §7, Appendix A.1)."""

import math
from fractions import Fraction

import numpy as np
import pytest

from exact import (
    EOS,
    PAD,
    SOS,
    AnbnDistribution,
    GeometricLength,
    TokenBatch,
    UniformLength,
)
from tests.invariants import assert_defined_rows_are_distributions


class TestUniformConditionalsAgainstPaper:
    """p(a | SOS aᵏ) = (N−k)/(N−k+1), p(b | SOS aᵏ) = 1/(N−k+1) (docs/paper.md §4.2)."""

    @pytest.mark.parametrize("N", [1, 4, 128])
    def test_a_block(self, N):
        p = AnbnDistribution(UniformLength(N))
        rows = p.next_token_probs(TokenBatch.from_strings(["a" * k for k in range(N + 1)])).require_defined()
        assert rows[0].tolist() == [1, 0, 0, 0, 0]  # after SOS: a
        k = np.arange(1, N + 1)
        np.testing.assert_allclose(rows[1:, 0], (N - k) / (N - k + 1), rtol=1e-13, atol=1e-300)
        np.testing.assert_allclose(rows[1:, 1], 1 / (N - k + 1), rtol=1e-13)

    def test_deterministic_after_first_b(self):
        p = AnbnDistribution(UniformLength(4))
        rows = p.next_token_probs(
            TokenBatch.from_sequences(
                [[SOS, 0, 0, 0, 1], [SOS, 0, 0, 1, 1], [SOS, 0, 0, 1, 1, EOS], [SOS, 0, 1, EOS, PAD]]
            )
        )
        assert rows.require_defined().tolist() == [[0, 1, 0, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1]]


def test_prefix_probabilities_match_exact_rationals():
    law = GeometricLength("3/7")
    p = AnbnDistribution(law)
    batch, logp = p.support_prefixes(12)
    for i in range(len(batch)):
        row = batch.row(i)
        k, j = int((row == 0).sum()), int((row == 1).sum())
        exact = law.sf_exact(k) if j == 0 else law.pmf_exact(k)
        assert math.exp(logp[i]) == pytest.approx(float(exact), rel=1e-13)
    np.testing.assert_allclose(p.log_prob_prefix(batch), logp, rtol=1e-13)


def test_zero_probability_prefixes_are_undefined_not_invented():
    p = AnbnDistribution(UniformLength(4))
    ood = TokenBatch.from_sequences(
        [[SOS, 1], [SOS, 0, 1, 0], [SOS, 0, 1, 1], [0, 1], [SOS, 0, 0, 0, 0, 0], [SOS, SOS]]
    )
    out = p.next_token_probs(ood)
    assert not out.defined.any()
    assert np.all(out.probs == 0)
    assert np.all(p.log_prob_prefix(ood) == -np.inf)


def test_empty_prefix_emits_sos():
    p = AnbnDistribution(UniformLength(3))
    out = p.next_token_probs(TokenBatch(np.zeros((1, 0), dtype=np.int64), np.array([0])))
    assert out.require_defined().tolist() == [[0, 0, 1, 0, 0]]


class TestFactsAgainstPaperSection7:
    def test_official_padded_floor_and_ceiling(self):
        f = AnbnDistribution(UniformLength(128)).facts()
        assert f.padded_loss_floor == pytest.approx(math.log(128) / 257, rel=1e-15)
        assert round(f.padded_loss_floor, 10) == 0.0188794952
        assert f.pad_ignored_loss_floor == pytest.approx(math.log(128) / 130, rel=1e-15)
        assert f.bayes_argmax_accuracy_padded == pytest.approx(1 - 127 / 32896, rel=1e-15)
        assert f.official_logged_entropy == pytest.approx(math.log(128) / 128)
        assert f.padded_targets_per_sequence == 257

    def test_pcfg_has_no_padded_floor_without_truncation(self):
        f = AnbnDistribution(GeometricLength("9/10")).facts()
        assert f.padded_loss_floor is None
        assert f.pad_ignored_loss_floor == pytest.approx(f.entropy_per_sequence / 21)


def test_truncated_law_must_be_renormalised_explicitly():
    law = GeometricLength("1/2").truncate(4)
    with pytest.raises(ValueError, match="renormalised"):
        AnbnDistribution(law)
    p = AnbnDistribution(law.renormalised())
    assert p.law.is_proper  # the conditioned law is proper …
    assert law.dropped_mass_exact == Fraction(1, 16)  # … and the dropped mass stays reported
    assert p.facts().law["dropped_mass"] == 1 / 16


def test_bad_law_argument():
    with pytest.raises(TypeError, match="law must be a LengthLaw, got str"):
        AnbnDistribution("uniform")  # type: ignore[arg-type]


def test_support_rows_are_distributions():
    p = AnbnDistribution(UniformLength(5))
    batch, _ = p.support_prefixes(14)
    assert_defined_rows_are_distributions(p.next_token_probs(batch))


@pytest.mark.parametrize(
    "law", [UniformLength(6), GeometricLength("2/7"), GeometricLength("1/2").truncate(5).renormalised()], ids=repr
)
def test_float_kernel_against_exact_rationals_on_every_short_prefix(law):
    """Every token sequence of length ≤ 6 over all 5 tokens: kernel floats vs closed-form rationals."""
    import itertools

    p = AnbnDistribution(law)
    seqs = [list(s) for L in range(7) for s in itertools.product(range(5), repeat=L)]
    batch = TokenBatch.from_sequences(seqs)
    logp = p.log_prob_prefix(batch)
    out = p.next_token_probs(batch)
    for i, s in enumerate(seqs):
        exact = p.prefix_prob_exact(s)
        assert (logp[i] == -np.inf) == (exact == 0)
        if exact:
            assert math.exp(logp[i]) == pytest.approx(float(exact), rel=1e-13)
            rows = p.next_token_probs_exact(s)
            np.testing.assert_allclose(out.probs[i], [float(r) for r in rows], rtol=1e-13, atol=0)
            assert sum(rows) == 1
        else:
            assert p.next_token_probs_exact(s) is None and not out.defined[i]
