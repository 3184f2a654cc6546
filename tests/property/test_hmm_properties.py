"""Properties of the HMM-mixture engine on random mixtures (tests/strategies.py)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from exact.core.predictor import sequence_log_prob
from exact.core.tokens import TokenBatch
from exact.hmm.categorical import CategoricalHMM
from exact.hmm.mixture import HMMMixture, as_mixture
from tests.invariants import assert_defined_rows_are_distributions
from tests.strategies import hmm_mixtures, hmms, token_sequences


@st.composite
def mixtures_and_batches(draw: st.DrawFn, *, full_support: bool = False) -> tuple[HMMMixture, TokenBatch]:
    mix = draw(hmm_mixtures(full_support_emissions=full_support))
    seqs = draw(st.lists(token_sequences(vocab_size=mix.vocab_size, max_length=6), min_size=1, max_size=5))
    return mix, TokenBatch.from_sequences(seqs, vocab_size=mix.vocab_size)


@given(mixtures_and_batches())
def test_predictive_rows_are_distributions(case: tuple[HMMMixture, TokenBatch]) -> None:
    mix, batch = case
    assert_defined_rows_are_distributions(mix.next_token_probs(batch))


@given(mixtures_and_batches())
def test_log_probability_at_most_zero_never_nan(case: tuple[HMMMixture, TokenBatch]) -> None:
    mix, batch = case
    res = mix.forward(batch, predictive=True)
    assert not np.isnan(res.loglik).any()
    assert res.predictive is not None and not np.isnan(res.predictive).any()
    assert (res.loglik <= 1e-12).all()
    assert (mix.log_prob(batch) <= 1e-12).all()


@given(mixtures_and_batches())
def test_mixture_is_weighted_sum_of_components(case: tuple[HMMMixture, TokenBatch]) -> None:
    mix, batch = case
    ll = mix.log_likelihoods(batch)
    np.testing.assert_allclose(np.exp(mix.log_prob(batch)), np.exp(ll) @ mix.prior, rtol=1e-12, atol=1e-300)


@given(mixtures_and_batches())
def test_posterior_sums_to_one_where_defined(case: tuple[HMMMixture, TokenBatch]) -> None:
    mix, batch = case
    post = mix.posterior(batch)
    np.testing.assert_allclose(post.probs[post.defined].sum(axis=1), 1.0, atol=1e-12)
    assert (post.probs[~post.defined] == 0).all()
    assert (post.defined == (mix.log_prob(batch) > -np.inf)).all()


@given(mixtures_and_batches())
def test_scaled_recursion_equals_log_space(case: tuple[HMMMixture, TokenBatch]) -> None:
    mix, batch = case
    a, b = mix.forward(batch, predictive=True), mix.forward(batch, predictive=True, method="log")
    np.testing.assert_allclose(a.loglik, b.loglik, rtol=1e-12, atol=1e-12)
    assert a.predictive is not None and b.predictive is not None
    np.testing.assert_allclose(a.predictive, b.predictive, rtol=1e-10, atol=1e-13)


@given(mixtures_and_batches())
def test_chain_rule_of_bayes_predictive_is_the_marginal(case: tuple[HMMMixture, TokenBatch]) -> None:
    """log Π_t p(x_t | x_<t) = log p(x): the predictor interface and the marginal agree."""
    mix, batch = case
    chain, direct = sequence_log_prob(mix, batch), mix.log_prob(batch)
    assert ((chain == -np.inf) == (direct == -np.inf)).all()
    finite = direct > -np.inf
    np.testing.assert_allclose(chain[finite], direct[finite], rtol=1e-11, atol=1e-12)


@given(mixtures_and_batches(full_support=True))
def test_full_support_emissions_give_every_string_positive_probability(case: tuple[HMMMixture, TokenBatch]) -> None:
    mix, batch = case
    assert (mix.log_prob(batch) > -np.inf).all()


@given(hmms(), st.lists(st.integers(0, 2), max_size=6))
def test_a_single_hmm_is_a_one_concept_mixture(hmm: CategoricalHMM, seq: list[int]) -> None:
    """log p(x) ≤ 0, the posterior is [1], and the predictive equals p(x y)/p(x) for every y."""
    mix = as_mixture(hmm)
    seq = [t % hmm.vocab_size for t in seq]
    x = TokenBatch.from_sequences([seq], vocab_size=hmm.vocab_size)
    logp = mix.log_prob(x)[0]
    assert logp <= 1e-12 and not np.isnan(logp)
    if logp > -np.inf:
        assert mix.posterior(x).probs.tolist() == [[1.0]]
        xy = TokenBatch.from_sequences([[*seq, y] for y in range(hmm.vocab_size)], vocab_size=hmm.vocab_size)
        np.testing.assert_allclose(
            mix.next_token_probs(x).probs[0], np.exp(mix.log_prob(xy) - logp), rtol=1e-10, atol=1e-14
        )
