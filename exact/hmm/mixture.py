"""A mixture of categorical HMMs ("concepts") and its exact Bayes quantities.

Xie et al. (2022) model pretraining documents as a mixture over latent
concepts ``θ``, each an HMM (docs/paper.md §4.4.1)::

    p(x) = Σ_θ p(θ) p(x | θ),                      (mixture marginal)
    p(θ | x) = p(θ) p(x | θ) / p(x),               (posterior)
    p(y | x) = Σ_θ p(θ | x) p(y | x, θ),           (Bayes next-token predictive)

with ``p(y | x, θ) = Σ_{h,h'} p(h_T = h | x, θ) T_θ[h, h'] B[h', y]``. Every
quantity is computed exactly (to float64 rounding) by the forward recursion
of :mod:`exact.hmm._kernels` over all (sequence, concept) pairs.

Transitions are stored in Kronecker form ``T_θ = V_θ ⊗ S_θ`` (GINC: value
matrix ⊗ slot matrix, state ``h = v·n_slots + s``); a plain HMM has
``n_values = 1`` and ``S_θ = A_θ``. The value matrix and the emissions may be
shared by all concepts (leading axis of length 1) or given per concept.

A zero-probability sequence has ``log p = -inf`` (never NaN) and an
*undefined* posterior and predictive (:class:`~exact.core.predictor.NextTokenProbs`
with ``defined = False``).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from exact.core.limits import PYTHON_STEP_OPS, check_bytes, check_work
from exact.core.logspace import log_sum_exp
from exact.core.predictor import NextTokenProbs
from exact.core.sampling import draw_rows
from exact.core.tokens import TokenBatch
from exact.core.validate import ROW_SUM_TOL, InputError, InputTypeError, check_int, check_stochastic
from exact.hmm import _kernels as _hmm_kernels
from exact.hmm.categorical import CategoricalHMM

__all__ = ["ForwardResult", "HMMMixture", "Posterior", "as_mixture"]

#: Products of probabilities below this would leave the normal float64 range
#: (minimum normal ≈ 2.2e-308); the scaled recursion stays above it or defers to log space.
_PRODUCT_FLOOR = 1e-300
#: Largest (sequences × concepts × vocab) block of predictive rows held at once.
_MAX_PRED_CELLS = 1 << 24
#: Operations per forward-kernel call (about 0.1–0.3 s): Ctrl-C is honoured between calls.
_CHUNK_OPS = 2e8


@dataclass(frozen=True)
class ForwardResult:
    """Per-concept forward quantities of a batch.

    Attributes
    ----------
    loglik : ndarray, shape (batch, n_concepts)
        ``log p(x | θ)``; ``-inf`` where the sequence is impossible under ``θ``.
    predictive : ndarray, shape (batch, n_concepts, vocab) or None
        ``p(y | x, θ)``; zero rows where ``p(x | θ) = 0``.
    n_log_space : int
        (sequence, concept) pairs computed by the pure log-space recursion
        (all of them with ``method="log"``; with ``"auto"`` those the scaled
        recursion flagged as at risk of underflow).
    """

    loglik: NDArray[np.float64]
    predictive: NDArray[np.float64] | None
    n_log_space: int


@dataclass(frozen=True)
class Posterior:
    """``p(θ | x)`` for a batch: ``probs`` (batch, n_concepts), zero rows where undefined."""

    probs: NDArray[np.float64]
    defined: NDArray[np.bool_]
    log_marginal: NDArray[np.float64]


def _min_positive(a: NDArray[np.float64]) -> float:
    pos = a[a > 0]
    return float(pos.min()) if pos.size else 1.0


class HMMMixture:
    """A prior-weighted mixture of categorical HMMs sharing one state space and vocabulary.

    Parameters
    ----------
    prior : array_like, shape (n_concepts,)
        ``p(θ)``; zero weights are allowed.
    start : array_like, shape (n_concepts, n_states)
        ``π_θ``, with ``n_states = n_values · n_slots``.
    slot_transmat : array_like, shape (n_concepts, n_slots, n_slots)
        ``S_θ``, row-stochastic.
    value_transmat : array_like, shape (1 or n_concepts, n_values, n_values), optional
        ``V`` (shared) or ``V_θ``; default ``[[[1.0]]]`` (a plain HMM, ``T_θ = S_θ``).
    emissions : array_like, shape (n_states, vocab) or (1 or n_concepts, n_states, vocab)
        ``B`` (shared, as in Xie et al.) or ``B_θ``.
    tol : float
        Allowed deviation of every row sum from 1 (default ``1e-9``).

    Examples
    --------
    Two one-state concepts that emit token 0 with probability 0.9 and 0.2:

    >>> mix = HMMMixture.from_hmms(
    ...     [CategoricalHMM([1.0], [[1.0]], [[0.9, 0.1]]), CategoricalHMM([1.0], [[1.0]], [[0.2, 0.8]])]
    ... )
    >>> batch = TokenBatch.from_sequences([[0, 0, 0]], vocab_size=2)
    >>> round(float(np.exp(mix.log_prob(batch))[0]), 15)  # (0.9³ + 0.2³) / 2
    0.3685
    >>> mix.posterior(batch).probs.round(4).tolist()
    [[0.9891, 0.0109]]
    """

    def __init__(
        self,
        prior: object,
        start: object,
        slot_transmat: object,
        value_transmat: object = None,
        emissions: object = None,
        *,
        tol: float = ROW_SUM_TOL,
    ) -> None:
        if emissions is None:
            raise InputError("emissions is required: an array of shape (n_states, vocab)")
        self.prior = check_stochastic(prior, "prior", ndim=1, tol=tol)
        self.slot_transmat = check_stochastic(slot_transmat, "slot_transmat", ndim=3, tol=tol, square=True)
        vt = [[[1.0]]] if value_transmat is None else value_transmat
        self.value_transmat = check_stochastic(vt, "value_transmat", ndim=3, tol=tol, square=True)
        em = np.asarray(emissions, dtype=np.float64)
        self.emissions = check_stochastic(em[None] if em.ndim == 2 else em, "emissions", ndim=3, tol=tol)
        self.start = check_stochastic(start, "start", ndim=2, tol=tol)
        k, nv, ns = self.n_concepts, self.n_values, self.n_slots
        for name, arr in (("slot_transmat", self.slot_transmat), ("start", self.start)):
            if arr.shape[0] != k:
                raise InputError(f"{name} has {arr.shape[0]} concepts but prior has {k}")
        for name, arr in (("value_transmat", self.value_transmat), ("emissions", self.emissions)):
            if arr.shape[0] not in (1, k):
                raise InputError(f"{name} must have 1 (shared) or {k} leading entries, got {arr.shape[0]}")
        if self.start.shape[1] != nv * ns or self.emissions.shape[1] != nv * ns:
            raise InputError(
                f"n_values·n_slots = {nv}·{ns} = {nv * ns} states, but start has {self.start.shape[1]} "
                f"and emissions {self.emissions.shape[1]}"
            )
        self.tol = tol

    # --- shape -------------------------------------------------------------------
    @property
    def n_concepts(self) -> int:
        return int(self.prior.shape[0])

    @property
    def n_values(self) -> int:
        return int(self.value_transmat.shape[1])

    @property
    def n_slots(self) -> int:
        return int(self.slot_transmat.shape[1])

    @property
    def n_states(self) -> int:
        return self.n_values * self.n_slots

    @property
    def vocab_size(self) -> int:
        return int(self.emissions.shape[2])

    def __repr__(self) -> str:
        return (
            f"HMMMixture(n_concepts={self.n_concepts}, n_values={self.n_values}, "
            f"n_slots={self.n_slots}, vocab_size={self.vocab_size})"
        )

    # --- construction and views ----------------------------------------------------
    @classmethod
    def from_hmms(cls, hmms: Sequence[CategoricalHMM], prior: object = None) -> HMMMixture:
        """Mixture of plain HMMs (``n_values = 1``); ``prior`` defaults to uniform."""
        if not hmms:
            raise InputError("hmms must contain at least one CategoricalHMM")
        shapes = {(h.n_states, h.vocab_size) for h in hmms}
        if len(shapes) != 1:
            raise InputError(f"all hmms must share (n_states, vocab_size); got {sorted(shapes)}")
        k = len(hmms)
        em = np.stack([h.emissions for h in hmms])
        if all(np.array_equal(em[0], e) for e in em[1:]):
            em = em[:1]
        return cls(
            np.full(k, 1.0 / k) if prior is None else prior,
            np.stack([h.start for h in hmms]),
            np.stack([h.transmat for h in hmms]),
            None,
            em,
            tol=max(h.tol for h in hmms),
        )

    def _concept(self, concept: object) -> int:
        return check_int(concept, "concept", minimum=0, maximum=self.n_concepts - 1)

    def select_concepts(self, concepts: NDArray[np.int64], *, prior: object = None, start: object = None) -> HMMMixture:
        """The mixture of ``concepts`` (repeats allowed), with a new ``prior`` (default uniform)
        and optionally new start distributions (n_selected, n_states)."""
        idx = np.asarray(concepts, dtype=np.int64).reshape(-1)
        if idx.size == 0 or idx.min() < 0 or idx.max() >= self.n_concepts:
            raise InputError(f"concepts must be non-empty indices in 0..{self.n_concepts - 1}, got {concepts!r}")
        pick = lambda a: a if a.shape[0] == 1 else a[idx]  # noqa: E731  (shared factors stay shared)
        return HMMMixture(
            np.full(idx.size, 1.0 / idx.size) if prior is None else prior,
            self.start[idx] if start is None else start,
            self.slot_transmat[idx],
            pick(self.value_transmat),
            pick(self.emissions),
            tol=self.tol,
        )

    def transmat(self, concept: int) -> NDArray[np.float64]:
        """Dense ``T_θ = V_θ ⊗ S_θ`` of one concept, shape (n_states, n_states)."""
        concept = self._concept(concept)
        v = self.value_transmat[concept if self.value_transmat.shape[0] > 1 else 0]
        return np.kron(v, self.slot_transmat[concept])

    def emission_matrix(self, concept: int) -> NDArray[np.float64]:
        """``B_θ``, shape (n_states, vocab)."""
        concept = self._concept(concept)
        return self.emissions[concept if self.emissions.shape[0] > 1 else 0]

    def component(self, concept: int) -> CategoricalHMM:
        """Concept ``concept`` as a dense :class:`~exact.hmm.categorical.CategoricalHMM`."""
        concept = self._concept(concept)
        return CategoricalHMM(self.start[concept], self.transmat(concept), self.emission_matrix(concept), tol=self.tol)

    # --- forward -------------------------------------------------------------------
    def _forward(
        self,
        obs: NDArray[np.int64],
        lengths: NDArray[np.int64],
        table: NDArray[np.float64],
        *,
        predictive: bool,
        method: str,
    ) -> ForwardResult:
        """Forward of every sequence under every concept (see :meth:`_forward_lanes`)."""
        n, k = lengths.shape[0], self.n_concepts
        step_ops = self.n_states * (self.n_values + self.n_slots)  # one Kronecker step of one lane
        sizes = {"sequences": n, "tokens": int(lengths.sum()), "n_concepts": k, "hidden states": self.n_states}
        check_work(float(lengths.sum()) * k * step_ops, "the forward pass", sizes)
        if predictive:
            check_bytes(16.0 * n * k * self.vocab_size, "the per-concept predictive rows", sizes)
        # concept-major lanes: a block shares one concept (scalar transition entries, zeros
        # skipped); sequences sorted by length so a block's lanes end together
        order = np.argsort(lengths, kind="stable")
        lane_seq = np.tile(order, k).astype(np.int64)
        lane_concept = np.repeat(np.arange(k, dtype=np.int64), n)
        # kernel calls of at most _CHUNK_OPS operations each, so that Ctrl-C (checked by Python
        # between calls) stops a long forward within a fraction of a second
        cost = np.cumsum(lengths[lane_seq].astype(np.float64) * step_ops)
        cuts = np.searchsorted(cost, np.arange(_CHUNK_OPS, cost[-1] if cost.size else 0.0, _CHUNK_OPS))
        bounds = [0, *sorted({int(c) for c in cuts if 0 < c < lane_seq.size}), lane_seq.size]
        parts = [
            self._forward_lanes(
                obs, lengths, lane_seq[a:b], lane_concept[a:b], table, predictive=predictive, method=method
            )
            for a, b in itertools.pairwise(bounds)
            if b > a
        ]
        loglik = np.concatenate([r.loglik for r in parts]) if parts else np.empty(0)
        out_ll = np.empty((n, k))
        out_ll[order] = loglik.reshape(k, n).T
        out_pred = None
        if predictive:
            pred = np.concatenate([r.predictive for r in parts if r.predictive is not None]) if parts else np.empty(0)
            out_pred = np.empty((n, k, self.vocab_size))
            out_pred[order] = pred.reshape(k, n, self.vocab_size).transpose(1, 0, 2)
        return ForwardResult(out_ll, out_pred, sum(r.n_log_space for r in parts))

    def _forward_lanes(
        self,
        obs: NDArray[np.int64],
        lengths: NDArray[np.int64],
        lane_seq: NDArray[np.int64],
        lane_concept: NDArray[np.int64],
        table: NDArray[np.float64],
        *,
        predictive: bool,
        method: str,
    ) -> ForwardResult:
        """Sequence ``lane_seq[p]`` under concept ``lane_concept[p]`` for each lane ``p``.

        ``obs`` holds observation classes, rows of ``table`` (Ke, classes, n_states).
        Results have shape (n_lanes,) and (n_lanes, vocab).
        """
        if method not in ("auto", "log"):
            raise InputError(f"method must be 'auto' or 'log', got {method!r}")
        n_lanes = lane_seq.size
        loglik = np.empty(n_lanes)
        m = self.vocab_size
        pred = np.zeros((n_lanes, m) if predictive else (0, m))
        obs = np.ascontiguousarray(obs, dtype=np.int64)
        table = np.ascontiguousarray(table)
        bout = self.emissions
        vs_min, start_min, bout_min = self._positive_floors
        table_min = _min_positive(table)
        floor = vs_min * min(table_min, bout_min)
        start_ok = start_min * table_min >= _PRODUCT_FLOOR
        if method == "auto" and start_ok and floor > 0:
            flagged = np.zeros(n_lanes, dtype=np.bool_)
            _hmm_kernels.forward_scaled(
                obs,
                lengths,
                lane_seq,
                lane_concept,
                self.start,
                self.value_transmat,
                self.slot_transmat,
                table,
                bout,
                _PRODUCT_FLOOR / floor,
                predictive,
                loglik,
                pred,
                flagged,
            )
            redo = np.flatnonzero(flagged).astype(np.int64)
        else:
            redo = np.arange(n_lanes, dtype=np.int64)
        if redo.size:
            with np.errstate(divide="ignore"):
                log_start, log_v, log_s, log_table = (
                    np.log(a) for a in (self.start, self.value_transmat, self.slot_transmat, table)
                )
            _hmm_kernels.forward_log(
                obs,
                lengths,
                redo,
                lane_seq,
                lane_concept,
                log_start,
                log_v,
                log_s,
                log_table,
                bout,
                predictive,
                loglik,
                pred,
            )
        return ForwardResult(loglik, pred if predictive else None, int(redo.size))

    @functools.cached_property
    def _positive_floors(self) -> tuple[float, float, float]:
        """Smallest positive ``V``·``S`` entries, start and emission (the arrays are read-only)."""
        return (
            _min_positive(self.value_transmat) * _min_positive(self.slot_transmat),
            _min_positive(self.start),
            _min_positive(self.emissions),
        )

    def _token_table(self) -> NDArray[np.float64]:
        return np.ascontiguousarray(self.emissions.transpose(0, 2, 1))

    def _check_batch(self, batch: TokenBatch) -> None:
        if not isinstance(batch, TokenBatch):
            raise InputTypeError(f"batch must be a TokenBatch, got {type(batch).__name__}")
        if batch.vocab_size != self.vocab_size:
            raise InputError(
                f"batch.vocab_size={batch.vocab_size} does not match the mixture's vocab_size={self.vocab_size}"
            )

    def forward(self, batch: TokenBatch, *, predictive: bool = False, method: str = "auto") -> ForwardResult:
        """Per-concept ``log p(x | θ)`` (and ``p(· | x, θ)``) for every row of ``batch``.

        ``method="auto"`` runs the scaled recursion and reruns in log space the
        pairs it flags; ``"log"`` runs the pure log-space recursion throughout.
        """
        self._check_batch(batch)
        return self._forward(batch.tokens, batch.lengths, self._token_table(), predictive=predictive, method=method)

    def log_likelihoods(self, batch: TokenBatch) -> NDArray[np.float64]:
        """``log p(x | θ)``, shape (batch, n_concepts)."""
        return self.forward(batch).loglik

    def _joint(self, loglik: NDArray[np.float64]) -> NDArray[np.float64]:
        with np.errstate(divide="ignore"):
            log_prior = np.log(self.prior)
        return loglik + log_prior[None, :]

    def log_prob(self, batch: TokenBatch) -> NDArray[np.float64]:
        """``log p(x) = log Σ_θ p(θ) p(x | θ)`` per row; ``-inf`` where ``p(x) = 0``."""
        return log_sum_exp(self._joint(self.log_likelihoods(batch)))

    def _posterior(self, loglik: NDArray[np.float64]) -> Posterior:
        joint = self._joint(loglik)
        marg = log_sum_exp(joint)
        defined = marg > -np.inf
        with np.errstate(under="ignore"):
            probs = np.where(defined[:, None], np.exp(joint - np.where(defined, marg, 0.0)[:, None]), 0.0)
        return Posterior(probs, defined, marg)

    def posterior(self, batch: TokenBatch) -> Posterior:
        """``p(θ | x)`` per row; undefined (zero row) where ``p(x) = 0``."""
        return self._posterior(self.log_likelihoods(batch))

    def bayes(self, batch: TokenBatch) -> tuple[Posterior, NextTokenProbs]:
        """``p(θ | x)`` and the Bayes predictive ``p(y | x)`` from one forward pass."""
        self._check_batch(batch)
        n, k, m = len(batch), self.n_concepts, self.vocab_size
        probs = np.zeros((n, m))
        post = np.zeros((n, k))
        marg = np.empty(n)
        defined = np.zeros(n, dtype=bool)
        step = max(1, _MAX_PRED_CELLS // (k * m))
        for lo in range(0, n, step):
            rows = np.arange(lo, min(n, lo + step))
            res = self.forward(batch.select(rows), predictive=True)
            part = self._posterior(res.loglik)
            assert res.predictive is not None
            probs[rows] = np.einsum("nk,nkm->nm", part.probs, res.predictive)
            post[rows], marg[rows], defined[rows] = part.probs, part.log_marginal, part.defined
        return Posterior(post, defined, marg), NextTokenProbs(probs, defined)

    def next_token_probs(self, batch: TokenBatch) -> NextTokenProbs:
        """The Bayes predictive ``p(y | x) = Σ_θ p(θ | x) p(y | x, θ)`` (the predictor interface)."""
        return self.bayes(batch)[1]

    # --- sets of strings -----------------------------------------------------------
    def log_prob_sets(self, sets: Sequence[Sequence[int]]) -> tuple[float, NDArray[np.float64]]:
        """``log P(o_1 ∈ sets[0], …, o_T ∈ sets[T-1])``: mixture value and per-concept values.

        The probability of a *set of strings* (e.g. every n-shot prompt with
        delimiters at fixed positions) in one forward pass: the emission of
        position ``t`` is replaced by ``Σ_{o ∈ sets[t]} B[h, o]``.
        """
        m = self.vocab_size
        if isinstance(sets, (str, bytes)) or not isinstance(sets, Sequence):
            raise InputTypeError(f"sets must be a sequence of token-id sets, got {type(sets).__name__}")
        check_work(PYTHON_STEP_OPS * len(sets), "reading the token sets", {"positions": len(sets)})
        classes: dict[tuple[int, ...], int] = {}
        obs = np.empty((1, len(sets)), dtype=np.int64)
        for t, s in enumerate(sets):
            ids = list(s)
            if not all(isinstance(o, (int, np.integer)) and not isinstance(o, bool) for o in ids):
                raise InputError(f"sets[{t}] must hold integer token ids, got {ids}")
            key = tuple(sorted({int(o) for o in ids}))
            if not key or key[0] < 0 or key[-1] >= m:
                raise InputError(f"sets[{t}] must be a non-empty set of token ids in 0..{m - 1}, got {list(s)}")
            obs[0, t] = key[0] if len(key) == 1 else classes.setdefault(key, m + len(classes))
        extra = np.zeros((self.emissions.shape[0], len(classes), self.n_states))
        for key, cls_id in classes.items():
            extra[:, cls_id - m, :] = self.emissions[:, :, list(key)].sum(axis=2)
        table = np.concatenate([self._token_table(), extra], axis=1)
        res = self._forward(obs, np.array([len(sets)], dtype=np.int64), table, predictive=False, method="auto")
        return float(log_sum_exp(self._joint(res.loglik))[0]), res.loglik[0]

    # --- sampling ------------------------------------------------------------------
    def sample(
        self, n_sequences: int, length: int, rng: np.random.Generator, *, concept: int | None = None
    ) -> tuple[TokenBatch, NDArray[np.int64], NDArray[np.int64]]:
        """Draw documents: a concept from the prior (or the given ``concept``), then
        ``length`` tokens from its HMM.

        Returns ``(tokens, concepts, hidden_states)``; ``hidden_states`` has shape
        (n_sequences, length).
        """
        n = check_int(n_sequences, "n_sequences")
        t_len = check_int(length, "length")
        sizes = {"n_sequences": n, "length": t_len}
        check_bytes(16.0 * n * t_len, "the sampled tokens and hidden states", sizes)
        check_work(PYTHON_STEP_OPS * t_len + 10.0 * n * t_len, "sampling (position by position)", sizes)
        if not isinstance(rng, np.random.Generator):
            raise InputTypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        if concept is None:
            concepts = draw_rows(np.broadcast_to(self.prior, (n, self.n_concepts)), rng)
        else:
            concepts = np.full(n, self._concept(concept))
        hidden = np.empty((n, t_len), dtype=np.int64)
        tokens = np.empty((n, t_len), dtype=np.int64)
        hidden[:, 0] = draw_rows(self.start[concepts], rng)
        ns = self.n_slots
        cv = concepts if self.value_transmat.shape[0] > 1 else np.zeros_like(concepts)
        ce = concepts if self.emissions.shape[0] > 1 else np.zeros_like(concepts)
        for t in range(t_len):
            if t:
                v, s = np.divmod(hidden[:, t - 1], ns)
                hidden[:, t] = draw_rows(self.value_transmat[cv, v], rng) * ns + draw_rows(
                    self.slot_transmat[concepts, s], rng
                )
            tokens[:, t] = draw_rows(self.emissions[ce, hidden[:, t]], rng)
        return TokenBatch(tokens, np.full(n, t_len), self.vocab_size), concepts, hidden


def as_mixture(obj: object, name: str = "mixture") -> HMMMixture:
    """``obj`` as an :class:`HMMMixture`.

    An :class:`HMMMixture` is returned as it is, a :class:`~exact.hmm.categorical.CategoricalHMM`
    becomes the one-concept mixture (prior ``[1]``), and an object with a ``.mixture``
    (e.g. a :class:`~exact.hmm.ginc.GincMixture`) gives that mixture.
    """
    if isinstance(obj, CategoricalHMM):
        return HMMMixture.from_hmms([obj])
    inner = getattr(obj, "mixture", obj)
    if not isinstance(inner, HMMMixture):
        raise InputTypeError(
            f"{name} must be an HMMMixture, a CategoricalHMM or a GincMixture, got {type(obj).__name__}"
        )
    return inner
