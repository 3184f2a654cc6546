"""q_n, the swap identity, the bounds and the certified KL."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from flint import arb, ctx

from exact.core.kl import kl_by_sequences
from exact.core.tokens import TokenBatch
from exact.hmm.categorical import CategoricalHMM
from exact.hmm.ginc import generate_ginc
from exact.hmm.mixture import HMMMixture, as_mixture
from exact.hmm.prompts import PromptTemplate
from exact.icl.certify import (
    ArbParams,
    arb_float_bounds,
    arb_log10_bounds,
    certified_identity,
    certified_prompt_set_masses,
    delimiter_ceiling,
    emission_floor,
    format_upper,
)
from exact.icl.qn import DEMO_CONFIG, DEMO_K, SwapModel, ZeroRunnerUpError
from exact.icl.swap_kl import TooManyStringsError, icl_table, swap_identity, swap_identity_masked

B1 = (Fraction(1, 2), Fraction(1, 3), Fraction(1, 6))
B2 = (Fraction(1, 6), Fraction(1, 3), Fraction(1, 2))


def _iid_pair() -> HMMMixture:
    """Two one-state concepts emitting i.i.d. tokens with B1 and B2, prior (1/2, 1/2)."""
    return HMMMixture.from_hmms(
        [
            CategoricalHMM([1.0], [[1.0]], [[float(x) for x in B1]]),
            CategoricalHMM([1.0], [[1.0]], [[float(x) for x in B2]]),
        ]
    )


class TestTwoIidConcepts:
    """Hand-computable: p(s) = (Π B1 + Π B2)/2 and p(y|s) = Σ_c p(c|s) B_c[y], in exact rationals."""

    @staticmethod
    def _identity(template: PromptTemplate) -> tuple[float, Fraction]:
        kl, mass = 0.0, Fraction(0)
        for s in itertools.product(*template.token_sets(3)):
            w1 = math.prod((B1[o] for o in s), start=Fraction(1, 2))
            w2 = math.prod((B2[o] for o in s), start=Fraction(1, 2))
            ps = w1 + w2
            pred = sorted(((w1 * B1[y] + w2 * B2[y]) / ps for y in range(3)), reverse=True)
            kl += float(ps) * float(pred[0] - pred[1]) * math.log(pred[0] / pred[1])
            mass += ps
        return kl, mass

    @pytest.mark.parametrize("n", [0, 1, 2])
    def test_identity_and_mass(self, n: int) -> None:
        t = PromptTemplate(k=2, n_shots=n)
        expected, mass = self._identity(t)
        got = swap_identity(_iid_pair(), t, tie_policy="keep")
        assert got.kl == pytest.approx(expected, rel=1e-13)
        assert got.prompt_set_mass == pytest.approx(float(mass), rel=1e-13)
        assert mass == Fraction(1, 2) * (B1[0] ** n + B2[0] ** n)  # delimiter probability 1/2 or 1/6 per shot

    def test_n0_by_hand(self) -> None:
        # s = token 1: p(s) = 1/3, posterior (1/2, 1/2), p(·|s) = (1/3, 1/3, 1/3): a tie, no flip
        # s = token 0: p(s) = 1/3, posterior (3/4, 1/4), p(·|s) = (5/12, 1/3, 1/4): cost (1/12) ln(5/4)
        # s = token 2: symmetric to token 0
        got = swap_identity(_iid_pair(), PromptTemplate(2, 0), tie_policy="keep")
        assert got.kl == pytest.approx(2 * (1 / 3) * (1 / 12) * math.log(5 / 4), rel=1e-14)
        assert (got.flips, got.ties, got.n_positive) == (2, 1, 3)
        with pytest.raises(ValueError, match="1 prompt string\\(s\\) of S_n have tied top tokens"):
            swap_identity(_iid_pair(), PromptTemplate(2, 0))


class TestSwapModel:
    def test_swaps_only_on_prompt_strings(self) -> None:
        mix = generate_ginc(DEMO_CONFIG).mixture
        q = SwapModel(mix, PromptTemplate(DEMO_K, 1))
        batch = TokenBatch.from_sequences([[1, 2, 0, 1], [1, 2, 1, 1], [1, 2, 0], [1, 2, 0, 1, 1]], vocab_size=3)
        p, qq = mix.next_token_probs(batch).probs, q.next_token_probs(batch).probs
        assert np.array_equal(np.sort(p[0]), np.sort(qq[0])) and np.argmax(p[0]) != np.argmax(qq[0])
        assert np.array_equal(p[1:], qq[1:])  # wrong delimiter, shorter, longer: q = p
        assert q.in_prompt_set(batch).tolist() == [True, False, False, False]

    def test_zero_runner_up_is_refused(self) -> None:
        """A concept that only ever emits token 1: p(·|s) = (0, 1, 0), the runner-up has probability 0."""
        mix = as_mixture(CategoricalHMM([1.0], [[1.0]], [[0.0, 1.0, 0.0]]))
        t = PromptTemplate(2, 0)
        with pytest.raises(ZeroRunnerUpError, match="emission smoothing"):
            swap_identity(mix, t)
        with pytest.raises(ZeroRunnerUpError, match="KL\\(p‖q_n\\) = inf"):
            SwapModel(mix, t).next_token_probs(TokenBatch.from_sequences([[1]], vocab_size=3))
        with pytest.raises(ZeroRunnerUpError, match="no certified bound"):
            icl_table(generate_ginc(n_concepts=2, n_values=2, n_slots=3, n_symbols=3, seed=3), 2, 1)

    def test_arguments_validated(self) -> None:
        mix = _iid_pair()
        with pytest.raises(ValueError, match="template.delimiter=1000 is not a token id"):
            swap_identity(mix, PromptTemplate(2, 1, delimiter=1000))
        with pytest.raises(ValueError, match="delimiter=5 is above the limit 2"):
            icl_table(generate_ginc(DEMO_CONFIG), 2, 0, delimiter=5)
        with pytest.raises(ValueError, match="max_strings must be an integer ≥ 1, got 0"):
            icl_table(generate_ginc(DEMO_CONFIG), 2, 0, max_strings=0)
        with pytest.raises(TooManyStringsError):
            swap_identity(mix, PromptTemplate(2, 2), max_strings=10)
        with pytest.raises(ValueError, match="tie_policy must be one of"):
            SwapModel(mix, PromptTemplate(2, 0), tie_policy="ignore")
        with pytest.raises(TypeError, match="template must be a PromptTemplate"):
            SwapModel(mix, (2, 0))  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="above max_strings=10"):
            swap_identity(mix, PromptTemplate(2, 2), max_strings=10)
        with pytest.raises(ValueError, match="exceed the brute-force limit"):
            kl_by_sequences(mix, mix, 40)


class TestThreeWays:
    @pytest.mark.parametrize("n", [0, 1, 2])
    def test_identity_brute_force_and_reverse(self, n: int) -> None:
        mix = generate_ginc(DEMO_CONFIG).mixture
        t = PromptTemplate(DEMO_K, n)
        ident = swap_identity(mix, t)
        q = SwapModel(mix, t)
        assert kl_by_sequences(mix, q, t.length + 1) == pytest.approx(ident.kl, rel=1e-10)
        assert kl_by_sequences(q, mix, t.length + 1) == pytest.approx(ident.kl, rel=1e-10)
        assert ident.flips == ident.n_positive == 3 ** (t.length - n)

    def test_swapping_everywhere_is_not_small(self) -> None:
        mix = generate_ginc(DEMO_CONFIG).mixture
        everywhere = swap_identity_masked(mix, PromptTemplate(DEMO_K, 2), delimiters=False)
        assert everywhere.prompt_set_mass == pytest.approx(1.0, abs=1e-12)
        assert everywhere.kl > 10 * swap_identity(mix, PromptTemplate(DEMO_K, 2)).kl


class TestCertified:
    def test_masses_enclose_the_float_values(self) -> None:
        mix = generate_ginc(DEMO_CONFIG).mixture
        balls = list(certified_prompt_set_masses(mix, DEMO_K, 6))
        for n, ball in enumerate(balls):
            lo, hi = arb_float_bounds(ball)
            val = math.exp(mix.log_prob_sets(PromptTemplate(DEMO_K, n).token_sets(3))[0])
            assert lo * (1 - 1e-12) <= val <= hi * (1 + 1e-12)
            assert hi - lo <= 4e-16 * hi  # a ball of radius ~1e-35, widened to the neighbouring floats

    def test_identity_ball_is_tight_around_the_float(self) -> None:
        mix = generate_ginc(DEMO_CONFIG).mixture
        lo, hi = arb_float_bounds(certified_identity(mix, DEMO_K, 1))
        val = swap_identity(mix, PromptTemplate(DEMO_K, 1)).kl
        assert lo <= hi and abs(val - lo) <= 1e-12 * val and hi - lo <= 4e-16 * val

    def test_floor_and_ceiling(self) -> None:
        mix = generate_ginc(DEMO_CONFIG).mixture
        params = ArbParams.from_mixture(mix)
        beta = arb_float_bounds(emission_floor(mix, params))
        assert beta[1] <= mix.emissions.min() * (1 + 1e-12)
        rho = arb_float_bounds(delimiter_ceiling(mix, params=params))[1]
        one_step = max((mix.transmat(c) @ mix.emission_matrix(c)[:, 0]).max() for c in range(mix.n_concepts))
        assert one_step <= rho <= one_step * (1 + 1e-12)

    def test_rounding_is_outward_and_log10_works_below_float_range(self) -> None:
        x = arb("1e-400")
        lo, hi = arb_float_bounds(x)
        assert lo == 0.0 and hi > 0.0  # the upper bound never rounds down to 0
        l10 = arb_log10_bounds(x)
        assert l10[0] <= -400 <= l10[1] and l10[1] - l10[0] < 1e-12
        with ctx.workprec(128):
            third = arb(1) / 3
        lo, hi = arb_float_bounds(third)
        with ctx.workprec(128):
            assert arb(lo) < third.lower() and third.upper() < arb(hi)  # 1/3 is no float: both sides strict
        assert format_upper(5.48587e-10) == "5.486e-10" and format_upper(2.0) == "2.000e+00"

    def test_certified_epsilon_far_below_float_range(self) -> None:
        mix = generate_ginc(DEMO_CONFIG).mixture
        tab = icl_table(mix, DEMO_K, 2, epsilons=("1e-400", 1e-300), search_shots=2000, max_strings=10)
        n400, n300 = tab.n_epsilon["1e-400"], tab.n_epsilon[1e-300]
        assert n400 is not None and n300 is not None and n400 > n300
        up = tab.n_epsilon_log10_upper["1e-400"]
        assert up is not None and up < -400
        # the float mass of S_n at N_ε underflows to 0; only the balls carry the proof
        t = PromptTemplate(DEMO_K, n400)
        assert math.exp(mix.log_prob_sets(t.token_sets(3))[0]) == 0.0
        assert all(r.exact is None for r in tab.rows[1:])  # too many strings: bounds only
        with pytest.raises(ValueError, match="epsilons must be positive numbers"):
            icl_table(mix, DEMO_K, 0, epsilons=("-1",))

    def test_table_bounds_hold_and_epsilon_only_when_certified(self) -> None:
        tab = icl_table(generate_ginc(DEMO_CONFIG), DEMO_K, 4, epsilons=(1e-2, 1e-9))
        for r in tab.rows:
            assert r.exact is not None
            assert r.exact.kl <= r.bound_mass <= r.certified_upper * (1 + 1e-12)
            assert r.exact.kl <= r.bound_rho
        n2 = tab.n_epsilon[1e-2]
        assert n2 is not None and tab.rows[n2].certified_upper < 1e-2
        assert all(r.certified_upper >= 1e-2 for r in tab.rows[:n2])


def test_q_n_samples_like_any_predictor() -> None:
    """Ancestral samples of q_n: sequence frequencies match q_n's exact joint (chi-square bound)."""
    from exact.core.predictor import sample_sequences, sequence_log_prob

    mix = generate_ginc(DEMO_CONFIG).mixture
    q = SwapModel(mix, PromptTemplate(DEMO_K, 0))
    n = 20_000
    draws = sample_sequences(q, n, 2, np.random.default_rng(7))
    again = sample_sequences(q, n, 2, np.random.default_rng(7))
    assert np.array_equal(draws.tokens, again.tokens)
    codes = draws.tokens[:, 0] * 3 + draws.tokens[:, 1]
    observed = np.bincount(codes, minlength=9)
    all_seqs = TokenBatch.from_sequences([[a, b] for a in range(3) for b in range(3)], vocab_size=3)
    expected = n * np.exp(sequence_log_prob(q, all_seqs))
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    assert chi2 < 26.1  # 99.9 % quantile of chi-square with 8 degrees of freedom
    # q_n differs from p on S_0 (the first token): the second token's law differs after the swap
    p_first = sequence_log_prob(mix, all_seqs)
    assert not np.allclose(np.exp(p_first), expected / n)


def test_kernel_keeps_paths_whose_linear_step_underflows() -> None:
    """A weight e^-690 times a transition 1e-30: the max-shifted product underflows, logsumexp does not."""
    hmm = CategoricalHMM(
        [1 / (1 + 1e-300), 1e-300 / (1 + 1e-300)], [[1.0, 0.0], [1 - 1e-30, 1e-30]], [[1.0, 0.0], [0.5, 0.5]]
    )
    mix = as_mixture(hmm)
    t = PromptTemplate(2, 1, delimiter=1)
    got = swap_identity(mix, t, tie_policy="keep")
    strings = [list(s) for s in itertools.product(*t.token_sets(2))]
    logp = mix.log_prob(TokenBatch.from_sequences(strings, vocab_size=2))
    assert got.n_positive == int(np.sum(logp > -np.inf)) == 8
    assert got.log_prompt_set_mass == pytest.approx(float(np.logaddexp.reduce(logp)), rel=1e-12)
