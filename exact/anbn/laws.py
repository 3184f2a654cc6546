"""Length laws of aⁿbⁿ: the distribution of n ≥ 1.

Every sentence of the language is ``SOS aⁿ bⁿ EOS``, so a distribution over
sentences is a distribution over ``n``. Two laws are used:

* :class:`UniformLength` — ``P(n) = 1/N`` for ``n ∈ {1..N}``. This is what the
  official code trains on (every ``n`` once, ``N = max_length // 2 = 128``;
  Reizinger et al. 2024, ``llm_non_identifiability/data.py``).
* :class:`GeometricLength` — the PCFG ``S → a S b (ρ) | a b (1 − ρ)``, whose
  derivation of ``aⁿbⁿ`` applies the recursive rule ``n − 1`` times:
  ``P(n) = (1 − ρ) ρ^(n−1)``. Its support is infinite.

:meth:`LengthLaw.truncate` cuts a law at ``n ≤ n_max`` and reports the mass it
drops (``truncated_mass``); the result is a *sub*-probability law. Only
:meth:`TruncatedLength.renormalised` turns it into the conditional law given
``n ≤ n_max`` — nothing renormalises silently.

All laws expose exact rational probabilities (:class:`fractions.Fraction`)
next to the float64 log-probabilities, so float results can be cross-checked
against exact arithmetic. A float ``rho`` is read as its shortest decimal
representation (``0.9`` means ``9/10``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from exact.core.validate import InputError, InputTypeError, check_int, check_number_text, is_integer

__all__ = ["LengthLaw", "UniformLength", "GeometricLength", "TruncatedLength"]

#: Largest n for which a table of the law (entropy, mean, kernel tables) is built.
MAX_TABLE_N = 10_000_000
#: Largest ``N`` of a uniform law (its float tables count ``N − n + 1`` in int64).
MAX_UNIFORM_N = 2**62
#: Largest exponent for exact rational powers ρ^n (their size grows linearly in n).
MAX_EXACT_POWER = 100_000


def _log1mexp(d: NDArray[np.float64]) -> NDArray[np.float64]:
    """``log(1 − exp(d))`` for ``d ≤ 0``, accurate near 0 and for very negative ``d``."""
    d = np.minimum(np.asarray(d, dtype=np.float64), 0.0)  # callers mask d > 0 (empty support) anyway
    with np.errstate(divide="ignore"):
        return np.where(d > -math.log(2), np.log(-np.expm1(d)), np.log1p(-np.exp(d)))


def _check_table_size(n: int, name: str) -> None:
    if n > MAX_TABLE_N:
        raise InputError(
            f"{name}={n} needs a table of {n} entries, above the limit {MAX_TABLE_N}; use a smaller {name}"
        )


def _whole(n: object) -> int:
    """The half-length ``n`` of an exact query as an int (``pmf_exact(1.5)`` is an error, not a float)."""
    if not is_integer(n):
        raise InputTypeError(f"n must be an integer, got {type(n).__name__} {n!r}")
    return int(n)  # type: ignore[call-overload]  # is_integer said so


def _as_fraction(value: float | int | str | Fraction, name: str) -> Fraction:
    if isinstance(value, bool):
        raise InputError(f"{name} must be a number, got {value!r}")
    if isinstance(value, str):
        check_number_text(value, name)
    try:
        frac = (
            value
            if isinstance(value, Fraction)
            else Fraction(repr(float(value)) if isinstance(value, float) else value)
        )
    except (ValueError, TypeError, ZeroDivisionError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    return frac


class LengthLaw(ABC):
    """A (sub-)probability law of the half-length ``n ≥ 1``."""

    #: Largest ``n`` with positive probability; ``None`` for infinite support.
    n_max: int | None

    @abstractmethod
    def pmf_exact(self, n: int) -> Fraction:
        """Exact ``P(N = n)``."""

    @abstractmethod
    def sf_exact(self, n: int) -> Fraction:
        """Exact ``P(N ≥ n)``."""

    @abstractmethod
    def log_pmf(self, n: NDArray[np.int64]) -> NDArray[np.float64]:
        """``log P(N = n)``, ``-inf`` off the support."""

    @abstractmethod
    def log_sf(self, n: NDArray[np.int64]) -> NDArray[np.float64]:
        """``log P(N ≥ n)``, ``-inf`` where that is 0."""

    @abstractmethod
    def entropy(self) -> float:
        """``−Σ P(n) ln P(n)`` in nats (over the law's own mass)."""

    @abstractmethod
    def mean(self) -> float:
        """``Σ n P(n)``."""

    @abstractmethod
    def describe(self) -> dict[str, object]:
        """Parameters as a JSON-ready dict."""

    @property
    def total_mass_exact(self) -> Fraction:
        """Exact total probability (1 unless truncated without renormalising)."""
        return Fraction(1)

    @property
    def truncated_mass_exact(self) -> Fraction:
        """Exact mass dropped by truncation (0 for an untruncated law)."""
        return 1 - self.total_mass_exact

    @property
    def is_proper(self) -> bool:
        """True when the law sums to one."""
        return self.total_mass_exact == 1

    def tables(self, k_max: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Contiguous ``log_pmf[0..k_max]`` and ``log_sf[0..k_max + 1]`` for the kernels.

        ``k_max`` may be one above :data:`MAX_TABLE_N`: a law with ``n_max = MAX_TABLE_N`` needs the entry
        one past its support (``AnbnDistribution.facts`` asks for ``n_max + 1``).
        """
        if k_max > MAX_TABLE_N + 1:
            raise InputError(
                f"k_max={k_max} (the longest prefix) needs tables of {k_max + 2} entries, above the limit "
                f"{MAX_TABLE_N + 3}; use prefixes of at most {MAX_TABLE_N + 1} tokens"
            )
        n = np.arange(k_max + 2, dtype=np.int64)
        log_pmf = np.ascontiguousarray(self.log_pmf(n[: k_max + 1]), dtype=np.float64)
        log_sf = np.ascontiguousarray(self.log_sf(n), dtype=np.float64)
        return log_pmf, log_sf

    def truncate(self, n_max: int) -> TruncatedLength:
        """The sub-probability law ``P(n) 1{n ≤ n_max}``; see :class:`TruncatedLength`."""
        return TruncatedLength(self, check_int(n_max, "n_max"))


@dataclass(frozen=True)
class UniformLength(LengthLaw):
    """``P(n) = 1/N`` for ``n = 1..N`` (the official training set, ``N = 128``).

    Parameters
    ----------
    n_max : int
        ``N ≥ 1``.
    """

    n_max: int

    def __post_init__(self) -> None:
        n_max = check_int(self.n_max, "n_max", maximum=MAX_UNIFORM_N, why=" (the float engine counts in int64)")
        object.__setattr__(self, "n_max", n_max)

    def pmf_exact(self, n: int) -> Fraction:
        n = _whole(n)
        return Fraction(1, self.n_max) if 1 <= n <= self.n_max else Fraction(0)

    def sf_exact(self, n: int) -> Fraction:
        n = _whole(n)
        return Fraction(min(self.n_max, max(self.n_max - n + 1, 0)), self.n_max) if n >= 1 else Fraction(1)

    def log_pmf(self, n: NDArray[np.int64]) -> NDArray[np.float64]:
        n = np.asarray(n, dtype=np.int64)
        return np.where((n >= 1) & (n <= self.n_max), -math.log(self.n_max), -np.inf)

    def log_sf(self, n: NDArray[np.int64]) -> NDArray[np.float64]:
        n = np.asarray(n, dtype=np.int64)
        count = np.clip(self.n_max - n + 1, 0, self.n_max).astype(np.float64)
        with np.errstate(divide="ignore"):
            return np.where(n >= 1, np.log(count) - math.log(self.n_max), 0.0)

    def entropy(self) -> float:
        return math.log(self.n_max)

    def mean(self) -> float:
        return (self.n_max + 1) / 2

    def describe(self) -> dict[str, object]:
        return {"law": "uniform", "n_max": self.n_max}


@dataclass(frozen=True)
class GeometricLength(LengthLaw):
    """The PCFG ``S → a S b (ρ) | a b (1 − ρ)``: ``P(n) = (1 − ρ) ρ^(n−1)``.

    Parameters
    ----------
    rho : float, Fraction or str
        Probability of the recursive rule, ``0 < ρ < 1``.
    """

    rho: Fraction
    n_max: None = field(default=None, init=False)

    def __post_init__(self) -> None:
        rho = _as_fraction(self.rho, "rho")
        if not 0 < rho < 1:
            raise InputError(f"rho must lie strictly between 0 and 1, got {self.rho!r}")
        if not 0.0 < float(rho) < 1.0 or math.log1p(-float(rho)) == 0.0:
            raise InputError(
                f"rho={self.rho!r} is too close to 0 or 1 for float64 (it rounds to {float(rho)!r}); "
                "the float engine needs 0 < rho < 1 with room to spare"
            )
        object.__setattr__(self, "rho", rho)

    def _check_power(self, n: int) -> None:
        if n > MAX_EXACT_POWER:
            raise InputError(
                f"n={n}: the exact rational rho**(n-1) would be huge (limit n ≤ {MAX_EXACT_POWER}); "
                "use log_pmf/log_sf for floats"
            )

    @property
    def _log_rho(self) -> float:
        return math.log(float(self.rho))

    def pmf_exact(self, n: int) -> Fraction:
        n = _whole(n)
        self._check_power(n)
        return (1 - self.rho) * self.rho ** (n - 1) if n >= 1 else Fraction(0)

    def sf_exact(self, n: int) -> Fraction:
        n = _whole(n)
        self._check_power(n)
        return self.rho ** (n - 1) if n >= 1 else Fraction(1)

    def log_pmf(self, n: NDArray[np.int64]) -> NDArray[np.float64]:
        n = np.asarray(n, dtype=np.int64)
        return np.where(n >= 1, math.log1p(-float(self.rho)) + (n - 1) * self._log_rho, -np.inf)

    def log_sf(self, n: NDArray[np.int64]) -> NDArray[np.float64]:
        n = np.asarray(n, dtype=np.int64)
        return np.where(n >= 1, (n - 1) * self._log_rho, 0.0)

    def entropy(self) -> float:
        r = float(self.rho)
        return -((1 - r) * math.log1p(-r) + r * math.log(r)) / (1 - r)

    def mean(self) -> float:
        return 1 / (1 - float(self.rho))

    def describe(self) -> dict[str, object]:
        return {"law": "pcfg", "rho": str(self.rho), "rho_float": float(self.rho)}


@dataclass(frozen=True)
class TruncatedLength(LengthLaw):
    """A law cut at ``n ≤ n_max``; a sub-probability law unless ``renormalise``.

    Parameters
    ----------
    base : LengthLaw
        The untruncated law.
    n_max : int
        Largest kept ``n``.
    renormalise : bool
        Divide by the kept mass, i.e. condition on ``n ≤ n_max``. Use
        :meth:`renormalised` rather than setting this directly.
    """

    base: LengthLaw
    n_max: int
    renormalise: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.base, LengthLaw) or isinstance(self.base, TruncatedLength):
            raise InputError(f"base must be an untruncated LengthLaw, got {self.base!r}")
        n_max = check_int(self.n_max, "n_max")
        _check_table_size(n_max, "n_max")
        if self.base.n_max is not None:
            n_max = min(n_max, self.base.n_max)
        object.__setattr__(self, "n_max", n_max)

    @property
    def kept_mass_exact(self) -> Fraction:
        """Exact ``P_base(n ≤ n_max)``."""
        return 1 - self.base.sf_exact(self.n_max + 1)

    @property
    def total_mass_exact(self) -> Fraction:
        return Fraction(1) if self.renormalise else self.kept_mass_exact

    @property
    def dropped_mass_exact(self) -> Fraction:
        """Exact mass of the base law beyond ``n_max`` (reported even after renormalising)."""
        return self.base.sf_exact(self.n_max + 1)

    @property
    def dropped_mass(self) -> float:
        """Float ``P_base(n > n_max)`` from log space (no rational arithmetic)."""
        return math.exp(self._log_cut())

    def renormalised(self) -> TruncatedLength:
        """The base law conditioned on ``n ≤ n_max`` (a proper law)."""
        return TruncatedLength(self.base, self.n_max, renormalise=True)

    def _log_cut(self) -> float:
        """``log S_base(n_max + 1)``, the log of the dropped mass."""
        return float(self.base.log_sf(np.array([self.n_max + 1]))[0])

    def _log_norm(self) -> float:
        """``log P_base(n ≤ n_max)`` if renormalised, else 0 (computed in log space, no rationals)."""
        return float(_log1mexp(np.array(self._log_cut()))) if self.renormalise else 0.0

    def pmf_exact(self, n: int) -> Fraction:
        n = _whole(n)
        p = self.base.pmf_exact(n) if n <= self.n_max else Fraction(0)
        return p / self.kept_mass_exact if self.renormalise else p

    def sf_exact(self, n: int) -> Fraction:
        n = _whole(n)
        if n > self.n_max:
            return Fraction(0)
        kept = self.base.sf_exact(n) - self.base.sf_exact(self.n_max + 1)
        return kept / self.kept_mass_exact if self.renormalise else kept

    def log_pmf(self, n: NDArray[np.int64]) -> NDArray[np.float64]:
        n = np.asarray(n, dtype=np.int64)
        return np.where(n <= self.n_max, self.base.log_pmf(n) - self._log_norm(), -np.inf)

    def log_sf(self, n: NDArray[np.int64]) -> NDArray[np.float64]:
        n = np.asarray(n, dtype=np.int64)
        base_n = self.base.log_sf(n)
        cut = self._log_cut()
        # log(S(n) − S(M+1)) = log S(n) + log(1 − exp(log S(M+1) − log S(n)))
        diff = np.where(base_n > -np.inf, cut - np.where(base_n > -np.inf, base_n, 0.0), -np.inf)
        kept = base_n + _log1mexp(diff)
        return np.where(n <= self.n_max, kept - self._log_norm(), -np.inf)

    def entropy(self) -> float:
        n = np.arange(1, self.n_max + 1)
        logp = self.log_pmf(n)
        return float(-np.sum(np.exp(logp) * logp))

    def mean(self) -> float:
        n = np.arange(1, self.n_max + 1)
        return float(np.sum(n * np.exp(self.log_pmf(n))))

    def describe(self) -> dict[str, object]:
        return {
            **self.base.describe(),
            "truncated_at_n": self.n_max,
            "renormalised": self.renormalise,
            "dropped_mass": self.dropped_mass,
        }
