"""Length laws: textbook values, exact rationals, truncation accounting, bad input."""

import math
from fractions import Fraction

import numpy as np
import pytest

from exact import GeometricLength, UniformLength


class TestUniformAgainstHandValues:
    def test_pmf_sf(self):
        law = UniformLength(4)
        assert [law.pmf_exact(n) for n in range(6)] == [0, Fraction(1, 4), Fraction(1, 4), Fraction(1, 4), Fraction(1, 4), 0]
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
        np.testing.assert_allclose(np.exp(law.log_sf(np.arange(6))), [float(law.sf_exact(n)) for n in range(6)], rtol=1e-14)

    def test_uniform_truncation_beyond_support_is_a_no_op(self):
        assert UniformLength(4).truncate(10).total_mass_exact == 1


@pytest.mark.parametrize("rho", [0, 1, 1.5, -0.2, "x", True, "1/0"])
def test_bad_rho_names_parameter(rho):
    with pytest.raises(ValueError, match="rho"):
        GeometricLength(rho)


@pytest.mark.parametrize("n", [0, -3, 2.5, True, "4"])
def test_bad_n_max_names_parameter(n):
    with pytest.raises(ValueError, match="n_max"):
        UniformLength(n)
    with pytest.raises(ValueError, match="n_max"):
        GeometricLength("1/2").truncate(n)
