"""Numba kernels of the prefix-probability scan (private; see :mod:`exact.grammar.distribution`).

One left-to-right pass over a word ``w₀ … w_{n−1}`` of a :class:`~exact.grammar.normal_form.NormalForm`
grammar gives, for every ``t = 0..n``, the prefix probability ``P(w_{<t} Σ*)``, the string
probability ``P(w_{<t})`` and the prefix probability of every one-token extension
``P(w_{<t} y Σ*)`` — hence every next-token conditional, EOS included.

* ``inside[i, e, A] = P(A⁺ ⇒* w_i … w_e)``: CKY over the binary rules, then the unary closure.
* ``F[t, X]``: mass of derivation contexts in which ``X`` (the root or a right child) starts at
  position ``t`` and everything left of it derives exactly ``w_{<t}``; ``H[t] = F[t] · R*`` walks
  down the left corners, so that ``P(w_{<t} y Σ*) = Σ_A H[t, A] p(A⁺ → y)`` and
  ``F[t', C] = Σ_{t<t'} Σ_{A→B C} H[t, A] p(A→B C) inside[t, t'−1, B]`` (right siblings are
  free: they carry total mass one since the grammar is proper and consistent). This is
  Jelinek & Lafferty's (1991) prefix probability organised as Stolcke's (1995) forward pass:
  every prefix of the word is a by-product of the last one.

Log space, factored. Every vector (an ``inside[i, e, :]``, an ``F[t]``, an ``H[t]``) is stored as
``exp(s)·v`` with one log scale ``s`` and ``max v = 1``: a sum of products of such vectors takes
one ``exp`` per product of scales and multiply-adds inside. What one scale per vector cannot hold
is an entry below the float range *relative to the largest entry of the same vector*; every
product that falls below the smallest normal double (``2⁻¹⁰²²``) although its factors are
positive therefore raises a *flag*, and the wrapper recomputes that word in plain log space
(:func:`scan_log_row`, ``logsumexp`` everywhere; its NumPy twin is :mod:`exact.grammar.reference`)
— nothing is silently truncated.
No ``fastmath``; kernels write into caller-allocated arrays and never validate.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from exact.core.logspace import lse2

#: The smallest normal double: a positive product below it has lost precision (or underflowed).
TINY = 2.2250738585072014e-308


@njit(cache=True)
def _normalise(v, flag):  # pragma: no cover - jitted
    """Divide ``v`` by its maximum in place; return ``log max`` (``-inf`` for a zero vector)."""
    top = 0.0
    for a in range(v.shape[0]):
        if v[a] > top:
            top = v[a]
    if top == 0.0:
        return -np.inf
    for a in range(v.shape[0]):
        if v[a] != 0.0:
            v[a] /= top
            if v[a] < TINY:
                flag[0] = 1
    return math.log(top)


@njit(cache=True)
def _matvec(ptr, col, val, v, out, flag):  # pragma: no cover - jitted
    """``out[A] = Σ_B star[A, B] v[B]`` (inside through unary chains); ``star`` in CSR form."""
    for a in range(out.shape[0]):
        acc = 0.0
        for k in range(ptr[a], ptr[a + 1]):
            x = v[col[k]]
            if x != 0.0:
                x *= val[k]
                if x < TINY:
                    flag[0] = 1
                acc += x
        out[a] = acc


@njit(cache=True)
def _vecmat(v, ptr, col, val, out, flag):  # pragma: no cover - jitted
    """``out[A] = Σ_X v[X] star[X, A]`` (down the left corners); ``star`` in CSR form."""
    for a in range(out.shape[0]):
        out[a] = 0.0
    for x in range(v.shape[0]):
        if v[x] != 0.0:
            for k in range(ptr[x], ptr[x + 1]):
                z = v[x] * val[k]
                if z < TINY:
                    flag[0] = 1
                out[col[k]] += z


@njit(cache=True)
def _dot_lex(hv, hs, lex, y, flag):  # pragma: no cover - jitted
    """``log Σ_A exp(hs)·hv[A]·p(A → y)``."""
    if hs == -np.inf:
        return -np.inf
    acc = 0.0
    for a in range(hv.shape[0]):
        if hv[a] != 0.0 and lex[a, y] != 0.0:
            z = hv[a] * lex[a, y]
            if z < TINY:
                flag[0] = 1
            acc += z
    return hs + math.log(acc) if acc > 0.0 else -np.inf


@njit(cache=True)
def _h_step(t, fv, fsc, hv, hsc, l_ptr, l_col, l_val, flag):  # pragma: no cover - jitted
    """``H[t] = F[t] R*`` (the left-spine nodes that start at position ``t``), factored."""
    _vecmat(fv[t], l_ptr, l_col, l_val, hv[t], flag)
    hsc[t] = fsc[t] + _normalise(hv[t], flag) if fsc[t] != -np.inf else -np.inf


@njit(cache=True)
def _scaled(log_gap, flag):  # pragma: no cover - jitted
    """``exp(log_gap)`` for ``log_gap ≤ 0``, flagging a factor below the normal range."""
    f = math.exp(log_gap)
    if f < TINY:
        flag[0] = 1
    return f


@njit(cache=True)
def _new_chart(n, n_nt, log_nonempty):  # pragma: no cover - jitted
    """The scan state for words of up to ``n`` tokens: the factored inside chart (``iv``, ``isc``), the
    forward masses ``F`` (``fv``, ``fsc``) and their left-corner closures ``H`` (``hv``, ``hsc``), scratch,
    and the per-start lists of non-empty span ends; ``F[0]`` is the start symbol with mass ``1 − e_S``."""
    m = max(n, 1)
    chart = (
        np.zeros((m, m, n_nt)),
        np.full((m, m), -np.inf),
        np.zeros((n + 1, n_nt)),
        np.full(n + 1, -np.inf),
        np.zeros((n + 1, n_nt)),
        np.full(n + 1, -np.inf),
        np.zeros(n_nt),
        np.empty(m + 1),
        np.zeros((m, m), dtype=np.int64),
        np.zeros(m, dtype=np.int64),
    )
    if log_nonempty != -np.inf:
        chart[2][0, 0] = 1.0
        chart[3][0] = log_nonempty
    return chart


@njit(cache=True)
def _column(y, e, chart, rules, flag):  # pragma: no cover - jitted
    """Add token ``y`` at position ``e``: the inside of every span ending at ``e`` and ``F[e+1]``.

    Needs ``H[0..e]`` and the inside of every span ending before ``e``; returns
    ``log inside[0, e, start]`` (without the ``1 − e_S`` factor). ``ends[i, :n_ends[i]]`` lists
    the ends ``j`` of the spans starting at ``i`` with non-zero inside, in increasing order, so
    that only splits whose left part is possible are visited (the chart of a formal language is
    sparse); entries at or after ``e`` (left by a sibling in a depth-first walk) are dropped first.
    """
    iv, isc, fv, fsc, hv, hsc, base, split_sc, ends, n_ends = chart
    lex, bin_a, bin_b, bin_c, bin_p, u_ptr, u_col, u_val = rules
    n_nt = lex.shape[0]
    for i in range(e + 1):
        while n_ends[i] > 0 and ends[i, n_ends[i] - 1] >= e:
            n_ends[i] -= 1
    for i in range(e, -1, -1):  # spans ending at e, shortest first
        for a in range(n_nt):
            base[a] = 0.0
        sc = 0.0
        if i == e:
            for a in range(n_nt):
                base[a] = lex[a, y]
        else:
            top = -np.inf
            for k in range(n_ends[i]):
                j = ends[i, k]
                split_sc[j] = isc[i, j] + isc[j + 1, e]
                if split_sc[j] > top:
                    top = split_sc[j]
            sc = top
            if top != -np.inf:
                for k in range(n_ends[i]):
                    j = ends[i, k]
                    if split_sc[j] == -np.inf:
                        continue
                    f = _scaled(split_sc[j] - top, flag)
                    for r in range(bin_a.shape[0]):
                        vb = iv[i, j, bin_b[r]]
                        if vb != 0.0:
                            vc = iv[j + 1, e, bin_c[r]]
                            if vc != 0.0:
                                z = f * bin_p[r] * vb * vc
                                if z < TINY:
                                    flag[0] = 1
                                base[bin_a[r]] += z
        if sc == -np.inf:
            for a in range(n_nt):
                iv[i, e, a] = 0.0
            isc[i, e] = -np.inf
            continue
        _matvec(u_ptr, u_col, u_val, base, iv[i, e], flag)
        isc[i, e] = sc + _normalise(iv[i, e], flag)
        if isc[i, e] != -np.inf:
            ends[i, n_ends[i]] = e
            n_ends[i] += 1
    whole = isc[0, e] + math.log(iv[0, e, 0]) if isc[0, e] != -np.inf and iv[0, e, 0] > 0.0 else -np.inf
    # F[e+1]: right children that start after w_e
    for a in range(n_nt):
        fv[e + 1, a] = 0.0
    top = -np.inf
    for s in range(e + 1):
        split_sc[s] = hsc[s] + isc[s, e]
        if split_sc[s] > top:
            top = split_sc[s]
    if top != -np.inf:
        for s in range(e + 1):
            if split_sc[s] == -np.inf:
                continue
            f = _scaled(split_sc[s] - top, flag)
            for r in range(bin_a.shape[0]):
                ha = hv[s, bin_a[r]]
                if ha != 0.0:
                    vb = iv[s, e, bin_b[r]]
                    if vb != 0.0:
                        z = f * ha * bin_p[r] * vb
                        if z < TINY:
                            flag[0] = 1
                        fv[e + 1, bin_c[r]] += z
        fsc[e + 1] = top + _normalise(fv[e + 1], flag)
    else:
        fsc[e + 1] = -np.inf
    return whole


@njit(cache=True)
def _scan_row(w, n, rules, l_csr, log_nonempty, log_empty, pre, strp, nxt, every, flag):  # pragma: no cover - jitted
    lex = rules[0]
    n_t = lex.shape[1]
    chart = _new_chart(n, lex.shape[0], log_nonempty)
    fv, fsc, hv, hsc = chart[2], chart[3], chart[4], chart[5]
    pre[0] = 0.0
    strp[0] = log_empty
    for t in range(n + 1):
        _h_step(t, fv, fsc, hv, hsc, l_csr[0], l_csr[1], l_csr[2], flag)
        if every or t == n:
            slot = t if every else 0
            for y in range(n_t):
                nxt[slot, y] = _dot_lex(hv[t], hsc[t], lex, y, flag)
        if t == n:
            break
        y = w[t]
        pre[t + 1] = _dot_lex(hv[t], hsc[t], lex, y, flag)
        whole = _column(y, t, chart, rules, flag)
        strp[t + 1] = log_nonempty + whole if log_nonempty != -np.inf and whole != -np.inf else -np.inf


@njit(cache=True)
def enumerate_words(
    max_len,
    max_nodes,
    max_work,
    fill,
    rules,
    l_csr,
    log_nonempty,
    log_empty,
    out_words,
    out_logp,
    out_len,
    counts,
):  # pragma: no cover - jitted
    """Depth-first over the tree of positive-probability prefixes up to ``max_len``, each node
    extending its parent's chart by one column (``O(t²)`` work per node, not ``O(t³)``).

    Records every word with ``P(w) > 0`` (into ``out_*`` when ``fill``), in lexicographic order
    of token ids; ``counts = [words, nodes, stopped, flagged, work]``: ``stopped = 1`` when more than
    ``max_nodes`` prefixes would be visited, ``2`` when the work — per chart column, its length plus
    the live spans times the binary rules (about 6 ns each) — would exceed ``max_work`` (deep trees
    of dense charts are slow long before they are big), ``flagged = 1`` when a product left the normal float
    range (the wrapper then enumerates level by level, flagged words in plain log space). Returns the mass of the words
    longer than ``max_len``: the prefix probabilities of the ``max_len + 1``-token prefixes,
    summed with compensation (Kahan).
    """
    lex = rules[0]
    n_t = lex.shape[1]
    L = max_len
    m = max(L, 1)
    chart = _new_chart(L, lex.shape[0], log_nonempty)
    fv, fsc, hv, hsc = chart[2], chart[3], chart[4], chart[5]
    n_ends, n_bin = chart[9], rules[1].shape[0]
    w = np.zeros(m, dtype=np.int64)
    strp = np.full(L + 1, -np.inf)
    nxt = np.full((L + 1, n_t), -np.inf)
    child = np.zeros(L + 1, dtype=np.int64)
    flag = np.zeros(1, dtype=np.int64)
    strp[0] = log_empty
    total = 0.0
    carry = 0.0
    n_words = 0
    nodes = 0
    work = 0
    depth = 0
    entering = True
    while depth >= 0:
        t = depth
        if entering:
            entering = False
            nodes += 1
            if nodes > max_nodes:
                counts[2] = 1
                break
            if work > max_work:
                counts[2] = 2
                break
            _h_step(t, fv, fsc, hv, hsc, l_csr[0], l_csr[1], l_csr[2], flag)
            for y in range(n_t):
                nxt[t, y] = _dot_lex(hv[t], hsc[t], lex, y, flag)
            if strp[t] != -np.inf:
                if fill:
                    for i in range(t):
                        out_words[n_words, i] = w[i]
                    out_logp[n_words] = strp[t]
                    out_len[n_words] = t
                n_words += 1
            child[t] = 0
            if t == L:
                for y in range(n_t):
                    if nxt[t, y] != -np.inf:
                        x = math.exp(nxt[t, y]) - carry
                        s = total + x
                        carry = (s - total) - x
                        total = s
                depth -= 1
                continue
        if child[t] >= n_t:
            depth -= 1
            continue
        y = child[t]
        child[t] += 1
        if nxt[t, y] == -np.inf:
            continue
        w[t] = y
        work += t + 1
        for i in range(t + 1):
            work += n_ends[i] * n_bin
        whole = _column(y, t, chart, rules, flag)
        strp[t + 1] = log_nonempty + whole if log_nonempty != -np.inf and whole != -np.inf else -np.inf
        depth = t + 1
        entering = True
    counts[0] = n_words
    counts[1] = nodes
    counts[3] = flag[0]
    counts[4] = work
    return total


@njit(cache=True, parallel=True)
def scan(
    tokens,
    lengths,
    rules,
    l_csr,
    log_nonempty,
    log_empty,
    pre,
    strp,
    nxt,
    every,
    flagged,
):  # pragma: no cover - jitted
    """Rows of ``tokens`` (terminal ids) scanned independently (see the module docstring).

    ``rules = (lex, bin_a, bin_b, bin_c, bin_p, u_ptr, u_col, u_val)``: the lexical and binary rules
    (linear probabilities) and the unary closure ``U*`` in CSR form; ``l_csr = (ptr, col, val)``:
    the left-corner closure ``R*`` (both closures are sparse). Writes
    ``pre[r, t]``, ``strp[r, t]`` (logs) for ``t ≤ lengths[r]``, ``nxt[r, t, y]`` for every ``t``
    when ``every`` else ``nxt[r, 0, y]`` after the whole row, and ``flagged[r] = 1`` where a
    product left the normal float range (the row must be recomputed in plain log space).
    """
    for r in prange(tokens.shape[0]):
        _scan_row(
            tokens[r],
            lengths[r],
            rules,
            l_csr,
            log_nonempty,
            log_empty,
            pre[r],
            strp[r],
            nxt[r],
            every,
            flagged[r : r + 1],
        )


@njit(cache=True)
def _log_matvec(star, v, out):  # pragma: no cover - jitted
    """``out[A] = log Σ_B exp(star[A, B] + v[B])`` (dense log matrices)."""
    for a in range(out.shape[0]):
        acc = -np.inf
        for b in range(v.shape[0]):
            if v[b] != -np.inf and star[a, b] != -np.inf:
                acc = lse2(acc, star[a, b] + v[b])
        out[a] = acc


@njit(cache=True)
def _log_vecmat(v, star, out):  # pragma: no cover - jitted
    """``out[A] = log Σ_X exp(v[X] + star[X, A])``."""
    for a in range(out.shape[0]):
        out[a] = -np.inf
    for x in range(v.shape[0]):
        if v[x] != -np.inf:
            for a in range(out.shape[0]):
                if star[x, a] != -np.inf:
                    out[a] = lse2(out[a], v[x] + star[x, a])


@njit(cache=True)
def _log_dot_lex(h, lex, y):  # pragma: no cover - jitted
    acc = -np.inf
    for a in range(h.shape[0]):
        if h[a] != -np.inf and lex[a, y] != -np.inf:
            acc = lse2(acc, h[a] + lex[a, y])
    return acc


@njit(cache=True)
def scan_log_row(
    w, n, lex, bin_a, bin_b, bin_c, bin_logp, ustar, lcstar, log_nonempty, log_empty, pre, strp, nxt, every
):  # pragma: no cover - jitted
    """The same recursion with every quantity a log probability and every sum a ``logsumexp``
    (slower: an ``exp`` and a ``log1p`` per term); the fallback for words the factored scan flags.
    ``lex``, ``bin_logp``, ``ustar`` and ``lcstar`` are logs; the closures dense."""
    n_nt = lex.shape[0]
    n_t = lex.shape[1]
    m = max(n, 1)
    inside = np.full((m, m, n_nt), -np.inf)
    f = np.full((n + 1, n_nt), -np.inf)
    h = np.full((n + 1, n_nt), -np.inf)
    base = np.empty(n_nt)
    ends = np.zeros((m, m), dtype=np.int64)
    n_ends = np.zeros(m, dtype=np.int64)
    f[0, 0] = log_nonempty
    pre[0] = 0.0
    strp[0] = log_empty
    for t in range(n + 1):
        _log_vecmat(f[t], lcstar, h[t])
        if every or t == n:
            slot = t if every else 0
            for y in range(n_t):
                nxt[slot, y] = _log_dot_lex(h[t], lex, y)
        if t == n:
            break
        y = w[t]
        pre[t + 1] = _log_dot_lex(h[t], lex, y)
        e = t
        for i in range(e, -1, -1):
            for a in range(n_nt):
                base[a] = lex[a, y] if i == e else -np.inf
            if i < e:
                for k in range(n_ends[i]):
                    j = ends[i, k]
                    for r in range(bin_a.shape[0]):
                        lb = inside[i, j, bin_b[r]]
                        if lb == -np.inf:
                            continue
                        lc = inside[j + 1, e, bin_c[r]]
                        if lc == -np.inf:
                            continue
                        base[bin_a[r]] = lse2(base[bin_a[r]], bin_logp[r] + lb + lc)
            _log_matvec(ustar, base, inside[i, e])
            live = False
            for a in range(n_nt):
                if inside[i, e, a] != -np.inf:
                    live = True
            if live:
                ends[i, n_ends[i]] = e
                n_ends[i] += 1
        strp[t + 1] = log_nonempty + inside[0, e, 0] if log_nonempty != -np.inf else -np.inf
        for s in range(e + 1):
            for r in range(bin_a.shape[0]):
                ha = h[s, bin_a[r]]
                if ha == -np.inf:
                    continue
                lb = inside[s, e, bin_b[r]]
                if lb == -np.inf:
                    continue
                f[t + 1, bin_c[r]] = lse2(f[t + 1, bin_c[r]], ha + bin_logp[r] + lb)
