"""Numba kernels of the HMM-mixture forward recursion (private; see :mod:`exact.hmm.mixture`).

Hidden state ``h = v·n_slots + s``; concept ``c`` has transitions
``T_c = V_c ⊗ S_c`` (``T[(v,s),(w,s')] = V[v,w]·S[s,s']``, as in GINC), so one
step ``α ↦ αT`` is two small contractions, ``n_v·n_s·(n_v+n_s)`` multiply-adds
instead of ``(n_v·n_s)²``. A plain HMM is the case ``n_v = 1``.

Observations are *classes*: row ``o`` of the table ``emis[e, o, h]`` is the
likelihood of observation ``o`` in state ``h`` (a token, or a set of tokens
such as "any non-delimiter", whose likelihood is a sum of emission
probabilities).

Two recursions:

* :func:`forward_scaled` keeps ``α_t = exp(L_t)·α̂_t`` with ``Σ α̂_t = 1`` and
  ``L_t`` accumulated in log space (lanes of (sequence, concept) pairs in
  blocks of :data:`LANES`, SIMD over lanes). It is exact to rounding as long
  as no product ``α̂·V·S·E`` leaves the normal float range: after every step
  the smallest positive entry of ``α̂`` is compared with a threshold the
  wrapper derives from the smallest positive entries of ``V``, ``S`` and
  ``E``; a lane that could underflow is *flagged*, never silently truncated.
* :func:`forward_log` is the pure log-space recursion (logsumexp in both
  contractions). The wrapper reruns flagged lanes with it; it is also the
  reference the scaled kernel is tested against.

No ``fastmath``: reductions keep IEEE order. Kernels allocate only per-block
scratch and never validate (the wrapper does).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from exact.core.logspace import lse2

#: (sequence, concept) pairs processed together; the innermost SIMD dimension.
LANES = 16


@njit(cache=True)
def _predict_from(x, l, vb, sb, bout_e, transition, out_row):  # pragma: no cover - jitted
    """``out_row[y] = Σ_h u[h]·B[h, y] / Σ u`` with ``u = α̂T`` (or ``α̂`` itself)."""
    nv, ns = x.shape[0], x.shape[1]
    m = bout_e.shape[1]
    u = np.zeros((nv, ns))
    if transition:
        y = np.zeros((nv, ns))
        for v in range(nv):
            for w in range(nv):
                a = vb[v, w, l]
                if a != 0.0:
                    for s in range(ns):
                        y[w, s] += a * x[v, s, l]
        for w in range(nv):
            for s in range(ns):
                a = y[w, s]
                if a != 0.0:
                    for s2 in range(ns):
                        u[w, s2] += a * sb[s, s2, l]
    else:
        for v in range(nv):
            for s in range(ns):
                u[v, s] = x[v, s, l]
    total = 0.0
    for k in range(m):
        out_row[k] = 0.0
    for v in range(nv):
        for s in range(ns):
            a = u[v, s]
            total += a
            if a != 0.0:
                h = v * ns + s
                for k in range(m):
                    out_row[k] += a * bout_e[h, k]
    for k in range(m):
        out_row[k] /= total


@njit(cache=True, parallel=True)
def forward_scaled(
    obs,
    lengths,
    lane_seq,
    lane_concept,
    start,
    vmat,
    smat,
    emis,
    bout,
    threshold,
    want_pred,
    loglik,
    pred,
    flagged,
):  # pragma: no cover - jitted
    """Scaled forward recursion over lanes of (sequence, concept) pairs.

    Parameters
    ----------
    obs : int64, shape (n_seq, max_len)
        Observation-class ids; entries at ``t ≥ lengths[n]`` are never read.
    lengths : int64, shape (n_seq,)
    lane_seq, lane_concept : int64, shape (n_lanes,)
        Lane ``p`` computes sequence ``lane_seq[p]`` under concept ``lane_concept[p]``.
    start : float64, shape (n_concepts, n_states)
    vmat : float64, shape (1 or n_concepts, n_values, n_values)
    smat : float64, shape (n_concepts, n_slots, n_slots)
    emis : float64, shape (1 or n_concepts, n_classes, n_states)
    bout : float64, shape (1 or n_concepts, n_states, vocab)
        Token emissions, for the next-token predictive.
    threshold : float
        Flag a lane when a positive entry of ``α̂`` falls below it.
    want_pred : bool
    loglik : float64, shape (n_lanes,)  (out) ``log p(x | θ)``; ``-inf`` if zero.
    pred : float64, shape (n_lanes, vocab)  (out, when ``want_pred``) ``p(· | x, θ)``;
        all zeros where ``p(x | θ) = 0``.
    flagged : bool, shape (n_lanes,)  (out) lanes to recompute in log space.
    """
    n_lanes = lane_seq.shape[0]
    nv = vmat.shape[1]
    ns = smat.shape[1]
    n_blocks = (n_lanes + LANES - 1) // LANES
    for b in prange(n_blocks):
        lo = b * LANES
        nb = min(n_lanes, lo + LANES) - lo
        x = np.zeros((nv, ns, nb))
        y = np.zeros((nv, ns, nb))
        vb = np.empty((nv, nv, nb))
        sb = np.empty((ns, ns, nb))
        logs = np.zeros(nb)
        alive = np.ones(nb, dtype=np.bool_)
        totals = np.zeros(nb)
        mins = np.zeros(nb)
        tmax = 0
        for l in range(nb):
            p = lo + l
            c = lane_concept[p]
            cv = c if vmat.shape[0] > 1 else 0
            ce = c if emis.shape[0] > 1 else 0
            n = lane_seq[p]
            flagged[p] = False
            for v in range(nv):
                for w in range(nv):
                    vb[v, w, l] = vmat[cv, v, w]
            for s in range(ns):
                for s2 in range(ns):
                    sb[s, s2, l] = smat[c, s, s2]
            length = lengths[n]
            tmax = max(tmax, length)
            o = obs[n, 0] if length > 0 else 0
            for v in range(nv):
                for s in range(ns):
                    h = v * ns + s
                    x[v, s, l] = start[c, h] * (emis[ce, o, h] if length > 0 else 1.0)
            if length == 0:
                loglik[p] = 0.0
                if want_pred:
                    _predict_from(x, l, vb, sb, bout[ce], False, pred[p])
        same_c = True
        for l in range(1, nb):
            if lane_concept[lo + l] != lane_concept[lo]:
                same_c = False
        shared_v = vmat.shape[0] == 1 or same_c
        c0 = lane_concept[lo]
        v0 = vmat[c0 if vmat.shape[0] > 1 else 0]
        s0 = smat[c0]
        nzx = np.ones((nv, ns), dtype=np.bool_)  # x[v, s, :] has a non-zero lane
        nzy = np.zeros((nv, ns), dtype=np.bool_)
        for t in range(tmax):
            if t > 0:
                # stage 1: y[w, s] = Σ_v V[v, w] x[v, s]
                y[:] = 0.0
                nzy[:] = False
                for v in range(nv):
                    for w in range(nv):
                        if shared_v:
                            a = v0[v, w]
                            if a == 0.0:
                                continue
                            for s in range(ns):
                                if nzx[v, s]:
                                    nzy[w, s] = True
                                    for l in range(nb):
                                        y[w, s, l] += a * x[v, s, l]
                        else:
                            for s in range(ns):
                                if nzx[v, s]:
                                    nzy[w, s] = True
                                    for l in range(nb):
                                        y[w, s, l] += vb[v, w, l] * x[v, s, l]
                # stage 2: x[w, s'] = Σ_s y[w, s] S[s, s']
                x[:] = 0.0
                for w in range(nv):
                    for s in range(ns):
                        if not nzy[w, s]:
                            continue
                        for s2 in range(ns):
                            if same_c:
                                a = s0[s, s2]
                                if a != 0.0:
                                    for l in range(nb):
                                        x[w, s2, l] += y[w, s, l] * a
                            else:
                                for l in range(nb):
                                    x[w, s2, l] += y[w, s, l] * sb[s, s2, l]
                for l in range(nb):
                    p = lo + l
                    n = lane_seq[p]
                    if t < lengths[n]:
                        ce = lane_concept[p] if emis.shape[0] > 1 else 0
                        o = obs[n, t]
                        for v in range(nv):
                            for s in range(ns):
                                x[v, s, l] *= emis[ce, o, v * ns + s]
            # normalise: Σ α̂ = 1, the scale goes to the log accumulator
            totals[:] = 0.0
            for v in range(nv):
                for s in range(ns):
                    for l in range(nb):
                        totals[l] += x[v, s, l]
            for l in range(nb):
                if totals[l] > 0.0:
                    logs[l] += math.log(totals[l])
                    inv = 1.0 / totals[l]  # multiply by the reciprocal: one extra rounding, no divisions
                    if inv == np.inf:  # subnormal total: products already left the normal range
                        flagged[lo + l] = True
                        inv = 1.0
                    totals[l] = inv
                else:
                    alive[l] = False
                    totals[l] = 1.0  # α̂ is all zeros and stays so
                mins[l] = np.inf
            for v in range(nv):
                for s in range(ns):
                    positive = False
                    for l in range(nb):
                        a = x[v, s, l] * totals[l]
                        x[v, s, l] = a
                        positive |= a > 0.0
                        mins[l] = min(mins[l], a if a > 0.0 else np.inf)
                    nzx[v, s] = positive
            running = False
            for l in range(nb):
                p = lo + l
                n = lane_seq[p]
                if alive[l] and t < lengths[n] - 1:
                    running = True
                if t < lengths[n] and mins[l] < threshold:
                    flagged[p] = True
                if t == lengths[n] - 1:
                    loglik[p] = logs[l] if alive[l] else -np.inf
                    if want_pred:
                        if alive[l]:
                            ce = lane_concept[p] if emis.shape[0] > 1 else 0
                            _predict_from(x, l, vb, sb, bout[ce], True, pred[p])
                        else:
                            pred[p, :] = 0.0
            if not running:
                # every lane is finished or dead (α = 0 stays 0): record what is left and stop
                for l in range(nb):
                    p = lo + l
                    if lengths[lane_seq[p]] - 1 > t:
                        loglik[p] = -np.inf
                        if want_pred:
                            pred[p, :] = 0.0
                break


@njit(cache=True)
def _log_step(a, logv, logsm, out):  # pragma: no cover - jitted
    """``out = log(exp(a) T)`` for ``T = V ⊗ S``, by logsumexp in both contractions."""
    nv, ns = logv.shape[0], logsm.shape[0]
    u = np.full((nv, ns), -np.inf)
    for w in range(nv):
        for s in range(ns):
            acc = -np.inf
            for v in range(nv):
                acc = lse2(acc, a[v * ns + s] + logv[v, w])
            u[w, s] = acc
    for w in range(nv):
        for s2 in range(ns):
            acc = -np.inf
            for s in range(ns):
                acc = lse2(acc, u[w, s] + logsm[s, s2])
            out[w * ns + s2] = acc


@njit(cache=True, parallel=True)
def forward_log(
    obs,
    lengths,
    lanes,
    lane_seq,
    lane_concept,
    logstart,
    logv,
    logsm,
    logemis,
    bout,
    want_pred,
    loglik,
    pred,
):  # pragma: no cover - jitted
    """Pure log-space forward recursion for the lanes listed in ``lanes``.

    Same layout as :func:`forward_scaled`, with ``log`` of ``start``, ``vmat``,
    ``smat`` and ``emis`` (``-inf`` for zeros). ``α`` never leaves log space, so
    no state is lost however small its probability; the predictive is
    converted to probabilities only at the end.
    """
    nv = logv.shape[1]
    ns = logsm.shape[1]
    nh = nv * ns
    for i in prange(lanes.shape[0]):
        p = lanes[i]
        n = lane_seq[p]
        c = lane_concept[p]
        cv = c if logv.shape[0] > 1 else 0
        ce = c if logemis.shape[0] > 1 else 0
        length = lengths[n]
        a = np.empty(nh)
        nxt = np.empty(nh)
        for h in range(nh):
            a[h] = logstart[c, h] + (logemis[ce, obs[n, 0], h] if length > 0 else 0.0)
        for t in range(1, length):
            _log_step(a, logv[cv], logsm[c], nxt)
            o = obs[n, t]
            for h in range(nh):
                a[h] = nxt[h] + logemis[ce, o, h]
        total = -np.inf
        for h in range(nh):
            total = lse2(total, a[h])
        loglik[p] = total if length > 0 else 0.0
        if not want_pred:
            continue
        pred[p, :] = 0.0
        if total == -np.inf:
            continue
        if length > 0:
            _log_step(a, logv[cv], logsm[c], nxt)
        else:
            nxt[:] = a
        top = -np.inf
        for h in range(nh):
            top = max(top, nxt[h])
        norm = 0.0
        for h in range(nh):
            wgt = math.exp(nxt[h] - top)
            norm += wgt
            if wgt != 0.0:
                for k in range(bout.shape[2]):
                    pred[p, k] += wgt * bout[ce, h, k]
        for k in range(bout.shape[2]):
            pred[p, k] /= norm
