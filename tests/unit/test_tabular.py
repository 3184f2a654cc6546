"""Tabular AR models: the docs/paper.md Appendix A.1 instance and Lemma L1 by brute force."""

import math

import numpy as np
import pytest

from exact import TokenBatch
from exact.core.kl import kl_joint, kl_lemma_l1
from exact.core.tabular import TabularAR, prefix_free


@pytest.fixture(scope="module")
def a1():
    rng = np.random.default_rng(0)
    p = TabularAR.from_dirichlet(3, 4, rng)
    return p, [s for s in p.prefixes(2) if s[0] == 0], rng


class TestAgainstPaperAppendixA1:
    def test_swap_identity_symmetry_and_flips(self, a1):
        p, S, _ = a1
        q = p.swap_top_two(S)
        assert kl_joint(p, q) == pytest.approx(0.37052133818341, rel=1e-12)
        assert kl_lemma_l1(p, q, S) == pytest.approx(kl_joint(p, q), rel=1e-12)
        assert kl_joint(q, p) == pytest.approx(kl_joint(p, q), rel=1e-12)
        assert sum(p.prefix_prob(s) for s in S) == pytest.approx(0.3954620, abs=1e-7)
        assert all(np.argmax(q.rows[s]) != np.argmax(p.rows[s]) for s in S)


def test_joint_sums_to_one_and_matches_prefix_probabilities(a1):
    p, _, _ = a1
    joint = p.joint()
    assert joint.size == 81 and math.fsum(joint) == pytest.approx(1.0, abs=1e-15)
    assert joint[5] == pytest.approx(p.prefix_prob((0, 0, 1, 2)), rel=1e-15)


def test_predictor_interface(a1):
    p, _, _ = a1
    out = p.next_token_probs(TokenBatch.from_sequences([[], [0, 1]]))
    np.testing.assert_array_equal(out.probs[1], p.rows[(0, 1)])
    with pytest.raises(ValueError, match="depth"):
        p.next_token_probs(TokenBatch.from_sequences([[0, 1, 2, 0]]))


def test_lemma_needs_q_equal_to_p_outside_the_set(a1):
    p, S, _ = a1
    q = p.swap_top_two(S + [(1, 1)])
    with pytest.raises(ValueError, match="outside"):
        kl_lemma_l1(p, q, S)


def test_lemma_needs_prefix_free_set(a1):
    p, _, _ = a1
    assert prefix_free([(0,), (1, 0)]) and not prefix_free([(0,), (0, 1)])
    with pytest.raises(ValueError, match="prefix-free"):
        kl_lemma_l1(p, p, [(0,), (0, 1)])


def test_bad_input(a1):
    p, _, rng = a1
    with pytest.raises(ValueError, match="vocab_size"):
        TabularAR(1, 2, {})
    with pytest.raises(ValueError, match="no conditional"):
        TabularAR(2, 2, {(): [0.5, 0.5]})
    with pytest.raises(ValueError, match="probability row"):
        p.with_rows({(0,): [0.5, 0.6, 0.0]})
    with pytest.raises(ValueError, match="not in the table"):
        p.with_rows({(0, 0, 0, 0): [1, 0, 0]})
    with pytest.raises(ValueError, match="exceeds"):
        TabularAR.from_dirichlet(50, 5, rng)
    with pytest.raises(TypeError, match="rng must be a numpy Generator"):
        TabularAR.from_dirichlet(3, 2, 0)  # type: ignore[arg-type]
