"""Length laws: textbook values, exact rationals, truncation accounting, bad input."""

import math
from fractions import Fraction

import numpy as np
import pytest

from exact import GeometricLength, UniformLength


class TestUniformAgainstHandValues:
    def test_pmf_sf(self):
        law = UniformLength(4)
        assert [law.pmf_exact(n) for n in range(6)] == [
            0,
            Fraction(1, 4),
            Fraction(1, 4),
            Fraction(1, 4),
            Fraction(1, 4),
            0,
        ]
        assert [law.sf_exact(n) for n in range(6)] == [1, 1, Fraction(3, 4), Fraction(1, 2), Fraction(1, 4), 0]
        np.testing.assert_allclose(np.exp(law.log_sf(np.arange(6))), [1, 1, 0.75, 0.5, 0.25, 0])

    def test_entropy_and_mean(self):
        assert UniformLength(128).entropy() == math.log(128)
        assert UniformLength(128).mean() == 64.5


class TestGeometricAgainstHandValues:
    def test_pmf_is_pcfg_derivation_probability(self):
        law = GeometricLength("1/3")  # S → aSb (1/3) | ab (2/3)
        assert law.pmf_exact(1) == Fraction(2, 3)
        assert law.pmf_exact(3) == Fraction(2, 3) * Fraction(1, 9)
        assert law.sf_exact(4) == Fraction(1, 27)

    def test_float_rho_read_as_shortest_decimal(self):
        assert GeometricLength(0.9).rho == Fraction(9, 10)

    def test_entropy_closed_form_matches_series(self):
        law = GeometricLength("2/5")
        n = np.arange(1, 200)
        logp = law.log_pmf(n)
        assert law.entropy() == pytest.approx(-np.sum(np.exp(logp) * logp), rel=1e-13)
        assert law.mean() == pytest.approx(np.sum(n * np.exp(logp)), rel=1e-13)


class TestTruncation:
    def test_truncated_mass_is_exact_and_not_renormalised(self):
        law = GeometricLength("1/2").truncate(3)
        assert law.dropped_mass_exact == Fraction(1, 8)
        assert law.total_mass_exact == Fraction(7, 8)
        assert not law.is_proper
        assert sum(law.pmf_exact(n) for n in range(1, 10)) == Fraction(7, 8)

    def test_renormalised_only_when_asked(self):
        law = GeometricLength("1/2").truncate(3).renormalised()
        assert law.is_proper
        assert law.dropped_mass_exact == Fraction(1, 8)  # still reported
        assert sum(law.pmf_exact(n) for n in range(1, 10)) == 1
        np.testing.assert_allclose(
            np.exp(law.log_sf(np.arange(6))), [float(law.sf_exact(n)) for n in range(6)], rtol=1e-14
        )

    def test_uniform_truncation_beyond_support_is_a_no_op(self):
        assert UniformLength(4).truncate(10).total_mass_exact == 1


@pytest.mark.parametrize("rho", [0, 1, 1.5, -0.2, "x", True, "1/0"])
def test_bad_rho_names_parameter(rho):
    with pytest.raises(ValueError, match="rho"):
        GeometricLength(rho)


@pytest.mark.parametrize(
    ("n", "error"), [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError), ("4", TypeError)]
)
def test_bad_n_max_names_parameter(n, error):
    # a value out of range is a ValueError, a value of the wrong type a TypeError; both name the parameter
    with pytest.raises(error, match="n_max"):
        UniformLength(n)
    with pytest.raises(error, match="n_max"):
        GeometricLength("1/2").truncate(n)


@pytest.mark.parametrize("rho", ["0.99999999999999999", "1e-400"])
def test_rho_that_rounds_to_0_or_1_is_rejected(rho):
    with pytest.raises(ValueError, match="rho"):
        GeometricLength(rho)


def test_geometric_support_cannot_be_set_by_hand():
    with pytest.raises(TypeError):
        GeometricLength("1/2", 3)  # type: ignore[call-arg]


def test_truncation_near_rho_one_keeps_precision():
    """log S(n) − log S(M+1) near 0 needs log(−expm1(·)), not log1p(−exp(·))."""
    from exact import AnbnDistribution, TokenBatch

    rho, M, k = Fraction(999_999_999, 10**9), 10**6, 10
    law = GeometricLength(rho).truncate(M).renormalised()
    rows = AnbnDistribution(law).next_token_probs(TokenBatch.from_strings(["a" * k])).require_defined()
    # p(b | SOS aᵏ) = (1 − ρ) / (1 − ρ^(M − k + 1))
    want = (1 - float(rho)) / -math.expm1((M - k + 1) * math.log1p(-(1 - float(rho))))
    assert rows[0, 1] == pytest.approx(want, rel=1e-9)


def test_sizes_beyond_the_tables_are_refused_with_the_parameter_named():
    from exact import AnbnDistribution

    with pytest.raises(ValueError, match="n_max=100000000000"):
        AnbnDistribution(UniformLength(10**11)).facts()
    with pytest.raises(ValueError, match="n_max"):
        GeometricLength("1/2").truncate(10**8)
    with pytest.raises(ValueError, match="n=1000000"):
        GeometricLength("1/2").sf_exact(10**6)
    with pytest.raises(ValueError, match="base"):
        GeometricLength("1/2").truncate(4).truncate(2)
