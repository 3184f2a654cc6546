"""The normal form the kernels run on: lexical, unary and binary rules without ε, probabilities proper.

From a consistent :class:`~exact.grammar.pcfg.PCFG` (every ``Z_A = 1``):

1. *Binarise.* A terminal inside a right-hand side of length ≥ 2 becomes a preterminal
   ``⟨a⟩ → a [1]``; ``A → X₁ X₂ … Xₘ [p]`` becomes ``A → X₁ N₁ [p]``, ``N₁ → X₂ N₂ [1]``, …
   This changes neither the strings nor their probabilities.
2. *Remove ε.* With ``e_A = P(A ⇒* ε)`` (least fixed point, :mod:`exact.grammar.consistency`),
   ``A⁺`` denotes ``A`` restricted to non-empty yields, of total mass ``1 − e_A``. Its rules are
   ``A⁺ → a``, ``A⁺ → B⁺`` (from a unary rule, and from ``A → B C`` with ``C ⇒ ε``, weight
   ``p e_C``; symmetrically ``p e_B``) and ``A⁺ → B⁺ C⁺``, each renormalised to
   ``w Π (1 − e_child) / (1 − e_A)``, which makes the ``A⁺`` grammar proper and consistent and
   gives every non-empty string ``w`` the probability ``P(w) = (1 − e_S) P⁺(w)``; the empty
   string has ``P(ε) = e_S``.
3. *Closures.* Unary chains are summed by ``U* = (I − U)⁻¹``; the left-corner relation
   ``R[A, B] = U[A, B] + Σ_C p(A → B C)`` by ``R* = (I − R)⁻¹`` (Jelinek & Lafferty 1991;
   Stolcke 1995). Both spectral radii are below one for a productive grammar; a unary cycle that
   keeps all its mass (``ρ(U) ≥ 1``) is refused.

The arrays hold linear probabilities (float64); the kernels factor out log scales themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from exact.core.validate import InputError
from exact.grammar.consistency import least_fixed_point
from exact.grammar.pcfg import PCFG

__all__ = ["NormalForm", "normal_form"]


@dataclass(frozen=True)
class NormalForm:
    """A proper ε-free grammar with unary and left-corner closures.

    ``lex[A, a]`` is ``p(A⁺ → a)``; ``bin_a, bin_b, bin_c, bin_p`` list the binary rules
    ``A⁺ → B⁺ C⁺``; ``unary[A, B]`` is ``p(A⁺ → B⁺)``; ``ustar`` and ``lcstar`` are the unary and
    left-corner closures. Nonterminal 0 is the start symbol; ``log_empty`` and ``log_nonempty``
    are ``log e_S`` and ``log(1 − e_S)``.
    """

    names: tuple[str, ...]
    lex: NDArray[np.float64]
    bin_a: NDArray[np.int64]
    bin_b: NDArray[np.int64]
    bin_c: NDArray[np.int64]
    bin_p: NDArray[np.float64]
    unary: NDArray[np.float64]
    ustar: NDArray[np.float64]
    lcstar: NDArray[np.float64]
    log_empty: float
    log_nonempty: float

    @property
    def n_nonterminals(self) -> int:
        return len(self.names)

    def csr(self, which: str) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        """``(ptr, col, val)`` of ``ustar`` or ``lcstar`` (the kernels' sparse form)."""
        m = getattr(self, which)
        rows, cols = np.nonzero(m)
        ptr = np.searchsorted(rows, np.arange(m.shape[0] + 1)).astype(np.int64)
        return ptr, cols.astype(np.int64), np.ascontiguousarray(m[rows, cols])


def _closure(
    q: NDArray[np.float64], exit: NDArray[np.float64], what: str, names: tuple[str, ...]
) -> NDArray[np.float64]:
    """``(I − Q)⁻¹`` for ``Q ≥ 0`` whose rows sum to ``1 − exit``, with ``exit ≥ 0`` given as sums of rule weights.

    Gaussian elimination in the way of Grassmann, Taksar & Heyman (1985): every pivot is recomputed
    as the exit mass plus the flows to the states not yet eliminated, and every other update, the
    two triangular solves included, adds non-negative terms. No ``1 − q`` is ever formed, so a
    self-loop of probability ``1 − 10⁻⁹`` gives its closure ``10⁹`` to rounding, where
    ``inv(I − Q)`` would lose seven digits.
    """
    n = q.shape[0]
    s = -q.copy()  # the Schur complement's off-diagonal entries (≤ 0); diagonals are recomputed
    r = exit.astype(np.float64).copy()
    low = np.zeros((n, n))
    for k in range(n):
        later = np.arange(k + 1, n)
        pivot = r[k] - s[k, later].sum()
        if not pivot > 0:
            cyc = [names[i] for i in range(k, n) if q[i, i] > 0 or (q[i] @ q[:, i]) > 0]
            raise InputError(
                f"a {what} cycle through {cyc[:4]} keeps all its probability: no finite derivation "
                "leaves it (remove the cycle or give it an exit)"
            )
        s[k, k] = pivot
        m = s[later, k] / pivot  # ≤ 0
        low[later, k] = m
        r[later] -= m * r[k]  # adds |m|·r_k ≥ 0
        s[np.ix_(later, later)] -= np.outer(m, s[k, later])  # adds |m|·|s_kj|: more negative
    star = np.eye(n)
    for k in range(n):  # L Y = I: y_i = b_i + Σ |L_ik| y_k
        star[k + 1 :] -= np.outer(low[k + 1 :, k], star[k])
    for k in range(n - 1, -1, -1):  # U X = Y: x_k = (y_k + Σ |U_kj| x_j) / U_kk
        star[k] = (star[k] - s[k, k + 1 :] @ star[k + 1 :]) / s[k, k]
    return np.where(star < 0, 0.0, star)


def _nonempty_mass(
    n: int,
    lexical: list[tuple[int, int, float]],
    unary: list[tuple[int, int, float]],
    binary: list[tuple[int, int, int, float]],
    e: NDArray[np.float64],
    grows: NDArray[np.bool_],
) -> NDArray[np.float64]:
    """``ν_A = P(A derives a non-empty word) = 1 − e_A``, without forming ``1 − e_A``.

    ``ν`` solves the linear system ``ν_A = Σ_{A→a} p + Σ_{A→B} p ν_B + Σ_{A→B C} p (ν_B + e_B ν_C)``
    (the right-hand side's first non-empty child), whose coefficients are sums of non-negative
    terms; so an ε-probability of ``1 − 10⁻⁸`` leaves ``ν = 10⁻⁸`` with its digits, where
    ``1 − e`` would keep eight fewer.
    """
    t = np.zeros(n)
    k = np.zeros((n, n))
    for a, _y, w in lexical:
        t[a] += w
    for a, b, w in unary:
        k[a, b] += w
    for a, b, c, w in binary:
        k[a, b] += w
        k[a, c] += w * e[b]
    idx = np.flatnonzero(grows)
    nu = np.zeros(n)
    if idx.size:
        nu[idx] = np.linalg.solve(np.eye(idx.size) - k[np.ix_(idx, idx)], t[idx])
    return np.clip(nu, 0.0, 1.0)


def normal_form(g: PCFG) -> NormalForm:
    """The normal form of a *consistent* grammar (call :func:`~exact.grammar.consistency.require_consistent` first)."""
    names: list[str] = list(g.nonterminals)
    index = {a: i for i, a in enumerate(names)}
    term = {t: i for i, t in enumerate(g.terminals)}
    lexical: list[tuple[int, int, float]] = []
    unary: list[tuple[int, int, float]] = []
    binary: list[tuple[int, int, int, float]] = []
    eps: list[tuple[int, float]] = []

    def symbol(s: str) -> int:
        if g.is_nonterminal(s):
            return index[s]
        pre = f"⟨{s}⟩"
        if pre not in index:
            index[pre] = len(names)
            names.append(pre)
            lexical.append((index[pre], term[s], 1.0))
        return index[pre]

    for k, p in enumerate(g.productions):
        if p.prob == 0:
            continue
        a, w = index[p.lhs], float(p.prob)
        if not p.rhs:
            eps.append((a, w))
        elif len(p.rhs) == 1:
            s = p.rhs[0]
            if g.is_nonterminal(s):
                unary.append((a, index[s], w))
            else:
                lexical.append((a, term[s], w))
        else:
            ids = [symbol(s) for s in p.rhs]
            left = a
            for j, x in enumerate(ids[:-2]):
                mid = f"⟨{k}.{j}⟩"
                index[mid] = len(names)
                names.append(mid)
                binary.append((left, x, index[mid], w if left == a else 1.0))
                left = index[mid]
            binary.append((left, ids[-2], ids[-1], w if left == a else 1.0))

    n = len(names)
    monomials: list[tuple[int, float, tuple[int, ...]]] = [(a, w, ()) for a, w in eps]
    monomials += [(a, w, (b,)) for a, b, w in unary]
    monomials += [(a, w, (b, c)) for a, b, c, w in binary]
    e, _ = least_fixed_point(n, monomials)
    # which nonterminals derive some non-empty word, decided exactly (not from 1 − e, which can
    # round to 1e-16 instead of 0); the others derive only ε, with probability one (Z = 1)
    grows = np.zeros(n, dtype=bool)
    grows[[a for a, _, _ in lexical]] = True
    changed = True
    while changed:
        changed = False
        for a, b, _w in unary:
            if grows[b] and not grows[a]:
                grows[a] = changed = True
        for a, b, c, _w in binary:
            if (grows[b] or grows[c]) and not grows[a]:
                grows[a] = changed = True
    e = np.where(grows, e, 1.0)
    keep = _nonempty_mass(n, lexical, unary, binary, e, grows)

    lex = np.zeros((n, len(g.terminals)))
    for a, t, w in lexical:
        lex[a, t] += w
    u = np.zeros((n, n))
    for a, b, w in unary:
        u[a, b] += w
    bins: dict[tuple[int, int, int], float] = {}
    for a, b, c, w in binary:
        bins[(a, b, c)] = bins.get((a, b, c), 0.0) + w
        u[a, b] += w * e[c]
        u[a, c] += w * e[b]
    # renormalise to the A⁺ grammar; nonterminals that only derive ε (keep = 0) drop out
    live = keep > 0
    scale = np.where(live, 1.0 / np.where(live, keep, 1.0), 0.0)
    lex *= scale[:, None]
    u = u * scale[:, None] * keep[None, :]
    rules = [(a, b, c, w * keep[b] * keep[c] * scale[a]) for (a, b, c), w in bins.items()]
    rules = [r for r in rules if r[3] > 0]
    rows = lex.sum(axis=1) + u.sum(axis=1)
    for a, _b, _c, w in rules:
        rows[a] += w
    if not np.all(np.abs(rows[live] - 1) < 1e-9):
        worst = int(np.argmax(np.where(live, np.abs(rows - 1), 0.0)))
        raise InputError(
            f"the rule probabilities are too close to 0 or 1 for float64: after removing ε the rules of "
            f"{names[worst]!r} sum to {rows[worst]!r}, not 1 within 1e-9 (move them away from the edge)"
        )
    lc = u.copy()
    binary_mass = np.zeros(n)
    for a, b, _c, w in rules:
        lc[a, b] += w
        binary_mass[a] += w
    dead = np.where(live, 0.0, 1.0)  # rows of ε-only nonterminals are empty: their closure is the identity
    lex_mass = lex.sum(axis=1)
    return NormalForm(
        names=tuple(names),
        lex=lex,
        bin_a=np.array([r[0] for r in rules], dtype=np.int64),
        bin_b=np.array([r[1] for r in rules], dtype=np.int64),
        bin_c=np.array([r[2] for r in rules], dtype=np.int64),
        bin_p=np.array([r[3] for r in rules], dtype=np.float64),
        unary=u,
        ustar=_closure(u, lex_mass + binary_mass + dead, "unary", tuple(names)),
        lcstar=_closure(lc, lex_mass + dead, "left-corner", tuple(names)),
        log_empty=math.log(e[0]) if e[0] > 0 else -math.inf,
        log_nonempty=math.log(keep[0]) if keep[0] > 0 else -math.inf,
    )
