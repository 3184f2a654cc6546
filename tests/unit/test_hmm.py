"""The HMM and mixture engine against hand-computed values, brute force and hmmlearn."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from exact.core.tokens import TokenBatch
from exact.hmm.categorical import CategoricalHMM
from exact.hmm.mixture import HMMMixture, as_mixture
from exact.hmm.reference import hmm_forward_dense

# Wikipedia's "Forward algorithm"/hmmlearn example: Rainy/Sunny, walk/shop/clean.
WIKI = CategoricalHMM([0.6, 0.4], [[0.7, 0.3], [0.4, 0.6]], [[0.1, 0.4, 0.5], [0.6, 0.3, 0.1]])


def _random_mixture(rng: np.random.Generator, k: int, nv: int, ns: int, m: int, *, zeros: float = 0.0) -> HMMMixture:
    def stoch(*shape: int) -> np.ndarray:
        a = rng.random(shape)
        a[rng.random(shape) < zeros] = 0.0
        a[..., 0] += 1e-3  # no all-zero row
        return a / a.sum(-1, keepdims=True)

    return HMMMixture(stoch(k), stoch(k, nv * ns), stoch(k, ns, ns), stoch(1, nv, nv), stoch(nv * ns, m))


def _brute(mix: HMMMixture, c: int, seq: list[int]) -> float:
    """p(seq | θ_c) by summing over every hidden path."""
    if not seq:
        return 1.0
    t_mat, b, pi = mix.transmat(c), mix.emission_matrix(c), mix.start[c]
    total = 0.0
    for path in itertools.product(range(mix.n_states), repeat=len(seq)):
        pr = pi[path[0]] * b[path[0], seq[0]]
        for t in range(1, len(seq)):
            pr *= t_mat[path[t - 1], path[t]] * b[path[t], seq[t]]
        total += pr
    return total


class TestForwardAgainstWikipedia:
    def test_sequence_probability(self) -> None:
        # α1 = (0.06, 0.24), α2 = (0.0552, 0.0486), α3 = (0.02904, 0.004572): p = 0.033612
        batch = TokenBatch.from_sequences([[0, 1, 2]], vocab_size=3)
        for method in ("auto", "log"):
            ll = as_mixture(WIKI).forward(batch, method=method).loglik
            assert ll[0, 0] == pytest.approx(np.log(0.033612), rel=1e-14)

    def test_predictive_is_ratio_of_probabilities(self) -> None:
        mix = as_mixture(WIKI)
        x = TokenBatch.from_sequences([[0, 1]], vocab_size=3)
        xy = TokenBatch.from_sequences([[0, 1, y] for y in range(3)], vocab_size=3)
        pred = mix.next_token_probs(x).probs[0]
        np.testing.assert_allclose(pred, np.exp(mix.log_prob(xy) - mix.log_prob(x)[0]), rtol=1e-13)


class TestValidation:
    def test_row_sum_names_parameter_row_and_value(self) -> None:
        with pytest.raises(ValueError, match=r"transmat row 1 sums to 0\.9"):
            CategoricalHMM([0.5, 0.5], [[1.0, 0.0], [0.5, 0.4]], [[1.0], [1.0]])

    def test_negative_entry_named(self) -> None:
        with pytest.raises(ValueError, match=r"emissions\[0, 1\] = -0\.5"):
            CategoricalHMM([1.0], [[1.0]], [[1.5, -0.5]])

    def test_nan_rejected(self) -> None:
        with pytest.raises(ValueError, match=r"start\[0\] = nan"):
            CategoricalHMM([np.nan, 1.0], np.eye(2), np.eye(2))

    def test_shapes(self) -> None:
        with pytest.raises(ValueError, match="transmat must be square"):
            CategoricalHMM([0.5, 0.5], [[1.0], [1.0]], np.eye(2))
        with pytest.raises(ValueError, match="start has 2 states"):
            CategoricalHMM([0.5, 0.5], np.eye(3), np.eye(3))

    def test_mixture_prior_and_concept_counts(self) -> None:
        with pytest.raises(ValueError, match=r"prior sums to 0\.9"):
            HMMMixture([0.5, 0.4], np.full((2, 1), 1.0), np.ones((2, 1, 1)), None, [[1.0]])
        with pytest.raises(ValueError, match="slot_transmat has 1 concepts but prior has 2"):
            HMMMixture([0.5, 0.5], np.full((2, 1), 1.0), np.ones((1, 1, 1)), None, [[1.0]])
        with pytest.raises(ValueError, match="emissions is required"):
            HMMMixture([1.0], [[1.0]], [[[1.0]]])

    def test_tolerance_and_non_numeric_input(self) -> None:
        with pytest.raises(ValueError, match=r"tol must be a number in \[0, 1\), got nan"):
            CategoricalHMM([0.5, 0.2], [[3, 0], [0, 1]], [[1], [1]], tol=float("nan"))
        with pytest.raises(ValueError, match="transmat must be a numeric array"):
            CategoricalHMM([1.0], [[1.0], [0.5, 0.5]], [[1.0]])
        with pytest.raises(ValueError, match=r"sets\[0\] must hold integer token ids"):
            as_mixture(WIKI).log_prob_sets([[1.7]])  # type: ignore[list-item]
        with pytest.raises(ValueError, match="concept must be an integer ≥ 0, got -1"):
            as_mixture(WIKI).transmat(-1)

    def test_vocab_mismatch(self) -> None:
        with pytest.raises(ValueError, match="vocab_size=5 does not match the mixture's vocab_size=3"):
            as_mixture(WIKI).forward(TokenBatch.from_sequences([[0, 1]]))

    def test_bad_method(self) -> None:
        with pytest.raises(ValueError, match="method must be 'auto' or 'log'"):
            as_mixture(WIKI).forward(TokenBatch.from_sequences([[0]], vocab_size=3), method="fast")


class TestForwardAgainstBruteForce:
    @pytest.mark.parametrize("method", ["auto", "log"])
    def test_every_short_sequence(self, method: str, rng: np.random.Generator) -> None:
        mix = _random_mixture(rng, k=3, nv=2, ns=2, m=3, zeros=0.3)
        seqs = [list(s) for t in range(5) for s in itertools.product(range(3), repeat=t)]
        res = mix.forward(TokenBatch.from_sequences(seqs, vocab_size=3), method=method)
        brute = np.array([[_brute(mix, c, s) for c in range(3)] for s in seqs])
        with np.errstate(divide="ignore"):
            np.testing.assert_allclose(res.loglik, np.log(brute), rtol=1e-12, atol=1e-13)
        # the mixture marginal is the prior-weighted sum, and sums to one over each length
        marg = np.exp(mix.log_prob(TokenBatch.from_sequences(seqs, vocab_size=3)))
        np.testing.assert_allclose(marg, brute @ mix.prior, rtol=1e-12, atol=1e-15)
        lengths = np.array([len(s) for s in seqs])
        for t in range(5):
            assert marg[lengths == t].sum() == pytest.approx(1.0, abs=1e-13)

    def test_zero_probability_sequences_are_minus_inf(self) -> None:
        hmm = CategoricalHMM([1.0, 0.0], [[0.0, 1.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]])
        batch = TokenBatch.from_sequences([[0, 0], [0, 1, 1], [1]], vocab_size=2)
        res = as_mixture(hmm).forward(batch, predictive=True)
        assert res.loglik[:, 0].tolist() == [-np.inf, 0.0, -np.inf]
        assert res.predictive is not None and not np.isnan(res.predictive).any()
        out = as_mixture(hmm).next_token_probs(batch)
        assert out.defined.tolist() == [False, True, False]


class TestScaledKernel:
    def test_matches_log_space_on_many_lanes(self, rng: np.random.Generator) -> None:
        """Blocks mixing concepts and lengths (more lanes than one block), per-concept V and B."""
        k, nv, ns, m = 7, 3, 4, 5
        base = _random_mixture(rng, k, nv, ns, m, zeros=0.3)
        v = rng.random((k, nv, nv))
        b = rng.random((k, nv * ns, m))
        mix = HMMMixture(
            base.prior, base.start, base.slot_transmat, v / v.sum(-1, keepdims=True), b / b.sum(-1, keepdims=True)
        )
        seqs = [list(rng.integers(0, m, size=rng.integers(0, 30))) for _ in range(11)]
        batch = TokenBatch.from_sequences(seqs, vocab_size=m)
        auto = mix.forward(batch, predictive=True)
        log = mix.forward(batch, predictive=True, method="log")
        assert auto.n_log_space == 0 and log.n_log_space == k * len(seqs)
        np.testing.assert_allclose(auto.loglik, log.loglik, rtol=1e-12)
        assert auto.predictive is not None and log.predictive is not None
        np.testing.assert_allclose(auto.predictive, log.predictive, rtol=1e-11, atol=1e-15)

    def test_underflow_risk_goes_to_log_space(self) -> None:
        """State 1 loses a factor 1e-10 per token for 40 tokens, then alone explains token 1.

        A scaled recursion without the check flushes state 1 to zero and answers
        -inf; the true value is log(0.5) + 40 log(1e-10) + log(1 - 1e-10).
        """
        hmm = CategoricalHMM([0.5, 0.5], np.eye(2), [[1.0, 0.0], [1e-10, 1 - 1e-10]])
        batch = TokenBatch.from_sequences([[0] * 40 + [1]], vocab_size=2)
        res = as_mixture(hmm).forward(batch)
        expected = np.log(0.5) + 40 * np.log(1e-10) + np.log1p(-1e-10)
        assert res.n_log_space == 1
        assert res.loglik[0, 0] == pytest.approx(expected, rel=1e-13)
        # the naive scaled recursion (NumPy twin) does lose it: the check is needed
        naive = hmm_forward_dense(batch.tokens, batch.lengths, hmm.start, hmm.transmat, hmm.emissions)
        assert naive[0] == -np.inf

    def test_some_lanes_of_a_block_go_to_log_space(self, rng: np.random.Generator) -> None:
        """Mixed concepts and lengths with tiny emissions: only the lanes at risk are rerun."""
        k, h, m = 5, 3, 3
        em = np.array([[1 - 2e-60, 1e-60, 1e-60], [1e-3, 1 - 2e-3, 1e-3], [0.3, 0.3, 0.4]])
        t = rng.random((k, h, h)) + 0.05
        t[:2] = np.eye(h)  # concepts 0 and 1 never leave their start state: weights can only shrink
        mix = HMMMixture(np.full(k, 0.2), np.full((k, h), 1 / h), t / t.sum(-1, keepdims=True), None, em)
        seqs = [list(rng.integers(0, m, size=int(n))) for n in rng.integers(0, 40, size=9)] + [[1] * 10 + [0, 2]]
        batch = TokenBatch.from_sequences(seqs, vocab_size=m)
        auto, log = mix.forward(batch, predictive=True), mix.forward(batch, predictive=True, method="log")
        assert 0 < auto.n_log_space < k * len(seqs)
        np.testing.assert_allclose(auto.loglik, log.loglik, rtol=1e-12)
        assert auto.predictive is not None and log.predictive is not None
        np.testing.assert_allclose(auto.predictive, log.predictive, rtol=1e-10, atol=1e-15)

    def test_kernel_flags_nothing_on_benign_input(self, rng: np.random.Generator) -> None:
        mix = _random_mixture(rng, 2, 2, 2, 3)
        batch = TokenBatch.from_sequences([list(rng.integers(0, 3, size=50))], vocab_size=3)
        assert mix.forward(batch).n_log_space == 0


class TestAgainstHmmlearn:
    """hmmlearn's CategoricalHMM (independent implementation) as the oracle, per concept."""

    def test_score_and_predict_proba(self, rng: np.random.Generator) -> None:
        hmmlearn = pytest.importorskip("hmmlearn.hmm", reason="hmmlearn is in the test extra")
        mix = _random_mixture(rng, k=3, nv=2, ns=3, m=4)
        seqs = [list(rng.integers(0, 4, size=int(n))) for n in rng.integers(1, 25, size=6)]
        batch = TokenBatch.from_sequences(seqs, vocab_size=4)
        res = mix.forward(batch, predictive=True)
        assert res.predictive is not None
        for c in range(3):
            model = hmmlearn.CategoricalHMM(n_components=mix.n_states, n_features=4, init_params="", params="")
            model.startprob_ = mix.start[c]
            model.transmat_ = mix.transmat(c)
            model.emissionprob_ = mix.emission_matrix(c)
            for i, s in enumerate(seqs):
                x = np.asarray(s).reshape(-1, 1)
                assert res.loglik[i, c] == pytest.approx(model.score(x), rel=1e-10)
                last = model.predict_proba(x)[-1]
                np.testing.assert_allclose(
                    res.predictive[i, c], last @ mix.transmat(c) @ mix.emission_matrix(c), rtol=1e-9, atol=1e-14
                )


class TestSetsAndSampling:
    def test_log_prob_sets_equals_sum_over_strings(self, rng: np.random.Generator) -> None:
        mix = _random_mixture(rng, k=2, nv=2, ns=2, m=3, zeros=0.2)
        sets = [[0, 2], [1], [0, 1, 2], [2]]
        strings = [list(s) for s in itertools.product(*sets)]
        total = np.exp(mix.log_prob(TokenBatch.from_sequences(strings, vocab_size=3))).sum()
        value, per_concept = mix.log_prob_sets(sets)
        assert np.exp(value) == pytest.approx(total, rel=1e-12)
        assert per_concept.shape == (2,)

    def test_log_prob_sets_rejects_bad_sets(self) -> None:
        with pytest.raises(ValueError, match=r"sets\[1\] must be a non-empty set of token ids in 0\.\.2"):
            as_mixture(WIKI).log_prob_sets([[0], []])

    def test_samples_have_positive_probability_and_are_seeded(self, rng: np.random.Generator) -> None:
        mix = _random_mixture(rng, k=3, nv=2, ns=2, m=3, zeros=0.4)
        a = mix.sample(20, 15, np.random.default_rng(5))
        b = mix.sample(20, 15, np.random.default_rng(5))
        assert np.array_equal(a[0].tokens, b[0].tokens) and np.array_equal(a[2], b[2])
        ll = mix.log_likelihoods(a[0])
        assert np.isfinite(ll[np.arange(20), a[1]]).all()

    def test_sample_validates(self) -> None:
        with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
            as_mixture(WIKI).sample(1, 2, 3)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="concept=4 is above the limit 0"):
            as_mixture(WIKI).sample(1, 2, np.random.default_rng(0), concept=4)


def test_reference_twin_matches_engine(rng: np.random.Generator) -> None:
    mix = _random_mixture(rng, k=1, nv=2, ns=3, m=4, zeros=0.2)
    seqs = [list(rng.integers(0, 4, size=int(n))) for n in rng.integers(1, 40, size=8)]
    batch = TokenBatch.from_sequences(seqs, vocab_size=4)
    ref = hmm_forward_dense(batch.tokens, batch.lengths, mix.start[0], mix.transmat(0), mix.emission_matrix(0))
    np.testing.assert_allclose(mix.log_likelihoods(batch)[:, 0], ref, rtol=1e-12)


def test_select_concepts(rng: np.random.Generator) -> None:
    mix = _random_mixture(rng, k=3, nv=2, ns=2, m=3)
    sub = mix.select_concepts(np.array([2, 2, 0]), prior=[0.5, 0.25, 0.25])
    assert sub.n_concepts == 3 and np.array_equal(sub.transmat(1), mix.transmat(2))
    batch = TokenBatch.from_sequences([[0, 1, 2]], vocab_size=3)
    ll = mix.log_likelihoods(batch)[0]
    np.testing.assert_allclose(sub.log_likelihoods(batch)[0], ll[[2, 2, 0]], rtol=1e-14)
    with pytest.raises(ValueError, match=r"concepts must be non-empty indices in 0\.\.2"):
        mix.select_concepts(np.array([3]))


def test_sampled_frequencies_match_the_exact_marginal() -> None:
    """HMMMixture.sample against its own exact p(x) on all 9 strings of length 2 (chi-square)."""
    mix = _random_mixture(np.random.default_rng(3), k=2, nv=2, ns=2, m=3, zeros=0.2)
    n = 20_000
    batch, _, _ = mix.sample(n, 2, np.random.default_rng(11))
    observed = np.bincount(batch.tokens[:, 0] * 3 + batch.tokens[:, 1], minlength=9)
    strings = TokenBatch.from_sequences([[a, b] for a in range(3) for b in range(3)], vocab_size=3)
    expected = n * np.exp(mix.log_prob(strings))
    keep = expected > 0
    assert observed[~keep].sum() == 0
    chi2 = float(((observed[keep] - expected[keep]) ** 2 / expected[keep]).sum())
    assert chi2 < 26.1  # 99.9 % quantile, 8 degrees of freedom (fewer if some strings are impossible)
