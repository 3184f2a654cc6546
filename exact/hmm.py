"""Categorical hidden Markov models, validated at construction.

A categorical HMM (Rabiner 1989) has a start distribution ``π`` over ``H``
hidden states, a row-stochastic transition matrix ``A`` (``A[i, j] = p(h_{t+1}=j |
h_t=i)``) and a row-stochastic emission matrix ``B`` (``B[i, o] = p(o_t = o | h_t = i)``):

    p(o_1..o_T) = Σ_{h_1..h_T} π[h_1] B[h_1, o_1] Π_{t≥2} A[h_{t-1}, h_t] B[h_t, o_t].

Token ids are ``0..M-1`` (:class:`~exact.tokens.TokenBatch` with
``vocab_size = M``). Probabilities are computed by the mixture engine
(:class:`exact.mixture.HMMMixture`), of which a single HMM is the one-concept
case; :meth:`CategoricalHMM.as_mixture` makes that explicit.

Validation names the parameter, the row and the offending value, e.g.
``transmat row 3 sums to 0.9, not 1 (tolerance 1e-09)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from exact.predictor import ROW_SUM_TOL

if TYPE_CHECKING:
    from exact.mixture import HMMMixture

__all__ = ["CategoricalHMM", "check_stochastic"]


def check_stochastic(
    value: object, name: str, *, ndim: int, tol: float = ROW_SUM_TOL, square: bool = False
) -> NDArray[np.float64]:
    """``value`` as a read-only float64 array whose last axis holds distributions.

    Raises ``ValueError`` naming ``name``, the offending row (index tuple) and
    its value when the shape, finiteness, sign or row sums are wrong.
    """
    if not (isinstance(tol, (int, float)) and 0.0 <= tol < 1.0):
        raise ValueError(f"tol must be a number in [0, 1), got {tol!r}")
    try:
        arr = np.array(value, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array, got {type(value).__name__}: {exc}") from None
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if arr.shape[-1] == 0 or (arr.ndim and 0 in arr.shape):
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if square and arr.shape[-1] != arr.shape[-2]:
        raise ValueError(f"{name} must be square in its last two axes, got shape {arr.shape}")
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name}{list(idx)} = {float(arr[idx])!r}; entries must be finite and non-negative")
    sums = arr.sum(axis=-1)
    off = np.abs(sums - 1.0) > tol
    if off.any():
        idx = tuple(int(i) for i in np.argwhere(off)[0]) if sums.ndim else ()
        where = f" row {idx[0] if len(idx) == 1 else list(idx)}" if idx else ""
        raise ValueError(f"{name}{where} sums to {float(sums[idx])!r}, not 1 (tolerance {tol:g})")
    arr.setflags(write=False)
    return arr


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
    ValueError: transmat row 0 sums to 0.9, not 1 (tolerance 1e-09)
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
            raise ValueError(
                f"start has {start.shape[0]} states but transmat is {transmat.shape} "
                f"and emissions is {emissions.shape}"
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

    def as_mixture(self) -> HMMMixture:
        """This HMM as a one-concept :class:`~exact.mixture.HMMMixture` (prior ``[1]``)."""
        from exact.mixture import HMMMixture

        return HMMMixture.from_hmms([self])
