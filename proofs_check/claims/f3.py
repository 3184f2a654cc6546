"""F3 — fine-tunability is not a property of the function (docs/paper.md §4.5, Appendix A.2).

* ``F3-relu-rescaling`` — ``W₂ relu(W₁x) = (W₂/α) relu(αW₁x)`` for ``α > 0``
  (symbolic 2×2 and 1×2 matrices), by cases on the sign of each pre-activation.
* ``F3-gradients-sgd`` — in rescaled coordinates the gradients are ``G₁/α`` and
  ``αG₂``, so one SGD step of size η, mapped back, is a step with per-layer sizes
  ``η/α²`` and ``ηα²``; the scalar example of A.2 gives 0.797483, 0.341712,
  0.777857 and −3.741996 after one step for α = 1, 0.5, 2, 10.
* ``F3-layernorm`` — ``LN(c·h) = LN(h)`` for ``c > 0`` exactly when eps = 0;
  otherwise the error is ``(h − μ)[c/√(c²σ² + ε) − 1/√(σ² + ε)]``.
"""

from __future__ import annotations

import itertools

import sympy as sp

from proofs_check.registry import Check, Control, Outcome, claim
from proofs_check.symbolic import identity, rational_point, reduce, tex
from proofs_check.symbols import SCALE_S, V1, V2, W1, W2, H, X, Y, alpha, eps, eta


def _mask(pattern: tuple[int, ...]) -> sp.Matrix:
    return sp.diag(*pattern)


def _sign_preserved(scale: sp.Expr) -> dict[str, bool | None]:
    """Does ``scale·z`` keep the sign of ``z``? (SymPy's assumptions, three-valued.)"""
    zp, zn = sp.Symbol("z_pos", positive=True), sp.Symbol("z_nonpos", nonpositive=True)
    return {"z > 0 ⇒ scale·z > 0": (scale * zp).is_positive, "z ≤ 0 ⇒ scale·z ≤ 0": (scale * zn).is_nonpositive}


def _relu_rescaling(scale: sp.Expr) -> Check:
    """f = W₂ D W₁x on each activation pattern D; rescaled f' = (W₂/s) D (s W₁x) with the same D."""
    signs = _sign_preserved(scale)
    residuals = {}
    for pattern in itertools.product((0, 1), repeat=2):
        D = _mask(pattern)
        diff = (W2 / scale) * D * (scale * W1 * X) - W2 * D * W1 * X
        residuals[str(pattern)] = sp.cancel(diff[0])
    ok = all(s is True for s in signs.values()) and all(r == 0 for r in residuals.values())
    return Check(
        ok,
        {
            "scale": tex(scale),
            "sign of each pre-activation preserved": signs,
            "residual per activation pattern (1 = active)": {k: tex(r) for k, r in residuals.items()},
        },
        # a decided sign flip means the activation pattern is not shared: relu(s·z) ≠ s·relu(z)
        refuted=any(s is False for s in signs.values()),
    )


@claim(
    id="F3-relu-rescaling",
    title="ReLU rescaling leaves the function unchanged",
    statement=r"For $\alpha > 0$: $W_2\,\mathrm{relu}(W_1 x) = (W_2/\alpha)\,\mathrm{relu}(\alpha W_1 x)$ for all $W_1, W_2, x$, so the two parameter points are indistinguishable by any input–output test (KL = 0 on every input).",
    method=(
        "cases on the activation pattern: relu(z) = D z with D = diag(1{z_i > 0}); SymPy's assumptions show "
        "αz has the sign of z for α > 0, so the pattern is shared, and each case reduces to 0 by cancel "
        "(symbolic 2×2 W₁, 1×2 W₂, x)"
    ),
    source="docs/paper.md §4.5, §3 D7",
)
def check_relu() -> Outcome:
    return Outcome(
        check=_relu_rescaling(alpha),
        controls=(Control("rescaling by a negative factor (α < 0)", _relu_rescaling(-alpha)),),
    )


def _loss(w1: sp.Matrix, w2: sp.Matrix, D: sp.Matrix) -> sp.Expr:
    return ((w2 * D * w1 * X)[0] - Y) ** 2


def _grad(L: sp.Expr, M: sp.Matrix) -> sp.Matrix:
    return M.applyfunc(lambda m: sp.diff(L, m))


def _gradients(g1_factor: sp.Expr, g2_factor: sp.Expr, step1: sp.Expr, step2: sp.Expr) -> Check:
    """Gradients at (αW₁, W₂/α) are (g1_factor·G₁, g2_factor·G₂); SGD mapped back has steps (step1, step2)."""
    out: dict[str, object] = {}
    ok, refuted = True, False
    for pattern in itertools.product((0, 1), repeat=2):
        D = _mask(pattern)
        G1, G2 = _grad(_loss(W1, W2, D), W1), _grad(_loss(W1, W2, D), W2)
        at = dict(zip(list(V1) + list(V2), list(alpha * W1) + list(W2 / alpha)))
        H1 = _grad(_loss(V1, V2, D), V1).subs(at)
        H2 = _grad(_loss(V1, V2, D), V2).subs(at)
        r1 = (H1 - g1_factor * G1).applyfunc(sp.cancel)
        r2 = (H2 - g2_factor * G2).applyfunc(sp.cancel)
        # one SGD step in rescaled coordinates, mapped back to the original ones
        back1 = (alpha * W1 - eta * H1) / alpha - (W1 - step1 * G1)
        back2 = alpha * (W2 / alpha - eta * H2) - (W2 - step2 * G2)
        s1, s2 = back1.applyfunc(sp.cancel), back2.applyfunc(sp.cancel)
        residual = [*r1, *r2, *s1, *s2]
        case_ok = all(m == 0 for m in residual)
        # a non-zero residual at a rational point refutes the claimed law
        values = [sp.N(m.subs(rational_point(m)), 30) for m in residual if m != 0]
        refuted |= any(abs(x) > 1e-25 for x in values)
        ok &= case_ok
        out[f"pattern {pattern}"] = case_ok if case_ok else f"residual ≠ 0, e.g. {values[0] if values else '?'}"
    out.update(
        {"claimed gradient factors": [tex(g1_factor), tex(g2_factor)], "claimed step sizes": [tex(step1), tex(step2)]}
    )
    return Check(ok, out, refuted=refuted and not ok)


def _scalar_step(a: sp.Rational) -> sp.Rational:
    """A.2: f = w₂ relu(w₁x), loss (f − y)², one SGD step at (a·w₁, w₂/a); f after the step, exactly."""
    w1, w2, x, y, lr = (
        sp.Rational(7, 10),
        sp.Rational(13, 10),
        sp.Rational(11, 10),
        sp.Rational(1, 5),
        sp.Rational(1, 20),
    )
    v1, v2 = a * w1, w2 / a
    f = v2 * v1 * x  # w₁x > 0: relu is the identity here
    g1, g2 = 2 * (f - y) * v2 * x, 2 * (f - y) * v1 * x
    v1, v2 = v1 - lr * g1, v2 - lr * g2
    return v2 * max(v1 * x, sp.Integer(0))


#: docs/paper.md Appendix A.2, f after one step (6 decimals).
A2_REFERENCE = {1: 0.797483, sp.Rational(1, 2): 0.341712, 2: 0.777857, 10: -3.741996}


@claim(
    id="F3-gradients-sgd",
    title="Rescaled parameters get rescaled gradients and different SGD steps",
    statement=r"At $(\alpha W_1, W_2/\alpha)$ the gradients are $G_1/\alpha$ and $\alpha G_2$; one SGD step of size $\eta$ there, mapped back, equals per-layer steps $\eta/\alpha^2$ and $\eta\alpha^2$, so functionally identical networks fine-tune differently (A.2: f after one step = 0.797483, 0.341712, 0.777857, −3.741996 for α = 1, 1/2, 2, 10).",
    method="sympy: gradients of the squared loss on each activation pattern (symbolic matrices), residuals cancelled to 0; the A.2 scalar step in exact rationals",
    source="docs/paper.md §4.5, Appendix A.2",
)
def check_gradients() -> Outcome:
    sym = _gradients(1 / alpha, alpha, eta / alpha**2, eta * alpha**2)
    values = {str(a): float(_scalar_step(sp.nsimplify(a))) for a in A2_REFERENCE}
    matches = all(abs(values[str(a)] - ref) < 5e-7 for a, ref in A2_REFERENCE.items())
    differ = len({round(x, 9) for x in values.values()}) == len(values)
    return Outcome(
        check=Check(
            sym.passed and matches and differ,
            {
                **sym.evidence,
                "A.2 f after one step (ours)": values,
                "A.2 paper": {str(a): r for a, r in A2_REFERENCE.items()},
                "A.2 all four differ": differ,
            },
        ),
        controls=(
            Control(
                "gradients claimed to scale as αG₁ and G₂/α (wrong direction)",
                _gradients(alpha, 1 / alpha, eta / alpha**2, eta * alpha**2),
            ),
            Control("step sizes claimed η/α and ηα", _gradients(1 / alpha, alpha, eta / alpha, eta * alpha)),
        ),
    )


def _layernorm(h: tuple[sp.Expr, ...], e: sp.Expr) -> list[sp.Expr]:
    mu = sp.Add(*h) / len(h)
    var = sp.Add(*[(x - mu) ** 2 for x in h]) / len(h)
    return [(x - mu) / sp.sqrt(var + e) for x in h]


def _ln_invariance(e: sp.Expr) -> Check:
    """Is LN(s·h) = LN(h) identically for s > 0 at this eps? Refuted by a non-zero value at a fixed vector."""
    diffs = [
        sp.cancel(sp.powsimp(a - b, force=True))
        for a, b in zip(_layernorm(tuple(SCALE_S * x for x in H), e), _layernorm(H, e))
    ]
    zero = all(reduce(dd) == 0 for dd in diffs)
    at = dict(zip(H, TEST_VECTOR)) | {SCALE_S: 5, eps: sp.Rational(6, 1000)}
    size = max(abs(float(sp.N(dd.subs(at), 30))) for dd in diffs)
    return Check(
        zero,
        {"eps": tex(e), "LN(s·h) − LN(h), first entry": tex(diffs[0]), SIZE_KEY: size},
        refuted=size > 1e-20,
    )


TEST_VECTOR = (sp.Rational(3, 10), sp.Rational(-6, 5), sp.Rational(1, 2))
SIZE_KEY = "max |LN(5h) − LN(h)| at h = (0.3, −1.2, 0.5) (ε = 6e-3 where ε is symbolic)"


def _ln_error_form() -> Check:
    """The error for eps > 0 is (h − μ)[s/√(s²σ² + ε) − 1/√(σ² + ε)] (σ² the population variance)."""
    mu = sp.Add(*H) / len(H)
    var = sp.Add(*[(x - mu) ** 2 for x in H]) / len(H)
    lhs = _layernorm(tuple(SCALE_S * x for x in H), eps)[0] - _layernorm(H, eps)[0]
    rhs = (H[0] - mu) * (SCALE_S / sp.sqrt(SCALE_S**2 * var + eps) - 1 / sp.sqrt(var + eps))

    # expand the radicands so that both sides use the same square roots
    def expand_radicands(x: sp.Expr) -> sp.Expr:
        return x.replace(
            lambda y: isinstance(y, sp.Pow) and y.exp in (sp.S.Half, -sp.S.Half),
            lambda y: sp.Pow(sp.expand(y.base), y.exp),
        )

    return identity(
        expand_radicands(lhs),
        expand_radicands(rhs),
        point=dict(zip(H, TEST_VECTOR)) | {SCALE_S: 5, eps: sp.Rational(6, 1000)},
    )


@claim(
    id="F3-layernorm",
    title="LayerNorm is scale-invariant exactly when eps = 0",
    statement=r"$\mathrm{LN}(c\,h) = \mathrm{LN}(h)$ for all $c > 0$ when $\epsilon = 0$; for $\epsilon > 0$ the difference is $(h-\mu)\big[c/\sqrt{c^2\sigma^2+\epsilon} - 1/\sqrt{\sigma^2+\epsilon}\big] \ne 0$, so a model trained with the official ε = 6e-3 is not rescaling-invariant, and the official fine-tuning's override to ε = 0 changes its function.",
    method="sympy: LN over a symbolic 3-vector; with eps = 0, sqrt(s²σ²) = s·sqrt(σ²) for s > 0 and the difference cancels; with symbolic eps > 0 the difference is shown equal to the closed form and evaluated exactly at a fixed vector (non-zero)",
    source="docs/paper.md §4.5 (LayerNorm caveat), Appendix A.2",
)
def check_layernorm() -> Outcome:
    with_eps = _ln_invariance(eps)
    error_form = _ln_error_form()
    check = _ln_invariance(sp.Integer(0))
    return Outcome(
        check=Check(
            check.passed and with_eps.refuted and error_form.passed,
            {
                **check.evidence,
                "with eps > 0": with_eps.evidence,
                "error for eps > 0 = closed form": error_form.evidence,
            },
        ),
        controls=(Control("invariance claimed with eps > 0 (the official 6e-3)", with_eps),),
    )


__all__ = ["check_gradients", "check_layernorm", "check_relu"]
