"""F1 witnesses, KL two ways, and certified extrapolation probabilities."""

import math

import numpy as np
import pytest

from exact import (
    EOS,
    SOS,
    A,
    AnbnDistribution,
    B,
    CompletionMixture,
    NextTokenProbs,
    OODPolicyModel,
    OverrideModel,
    TokenBatch,
    UndefinedConditionalError,
    UniformLength,
    enumerate_prompts,
    f1_witnesses,
    kl_brute_force,
    kl_chain_rule,
    rule_extrapolation_probability,
)


@pytest.fixture(scope="module")
def p():
    return AnbnDistribution(UniformLength(8))


@pytest.fixture(scope="module")
def ood_prompts(p):
    table = enumerate_prompts(p, 8)
    ood = ~table.in_distribution
    return TokenBatch(table.tokens(ood), np.full(int(ood.sum()), 9))


@pytest.mark.parametrize("name", ["extrapolate", "never", "mixture"])
def test_witnesses_have_zero_kl_both_ways(p, name):
    q = f1_witnesses(p, lam=0.25, prompt_length=8)[name]
    assert kl_chain_rule(p, q, 14).value == 0.0
    result = kl_brute_force(p, q, 14)
    assert result.value == 0.0
    assert result.covered_mass == pytest.approx(1.0, rel=1e-15)


def test_kl_of_p_with_itself_is_zero(p):
    assert kl_chain_rule(p, p, 10).value == 0.0
    assert kl_brute_force(p, p, 10).value == 0.0


def test_perturbation_on_support_is_detected_and_methods_agree(p):
    q = OverrideModel(p, {(SOS, A, A): [0.5, 0.5, 0, 0, 0]})
    chain, brute = kl_chain_rule(p, q, 14), kl_brute_force(p, q, 14)
    # hand value: p(SOS a a) = 7/8, p(·|SOS a a) = (6/7, 1/7)
    want = 7 / 8 * (6 / 7 * math.log(12 / 7) + 1 / 7 * math.log(2 / 7))
    assert chain.value == pytest.approx(want, rel=1e-13)
    assert brute.value == pytest.approx(want, rel=1e-12)


def test_dropping_support_gives_infinite_kl_not_nan(p):
    q = OverrideModel(p, {(SOS, A): [1.0, 0, 0, 0, 0]})
    assert kl_chain_rule(p, q, 8).value == math.inf
    assert kl_brute_force(p, q, 8).value == math.inf


def test_perturbation_off_support_costs_nothing(p):
    q = OverrideModel(p, {(SOS, B): [0.1, 0.2, 0.3, 0.4, 0.0]})
    assert kl_chain_rule(p, q, 10).value == 0.0
    assert kl_brute_force(p, q, 10).value == 0.0


@pytest.mark.parametrize("name, want", [("extrapolate", 1.0), ("never", 0.0), ("mixture", 0.25)])
def test_extrapolation_probabilities(p, ood_prompts, name, want):
    q = f1_witnesses(p, lam=0.25, prompt_length=8)[name]
    r = rule_extrapolation_probability(q, ood_prompts, max_completion_length=12)
    assert len(ood_prompts) == 251
    assert np.all(r.r1_lower <= want) and np.all(want <= r.r1_upper)
    assert np.all(r.r1_upper - r.r1_lower < 1e-13)
    assert np.all(r.unexplored == 0)


def test_stop_policy_reproduces_the_69_of_251_baseline(p, ood_prompts):
    r = rule_extrapolation_probability(OODPolicyModel(p, "stop"), ood_prompts, max_completion_length=3)
    assert int(np.round(r.r1_lower).sum()) == 69


def test_exact_distribution_has_no_extrapolation_behaviour(p, ood_prompts):
    with pytest.raises(UndefinedConditionalError):
        rule_extrapolation_probability(p, ood_prompts)


class StopOrB:
    """OOD: EOS with probability s, else b; so P(R1 | prompt with d = #a − #b ≥ 0) = (1−s)^d s."""

    vocab_size = 5

    def __init__(self, s):
        self.s = s

    def next_token_probs(self, batch):
        probs = np.zeros((len(batch), 5))
        probs[:, EOS], probs[:, B] = self.s, 1 - self.s
        return NextTokenProbs(probs, np.ones(len(batch), dtype=bool))


@pytest.mark.parametrize("s, depth", [(0.5, 4), (0.3, 12), (0.9, 2)])
def test_interval_contains_analytic_value_and_accounts_for_unexplored_mass(ood_prompts, s, depth):
    r = rule_extrapolation_probability(StopOrB(s), ood_prompts, max_completion_length=depth)
    tokens = ood_prompts.tokens[:, 1:]
    d = (tokens == A).sum(1) - (tokens == B).sum(1)
    truth = np.where(d >= 0, (1 - s) ** np.maximum(d, 0) * s, 0.0)
    assert np.all(r.r1_lower <= truth) and np.all(truth <= r.r1_upper)
    np.testing.assert_allclose(r.unexplored, (1 - s) ** depth, rtol=1e-12)
    np.testing.assert_allclose(
        r.r1_upper - r.r1_lower,
        np.where(d >= depth, (1 - s) ** depth, 0) + (1 - s) ** depth * (d < depth),
        rtol=1e-7,
        atol=1e-15,
    )  # growth (1 + 1e-9)^depth


def test_pruning_and_node_cap_keep_the_interval_valid(ood_prompts):
    exact = rule_extrapolation_probability(StopOrB(0.3), ood_prompts, max_completion_length=20)
    for kwargs in ({"prune_below": 0.05}, {"max_nodes": 10}):
        approx = rule_extrapolation_probability(StopOrB(0.3), ood_prompts, max_completion_length=20, **kwargs)
        assert np.all(approx.r1_lower <= exact.r1_upper) and np.all(exact.r1_lower <= approx.r1_upper)
        assert approx.unexplored.sum() > exact.unexplored.sum()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_completion_length": 0}, "max_completion_length"),
        ({"max_nodes": -1}, "max_nodes"),
        ({"prune_below": 1.5}, "prune_below"),
    ],
)
def test_extrapolation_bad_input(ood_prompts, kwargs, match):
    with pytest.raises(ValueError, match=match):
        rule_extrapolation_probability(StopOrB(0.5), ood_prompts, **kwargs)


def test_constructor_validation(p):
    with pytest.raises(ValueError, match="policy"):
        OODPolicyModel(p, "sometimes")
    with pytest.raises(ValueError, match="lam"):
        f1_witnesses(p, lam=1.5, prompt_length=8)
    with pytest.raises(ValueError, match="weights"):
        CompletionMixture([p, p], [0.5, 0.6], context_length=9)
    with pytest.raises(ValueError, match="context_length"):
        CompletionMixture([p], [1.0], context_length=0)
    with pytest.raises(ValueError, match="overrides"):
        OverrideModel(p, {(SOS,): [0.5, 0.4, 0, 0, 0]})
    with pytest.raises(ValueError, match="sequence_length"):
        kl_chain_rule(p, p, 1)
    with pytest.raises(ValueError, match="above the limit 20 of brute force"):
        kl_brute_force(p, p, 30)


def test_kl_against_another_data_distribution_is_infinite_not_an_error(p):
    small = AnbnDistribution(UniformLength(3))  # undefined where p(s) > 0 = small(s)
    assert kl_chain_rule(p, small, 12).value == math.inf
    assert kl_brute_force(p, small, 12).value == math.inf


def test_kl_with_underflowing_prefix_probability():
    from exact import GeometricLength

    p = AnbnDistribution(GeometricLength("1e-200"))  # p(SOS a a a) = 1e-400 underflows to 0.0
    drop = OverrideModel(p, {(SOS, A, A, A): [0, 0, 0, 1, 0]})
    assert kl_chain_rule(p, drop, 6).value == math.inf  # +inf, never 0 · inf = NaN
    assert kl_brute_force(p, drop, 6).value == math.inf
    tilt = OverrideModel(p, {(SOS, A, A, A): [0.5, 0.5, 0, 0, 0]})
    result = kl_chain_rule(p, tilt, 6)
    assert result.value == 0.0  # below the float64 range …
    assert result.mismatched_prefixes == 1  # … but the difference on the support is still counted


class RowSumSlightlyAboveOne:
    """Rows may sum to 1 + 9e-10 (allowed); a pruned subtree can then outweigh its root."""

    vocab_size = 5

    def next_token_probs(self, batch):
        probs = np.zeros((len(batch), 5))
        for i in range(len(batch)):
            row = tuple(batch.row(i).tolist())
            if row == (SOS, A):
                probs[i, A] = probs[i, B] = 0.5
            elif row == (SOS, A, B):
                probs[i, EOS] = 1 + 9e-10
            else:
                probs[i, EOS] = 1.0
        return NextTokenProbs(probs, np.ones(len(batch), dtype=bool))


@pytest.mark.parametrize("max_nodes", [1, 2, 100])
def test_interval_is_sound_when_rows_sum_slightly_above_one(max_nodes):
    r = rule_extrapolation_probability(
        RowSumSlightlyAboveOne(), TokenBatch.from_sequences([[SOS, A]]), max_completion_length=4, max_nodes=max_nodes
    )
    truth = 0.5 * (1 + 9e-10)  # SOS a b EOS
    assert r.r1_lower[0] <= truth <= r.r1_upper[0]


def test_empty_prompt_batch_is_refused():
    with pytest.raises(ValueError, match="prompts is empty"):
        rule_extrapolation_probability(StopOrB(0.5), TokenBatch.from_sequences([]))
