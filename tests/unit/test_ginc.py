"""The GINC generator, prompts, the Bayes ICL curve and Xie's assumptions."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

from exact.core.tokens import TokenBatch
from exact.hmm.assumptions import check_assumptions, is_primitive
from exact.hmm.ginc import GincConfig, generate_ginc, ginc_vocabulary
from exact.hmm.mixture import HMMMixture
from exact.hmm.prompts import (
    PromptTemplate,
    icl_accuracy,
    prompt_set_log_prob,
    sample_prompts,
)

TINY = dict(n_concepts=2, n_values=2, n_slots=3, n_symbols=4, emission_smoothing=0.05, seed=3)


class TestGenerator:
    def test_ginc_structure(self) -> None:
        g = generate_ginc()
        mix = g.mixture
        assert (mix.n_concepts, mix.n_values, mix.n_slots, mix.vocab_size) == (5, 10, 10, 50)
        assert g.vocab[:3] == ("/", "a", "b") and len(g.vocab) == 50 and g.vocab[27] == "ab"
        # deterministic emissions: state (v, s) emits all_values[v, s]; slot 0 emits the delimiter
        assert set(np.unique(mix.emissions)) == {0.0, 1.0}
        assert np.array_equal(mix.emissions[0].argmax(axis=1), g.all_values.reshape(-1))
        assert (g.all_values[:, 0] == 0).all() and (g.all_values[:, 1:] >= 1).all()
        # shared value matrix = 0.1·(permutation mixture) + 0.9·I
        assert mix.value_transmat.shape[0] == 1
        assert np.all(np.diag(mix.value_transmat[0]) >= 0.9 - 1e-15)
        block = (mix.value_transmat[0] - 0.9 * np.eye(10)) / 0.1
        np.testing.assert_allclose(block.sum(axis=1), 1.0, rtol=1e-12)
        assert block.min() >= -1e-12
        # transitions are the Kronecker product, index v·n_slots + s
        t = mix.transmat(2)
        assert t[3 * 10 + 4, 7 * 10 + 1] == pytest.approx(mix.value_transmat[0, 3, 7] * mix.slot_transmat[2, 4, 1])
        # start = softmax((U − 0.5)/10): within a factor e^0.1 of uniform
        assert (mix.start.max(axis=1) / mix.start.min(axis=1) <= np.exp(0.1) + 1e-12).all()
        # a mixture of permutation matrices is doubly stochastic: columns sum to one as well
        np.testing.assert_allclose(mix.slot_transmat.sum(axis=1), 1.0, rtol=1e-12)
        np.testing.assert_allclose(block.sum(axis=0), 1.0, rtol=1e-12)

    def test_seeded_and_independent_of_n_concepts(self) -> None:
        a, b = generate_ginc(n_concepts=3, seed=7), generate_ginc(n_concepts=6, seed=7)
        assert np.array_equal(a.mixture.slot_transmat, b.mixture.slot_transmat[:3])
        assert np.array_equal(a.mixture.start, b.mixture.start[:3])
        assert np.array_equal(a.mixture.value_transmat, b.mixture.value_transmat)
        assert not np.array_equal(
            generate_ginc(seed=8).mixture.slot_transmat, generate_ginc(seed=7).mixture.slot_transmat
        )

    def test_per_concept_values_and_smoothing(self) -> None:
        g = generate_ginc(n_concepts=3, shared_values=False, emission_smoothing=0.02)
        assert g.mixture.value_transmat.shape == (3, 10, 10)
        assert g.mixture.emissions.min() == pytest.approx(0.02 / 50)
        assert "valueprior" in g.config.dataset_id() and "smooth0.02" in g.config.dataset_id()

    def test_scales_to_ten_thousand_concepts(self) -> None:
        g = generate_ginc(n_concepts=10_000)
        assert g.mixture.slot_transmat.shape == (10_000, 10, 10)

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({"n_concepts": 0}, "n_concepts must be an integer ≥ 1, got 0"),
            ({"n_slots": 1}, "n_slots must be an integer ≥ 2, got 1"),
            ({"transition_temp": 0.0}, r"transition_temp must be a number in \[1e-300, inf\), got 0\.0"),
            ({"emission_smoothing": 1.0}, r"emission_smoothing must be a number in \[0\.0, 1\.0\), got 1\.0"),
            ({"value_identity_coeff": float("nan")}, "value_identity_coeff must be a number"),
            ({"seed": -1}, "seed must be an integer ≥ 0, got -1"),
        ],
    )
    def test_config_errors(self, overrides: dict[str, object], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            GincConfig(**overrides)  # type: ignore[arg-type]

    def test_config_must_be_a_config(self) -> None:
        with pytest.raises(TypeError, match="config must be a GincConfig"):
            generate_ginc({"n_concepts": 3})  # type: ignore[arg-type]

    def test_vocabulary(self) -> None:
        assert ginc_vocabulary(2) == ("/", "a")
        with pytest.raises(ValueError, match="n_symbols must be an integer ≥ 2"):
            ginc_vocabulary(1)


class TestPrompts:
    def test_template(self) -> None:
        t = PromptTemplate(k=10, n_shots=64)
        assert t.length == 64 * 11 + 9
        sets = t.token_sets(50, content="non-delimiter")
        assert sets[10] == [0] and 0 not in sets[0] and len(sets) == t.length
        with pytest.raises(ValueError, match="k must be an integer ≥ 2, got 1"):
            PromptTemplate(k=1, n_shots=2)

    def test_sampled_prompts_follow_ginc(self) -> None:
        g = generate_ginc(emission_smoothing=0.0)
        t = PromptTemplate(k=3, n_shots=4)
        s = sample_prompts(g.mixture, t, 200, np.random.default_rng(1))
        assert s.tokens.tokens.shape == (200, t.length)
        assert (s.tokens.tokens[:, list(t.delimiter_positions)] == 0).all()
        assert ((s.start_slots >= 1) & (s.start_slots <= 9)).all()
        # each example's first token is emitted by (some value, start slot) under deterministic emissions
        for j in range(5):
            first = s.tokens.tokens[:, j * 4] if j < 4 else s.x_query.tokens[:, 0]
            allowed = g.all_values[:, s.start_slots].T  # (prompts, values)
            assert (allowed == first[:, None]).any(axis=1).all()
        # the label is GINC's: argmax of the true concept's predictive after x, start uniform over values at the slot
        for i in range(5):
            c, slot = int(s.concepts[i]), int(s.start_slots[i])
            start = np.zeros(100)
            start[np.arange(10) * 10 + slot] = 0.1
            one = HMMMixture(
                [1.0], [start], [g.mixture.slot_transmat[c]], g.mixture.value_transmat, g.mixture.emissions
            )
            pred = one.next_token_probs(s.x_query.select(np.array([i]))).probs[0]
            assert s.labels[i] == int(np.argmax(pred))

    def test_prompt_set_probability_by_enumeration(self) -> None:
        g = generate_ginc(**TINY)  # type: ignore[arg-type]
        t = PromptTemplate(k=2, n_shots=2)
        strings = [list(x) for x in itertools.product(*t.token_sets(4))]
        total = np.exp(g.mixture.log_prob(TokenBatch.from_sequences(strings, vocab_size=4))).sum()
        assert np.exp(prompt_set_log_prob(g.mixture, t)) == pytest.approx(total, rel=1e-12)

    @pytest.mark.parametrize(
        ("config", "k"),
        [(TINY, 2), (dict(n_concepts=3, n_values=2, n_slots=3, n_symbols=3, emission_smoothing=0.0, seed=5), 2)],
    )
    def test_exact_curve_equals_brute_force(self, config: dict[str, object], k: int) -> None:
        """Every (shots, prompt string, concept, slot) summed by plain dense forward passes."""
        mix = generate_ginc(**config).mixture  # type: ignore[arg-type]
        nv, ns, m = mix.n_values, mix.n_slots, mix.vocab_size

        def alpha(start: np.ndarray, c: int, seq: list[int]) -> np.ndarray:
            t, b = mix.transmat(c), mix.emission_matrix(c)
            a = start * b[:, seq[0]]
            for o in seq[1:]:
                a = (a @ t) * b[:, o]
            return a

        def tie_low(p: np.ndarray) -> int:
            return int(np.flatnonzero(p >= p.max() * (1 - 1e-12))[0])

        slot_start = {s: np.where(np.arange(nv * ns) % ns == s, 1.0 / nv, 0.0) for s in range(1, ns)}
        for shots, point in zip([0, 1, 2], icl_accuracy(mix, k, [0, 1, 2], method="exact"), strict=True):
            acc = undefined = mass = 0.0
            for examples in itertools.product(itertools.product(range(m), repeat=k), repeat=shots):
                for x in itertools.product(range(m), repeat=k - 1):
                    prompt = [tok for e in examples for tok in (*e, 0)] + list(x)
                    num, den = np.zeros(m), 0.0
                    for c in range(mix.n_concepts):
                        a = alpha(mix.start[c], c, prompt)
                        den += mix.prior[c] * a.sum()
                        num += mix.prior[c] * (a @ mix.transmat(c) @ mix.emission_matrix(c))
                    pred = tie_low(num) if den > 0 else -1
                    for c in range(mix.n_concepts):
                        for st in slot_start.values():
                            w = mix.prior[c] / (ns - 1) * np.prod([alpha(st, c, list(e)).sum() for e in examples])
                            ax = alpha(st, c, list(x))
                            w *= ax.sum()
                            if w == 0:
                                continue
                            mass += w
                            undefined += w * (pred < 0)
                            acc += w * (pred == tie_low(ax @ mix.transmat(c) @ mix.emission_matrix(c)))
            assert point.method == "exact"
            assert point.accuracy == pytest.approx(acc, abs=1e-12)
            assert point.undefined == pytest.approx(undefined, abs=1e-12)
            assert point.total_mass == pytest.approx(mass, abs=1e-12) and mass == pytest.approx(1.0, abs=1e-12)

    def test_exact_curve_agrees_with_estimate(self) -> None:
        g = generate_ginc(**TINY)  # type: ignore[arg-type]
        exact = icl_accuracy(g.mixture, 2, [0, 1, 2], method="exact")
        est = icl_accuracy(g.mixture, 2, [0, 1, 2], method="estimate", n_prompts=20_000, seed=5)
        for e, s in zip(exact, est, strict=True):
            assert e.method == "exact" and s.method == "estimate"
            assert e.total_mass == pytest.approx(1.0, abs=1e-12)
            assert s.low <= e.accuracy <= s.high
            assert abs(e.true_posterior - s.true_posterior) <= s.true_posterior_halfwidth
        # zero shots: the prompt is x alone, whose pretraining-set probability is 1
        assert exact[0].log_prob_prompt_set == pytest.approx(0.0, abs=1e-12)

    def test_shots_validated(self) -> None:
        g = generate_ginc(**TINY)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="shots must be a non-empty sequence"):
            icl_accuracy(g, 2, 4)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"shots\[i\] must be an integer ≥ 0, got -1"):
            icl_accuracy(g, 2, [1, -1])

    def test_exact_refuses_a_large_space(self) -> None:
        g = generate_ginc(n_concepts=2)
        with pytest.raises(ValueError, match="exceeds max_enumeration=100"):
            icl_accuracy(g.mixture, 3, [1], method="exact", max_enumeration=100)

    def test_deterministic_emissions_make_long_prompts_impossible(self) -> None:
        """GINC's prompts jump values between examples; many value transitions have probability 0."""
        g = generate_ginc()
        point = icl_accuracy(g.mixture, 3, [16], n_prompts=300, seed=0)[0]
        assert point.undefined > 0.5
        smooth = icl_accuracy(generate_ginc(emission_smoothing=0.01).mixture, 3, [16], n_prompts=300, seed=0)[0]
        assert smooth.undefined == 0.0


class TestAssumptions:
    def test_ginc_defaults_hold(self) -> None:
        rep = check_assumptions(generate_ginc(emission_smoothing=0.01).mixture, kl_rate_length=300)
        assert rep.holds and rep.irreducible.all() and rep.aperiodic.all()
        assert rep.min_kl_rate_lower > 0

    def test_factor_route_equals_dense_graph(self, rng: np.random.Generator) -> None:
        outcomes = []
        for _ in range(60):
            v = rng.random((3, 3)) * (rng.random((3, 3)) < 0.6)
            s = rng.random((3, 3)) * (rng.random((3, 3)) < 0.6)
            if (v.sum(1) == 0).any() or (s.sum(1) == 0).any():
                continue
            g = nx.DiGraph(np.kron(v, s) > 0)
            dense = nx.is_strongly_connected(g) and nx.is_aperiodic(g)
            assert dense == (is_primitive(v) and is_primitive(s))
            outcomes.append(dense)
        assert len(outcomes) >= 10  # enough comparisons happened
        both = [is_primitive(np.ones((2, 2))), is_primitive(np.array([[0.0, 1.0], [1.0, 0.0]]))]
        assert both == [True, False]  # a primitive and a periodic factor, whatever the draws

    def test_periodic_and_indistinguishable_concepts_are_reported(self) -> None:
        cycle = np.roll(np.eye(3), 1, axis=1)  # slot 0 → 1 → 2 → 0: period 3
        em = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
        mix = HMMMixture([0.5, 0.5], np.full((2, 3), 1 / 3), [cycle, cycle], None, em)
        rep = check_assumptions(mix, kl_rate_length=50)
        assert rep.irreducible.all() and not rep.aperiodic.any() and rep.delimiter_reachable.all()
        assert rep.kl_rate[0, 1] == 0.0 and not rep.holds  # identical concepts: KL rate 0

    def test_unreachable_delimiter(self) -> None:
        t = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]])
        em = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
        rep = check_assumptions(HMMMixture([1.0], [[1.0, 0.0, 0.0]], [t], None, em), kl_rate_length=10)
        assert not rep.irreducible[0] and not rep.delimiter_reachable[0]
