"""The symbolic proof methods, and each symbolic check against its negative control."""

import sympy as sp

from proofs_check.claims import anbn_closed_forms, f3, kl_identities
from proofs_check.symbolic import identity, monotone_from_zero, nonnegative, nonnegative_terms, reduce
from proofs_check.symbols import alpha, c, d, eps, eta, w


def test_reduce_meets_log_forms():
    assert reduce(sp.log((c + d) / c) - sp.log(1 + d / c)) == 0
    assert reduce(sp.log(c * d + c) - sp.log(c) - sp.log(d + 1)) == 0


def test_identity_refutes_a_wrong_formula_with_a_number():
    ok = identity(sp.log(c * c), 2 * sp.log(c))
    bad = identity(sp.log(c * c), 3 * sp.log(c), point={c: sp.Rational(1, 2)})
    assert ok.passed and not bad.passed and bad.refuted
    assert float(bad.evidence["residual at a rational point"]) != 0


def test_nonnegative_terms_refutes_only_with_a_negative_value():
    good = nonnegative_terms(c * sp.log(1 + d / c), (c * sp.log(1 + d / c),))
    assert good.passed and not good.refuted
    bad = nonnegative_terms(-c * sp.log(1 + d / c), (-c * sp.log(1 + d / c),))
    assert not bad.passed and bad.refuted


def test_nonnegative_is_three_valued():
    assert nonnegative(c * sp.log(1 + d / c))
    assert not nonnegative(-sp.log(1 + d / c))  # provably negative or zero
    assert not nonnegative(sp.Symbol("x", real=True))  # unknown is not a proof


def test_monotone_from_zero():
    assert monotone_from_zero(w - sp.log(1 + w), w).passed  # ln(1 + w) ≤ w
    half = monotone_from_zero(w / 2 - sp.log(1 + w), w)  # false near 0
    assert not half.passed and half.refuted
    shifted = monotone_from_zero(w + 1 - sp.log(1 + w), w)  # true (≥ 1), but g(0) ≠ 0: unproved, not refuted
    assert not shifted.passed and not shifted.refuted


def test_chain_rule_and_lemma_checks_and_their_controls():
    assert kl_identities._chain_rule(lambda p, q, s: kl_identities._joint(p, s)).passed
    assert kl_identities._chain_rule(lambda p, q, s: kl_identities._joint(q, s)).refuted
    assert kl_identities._chain_rule_witness().passed
    assert kl_identities._lemma_l1(lambda p, q, s: kl_identities._joint(p, s) * kl_identities._row_kl(p, q, s)).passed
    assert kl_identities._lemma_l1(lambda p, q, s: kl_identities._row_kl(p, q, s)).refuted


def test_inequalities_hold_and_each_reversed_one_is_refuted():
    assert kl_identities._inequalities().passed
    for name in [*kl_identities.INEQUALITIES, "(ii)"]:
        control = kl_identities._inequalities(reverse=name)
        assert not control.passed and control.refuted, name


def test_bound_is_linked_to_the_swap_cost():
    v = sp.Symbol("v", positive=True)
    good = kl_identities._bound(sp.log(1 / kl_identities._CMIN), kl_identities._TRUE_TERMS, 1 / (1 + v))
    assert good.passed
    # a smaller constant (ln(1/p1)) is refuted where p1 ≈ 1, and ρ > 1 by the limit
    at = {
        c: sp.Rational(1, 100),
        d: sp.Integer(1),
        sp.Symbol("e", nonnegative=True): 0,
        sp.Symbol("f", nonnegative=True): sp.Rational(1, 7),
    }
    wrong_c = kl_identities._bound(sp.log(1 / kl_identities._P1), (), 1 / (1 + v), point=at)
    assert not wrong_c.passed and wrong_c.refuted
    assert kl_identities._bound(sp.log(1 / kl_identities._CMIN), kl_identities._TRUE_TERMS, 1 + v).refuted


def test_relu_rescaling_needs_a_positive_factor():
    assert f3._relu_rescaling(alpha).passed
    assert f3._relu_rescaling(-alpha).refuted


def test_gradient_and_step_size_laws():
    assert f3._gradients(1 / alpha, alpha, eta / alpha**2, eta * alpha**2).passed
    assert f3._gradients(alpha, 1 / alpha, eta / alpha**2, eta * alpha**2).refuted
    assert f3._gradients(1 / alpha, alpha, eta / alpha, eta * alpha).refuted


def test_paper_a2_scalar_step():
    for a, ref in f3.A2_REFERENCE.items():
        assert abs(float(f3._scalar_step(sp.nsimplify(a))) - ref) < 5e-7


def test_layernorm_invariant_only_without_eps():
    assert f3._ln_invariance(sp.Integer(0)).passed
    with_eps = f3._ln_invariance(eps)
    assert with_eps.refuted and with_eps.evidence[f3.SIZE_KEY] > 1e-4
    assert f3._ln_error_form().passed


def test_uniform_closed_forms_reject_the_official_floor():
    N, k = sp.Symbol("N", integer=True, positive=True), sp.Symbol("k", integer=True, positive=True)
    p_a, p_b = (N - k) / (N - k + 1), 1 / (N - k + 1)
    assert anbn_closed_forms._uniform(p_a, p_b, sp.log(N) / (2 * N + 1)).passed
    assert anbn_closed_forms._uniform(p_a, p_b, sp.log(N) / N).refuted
