"""Consistency of a PCFG: the probability of finite derivations, and what to do when it is below one.

The partition function ``Z_A`` — the probability that a derivation from ``A`` terminates — is the
least non-negative solution of the polynomial system ``Z_A = Σ_{A→α} p(A→α) Π_{B∈α} Z_B``
(Booth & Thompson 1973). It is computed by Newton's method from ``Z = 0``, which converges
monotonically to the least fixed point of such monotone systems (Etessami & Yannakakis 2009;
Esparza, Kiefer & Luttenberger 2010); the residual is reported.

The *expectation matrix* ``M[A, B] = Σ_{A→α} p(A→α) · #B(α)`` decides the usual case:
spectral radius ``ρ(M) < 1`` (subcritical) means consistent with finite expected length.
A grammar with ``Z_S < 1`` is *inconsistent*: it puts mass ``1 − Z_S`` on infinite
derivations, which no string carries. :meth:`Consistency.renormalised` returns the grammar
conditioned on finite derivations, ``p'(A→α) = p(A→α) Π_{B∈α} Z_B / Z_A``, which generates the
same strings with probabilities divided by ``Z_S``.

The same solver gives the probability ``e_A`` that ``A`` derives the empty string
(:func:`nullable_probabilities`), used by the normal form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from exact.core.validate import InputError
from exact.grammar.pcfg import PCFG

__all__ = ["CONSISTENCY_TOL", "Consistency", "analyse", "least_fixed_point", "nullable_probabilities"]

#: ``Z_S ≥ 1 − CONSISTENCY_TOL`` counts as consistent (the Newton residual is far below it).
CONSISTENCY_TOL = 1e-12
#: Spectral radii up to ``1 + RHO_TOL`` count as ``≤ 1`` (eigenvalues carry rounding error).
RHO_TOL = 1e-10

_Monomial = tuple[int, float, tuple[int, ...]]  # (lhs index, coefficient, nonterminal indices with repeats)


def least_fixed_point(
    n: int, monomials: Sequence[_Monomial], *, max_iter: int = 200
) -> tuple[NDArray[np.float64], float]:
    """Least non-negative solution of ``x = f(x)``, ``f_A(x) = Σ c Π x_B`` over the monomials of ``A``.

    Newton from 0, with a Kleene step where the Jacobian is singular; returns ``x`` and the
    final residual ``max |f(x) − x|``.
    """
    x = np.zeros(n)

    def f_and_jac(x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        fx = np.zeros(n)
        jac = np.zeros((n, n))
        for lhs, c, nts in monomials:
            fx[lhs] += c * np.prod(x[list(nts)]) if nts else c
            for j, b in enumerate(nts):
                rest = nts[:j] + nts[j + 1 :]
                jac[lhs, b] += c * (np.prod(x[list(rest)]) if rest else 1.0)
        return fx, jac

    for _ in range(max_iter):
        fx, jac = f_and_jac(x)
        try:
            step = np.linalg.solve(np.eye(n) - jac, fx - x)
            new = x + step
            if not np.all(np.isfinite(new)) or np.any(new < x - 1e-15):
                raise np.linalg.LinAlgError
        except np.linalg.LinAlgError:
            new = fx  # Kleene iteration: slower, always monotone
        new = np.clip(new, 0.0, 1.0)
        if np.max(np.abs(new - x), initial=0.0) <= 1e-16:
            x = new
            break
        x = new
    fx, _ = f_and_jac(x)
    return x, float(np.max(np.abs(fx - x), initial=0.0))


def _monomials(g: PCFG, *, empty_only: bool) -> list[_Monomial]:
    index = {a: i for i, a in enumerate(g.nonterminals)}
    out = []
    for p in g.productions:
        if p.prob == 0:
            continue
        if empty_only and any(not g.is_nonterminal(s) for s in p.rhs):
            continue
        out.append((index[p.lhs], float(p.prob), tuple(index[s] for s in p.rhs if g.is_nonterminal(s))))
    return out


def nullable_probabilities(g: PCFG) -> NDArray[np.float64]:
    """``e_A = P(A ⇒* ε)`` for each nonterminal (in ``g.nonterminals`` order)."""
    e, _ = least_fixed_point(len(g.nonterminals), _monomials(g, empty_only=True))
    return e


def expectation_matrix(g: PCFG) -> NDArray[np.float64]:
    """``M[A, B] = Σ_{A→α} p(A→α)·#B(α)``, the mean number of ``B`` children of an ``A`` node."""
    index = {a: i for i, a in enumerate(g.nonterminals)}
    m = np.zeros((len(index), len(index)))
    for p in g.productions:
        for s in p.rhs:
            if g.is_nonterminal(s):
                m[index[p.lhs], index[s]] += float(p.prob)
    return m


def identity_minus_expectation(g: PCFG) -> NDArray[np.float64]:
    """``I − M`` formed in exact rationals, then rounded once per entry.

    Near criticality ``1 − M[A, A]`` is a small difference of nearly equal numbers; forming it in
    float64 would leave only its leading digits, an error no condition number accounts for.
    """
    index = {a: i for i, a in enumerate(g.nonterminals)}
    n = len(index)
    exact = [[Fraction(int(i == j)) for j in range(n)] for i in range(n)]
    for p in g.productions:
        for s in p.rhs:
            if g.is_nonterminal(s):
                exact[index[p.lhs]][index[s]] -= p.prob
    return np.array([[float(x) for x in row] for row in exact], dtype=np.float64).reshape(n, n)


@dataclass(frozen=True)
class Consistency:
    """The partition function and expectation-matrix facts of a grammar.

    Attributes
    ----------
    partition : dict  — ``Z_A`` per nonterminal (probability that a derivation from ``A`` is finite).
    spectral_radius : float — ``ρ(M)`` of the expectation matrix.
    missing_mass : float — ``1 − Z_S``, the mass on infinite derivations.
    residual : float — Newton residual ``max |f(Z) − Z|``.
    consistent : bool — ``missing_mass ≤ CONSISTENCY_TOL``.
    expected_length : float or None — mean string length (``None`` unless ``ρ(M) < 1``).
    """

    grammar: PCFG
    partition: dict[str, float]
    spectral_radius: float
    missing_mass: float
    residual: float
    consistent: bool
    expected_length: float | None

    def as_dict(self) -> dict[str, object]:
        return {
            "consistent": self.consistent,
            "partition_function": self.partition,
            "missing_mass": self.missing_mass,
            "newton_residual": self.residual,
            "expectation_spectral_radius": self.spectral_radius,
            "expected_length": self.expected_length,
        }

    def renormalised(self) -> PCFG:
        """The grammar conditioned on finite derivations: ``p'(A→α) = p(A→α) Π Z_B / Z_A``."""
        z = self.partition
        g = self.grammar
        probs = []
        for p in g.productions:
            w = float(p.prob)
            for s in p.rhs:
                if g.is_nonterminal(s):
                    w *= z[s]
            probs.append(w / z[p.lhs])
        return g.with_probabilities(probs)


def analyse(g: PCFG) -> Consistency:
    """Partition function, spectral radius and expected length of ``g``."""
    n = len(g.nonterminals)
    z, residual = least_fixed_point(n, _monomials(g, empty_only=False))
    m = expectation_matrix(g)
    rho = float(np.max(np.abs(np.linalg.eigvals(m)), initial=0.0)) if n else 0.0
    if rho <= 1 + RHO_TOL:
        # ρ(M) ≤ 1 and every nonterminal productive: no class of the branching process is singular,
        # so extinction is certain and Z = 1 exactly (Harris 1963, Ch. II). Newton converges only
        # linearly at ρ = 1, so the theorem, not the iterate, decides.
        z = np.ones(n)
        residual = 0.0
    missing = max(0.0, 1.0 - float(z[0]))
    expected: float | None = None
    if rho < 1 - 1e-12:
        # E[len_A] = Σ p(A→α)(#terminals(α) + Σ_B E[len_B]): (I − M) E = t
        t = np.zeros(n)
        index = {a: i for i, a in enumerate(g.nonterminals)}
        for p in g.productions:
            t[index[p.lhs]] += float(p.prob) * sum(1 for s in p.rhs if not g.is_nonterminal(s))
        expected = float(np.linalg.solve(identity_minus_expectation(g), t)[0])
    return Consistency(
        grammar=g,
        partition={a: float(z[i]) for i, a in enumerate(g.nonterminals)},
        spectral_radius=rho,
        missing_mass=missing,
        residual=residual,
        consistent=missing <= CONSISTENCY_TOL,
        expected_length=expected,
    )


def require_consistent(g: PCFG, *, renormalise: bool = False) -> tuple[PCFG, Consistency]:
    """``g`` itself if consistent; its renormalisation if asked; otherwise :class:`InputError`."""
    c = analyse(g)
    if c.consistent:
        return g, c
    if not renormalise:
        raise InputError(
            f"the grammar is inconsistent: derivations from {g.start!r} are infinite with probability "
            f"{c.missing_mass:.6g} (partition function Z={1 - c.missing_mass:.12g}, expectation-matrix "
            f"spectral radius {c.spectral_radius:.6g} > 1); pass renormalise=True (--renormalise) to "
            "condition on finite derivations"
        )
    return c.renormalised(), c
