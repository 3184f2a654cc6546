"""Categorical hidden Markov models, validated at construction.

A categorical HMM (Rabiner 1989) has a start distribution ``π`` over ``H``
hidden states, a row-stochastic transition matrix ``A`` (``A[i, j] = p(h_{t+1}=j |
h_t=i)``) and a row-stochastic emission matrix ``B`` (``B[i, o] = p(o_t = o | h_t = i)``):

    p(o_1..o_T) = Σ_{h_1..h_T} π[h_1] B[h_1, o_1] Π_{t≥2} A[h_{t-1}, h_t] B[h_t, o_t].

Token ids are ``0..M-1`` (:class:`~exact.core.tokens.TokenBatch` with
``vocab_size = M``). Probabilities are computed by the mixture engine
(:class:`exact.hmm.mixture.HMMMixture`), of which a single HMM is the one-concept
case; :func:`exact.hmm.mixture.as_mixture` makes that explicit.

Validation names the parameter, the row and the offending value, e.g.
``transmat row 3 sums to 0.9, not 1 (tolerance 1e-09)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from exact.core.validate import ROW_SUM_TOL, InputError, check_stochastic

__all__ = ["CategoricalHMM"]


@dataclass(frozen=True, eq=False)
class CategoricalHMM:
    """A categorical HMM.

    Parameters
    ----------
    start : array_like, shape (n_states,)
    transmat : array_like, shape (n_states, n_states)
        Row-stochastic.
    emissions : array_like, shape (n_states, vocab_size)
        Row-stochastic.
    tol : float
        Allowed deviation of each row sum from 1 (default ``1e-9``).

    Examples
    --------
    >>> hmm = CategoricalHMM([1.0, 0.0], [[0.5, 0.5], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]])
    >>> hmm.n_states, hmm.vocab_size
    (2, 2)
    >>> CategoricalHMM([1.0, 0.0], [[0.5, 0.4], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]])
    Traceback (most recent call last):
    ...
    exact.core.validate.InputError: transmat row 0 sums to 0.9, not 1 (tolerance 1e-09)
    """

    start: NDArray[np.float64]
    transmat: NDArray[np.float64]
    emissions: NDArray[np.float64]
    tol: float = ROW_SUM_TOL

    def __post_init__(self) -> None:
        start = check_stochastic(self.start, "start", ndim=1, tol=self.tol)
        transmat = check_stochastic(self.transmat, "transmat", ndim=2, tol=self.tol, square=True)
        emissions = check_stochastic(self.emissions, "emissions", ndim=2, tol=self.tol)
        if transmat.shape[0] != start.shape[0] or emissions.shape[0] != start.shape[0]:
            raise InputError(
                f"start has {start.shape[0]} states but transmat is {transmat.shape} and emissions is {emissions.shape}"
            )
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "transmat", transmat)
        object.__setattr__(self, "emissions", emissions)

    @property
    def n_states(self) -> int:
        return int(self.start.shape[0])

    @property
    def vocab_size(self) -> int:
        return int(self.emissions.shape[1])
