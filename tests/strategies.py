"""Hypothesis strategies for nonident's objects (valid objects only, keyword-only arguments)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import strategies as st

from exact import GeometricLength, LengthLaw, UniformLength
from exact.tokens import EOS, PAD, SOS, A, B


def uniform_laws(*, min_n: int = 1, max_n: int = 40) -> st.SearchStrategy[UniformLength]:
    if not 1 <= min_n <= max_n:
        raise ValueError(f"need 1 ≤ min_n ≤ max_n, got min_n={min_n}, max_n={max_n}")
    return st.integers(min_n, max_n).map(UniformLength)


def geometric_laws() -> st.SearchStrategy[GeometricLength]:
    """PCFG laws with ρ = p/q, 1 ≤ p < q ≤ 20 (exact rationals)."""
    return (
        st.integers(2, 20)
        .flatmap(lambda q: st.tuples(st.integers(1, q - 1), st.just(q)))
        .map(lambda pq: GeometricLength(Fraction(*pq)))
    )


def truncated_laws(*, min_n: int = 1, max_n: int = 40) -> st.SearchStrategy[LengthLaw]:
    """PCFG laws conditioned on ``n ≤ n_max`` (explicitly renormalised), ``n_max`` in ``[min_n, max_n]``."""
    return st.tuples(geometric_laws(), st.integers(min_n, max_n)).map(lambda g: g[0].truncate(g[1]).renormalised())


def length_laws(*, min_n: int = 1, max_n: int = 40) -> st.SearchStrategy[LengthLaw]:
    """Proper laws: uniform (``n_max`` in ``[min_n, max_n]``), PCFG, or truncated-and-renormalised PCFG."""
    return st.one_of(
        uniform_laws(min_n=min_n, max_n=max_n), geometric_laws(), truncated_laws(min_n=min_n, max_n=max_n)
    )


@st.composite
def support_prefixes(draw: st.DrawFn, *, max_n: int = 12) -> list[int]:
    """A prefix ``SOS aᵏ bʲ (EOS PAD*)`` with 0 ≤ j ≤ k; positive under laws with n_max ≥ k."""
    k = draw(st.integers(0, max_n))
    j = draw(st.integers(0, k)) if k else 0
    seq = [SOS] + [A] * k + [B] * j
    if k and j == k and draw(st.booleans()):
        seq += [EOS] + [PAD] * draw(st.integers(0, 3))
    return seq


def ab_words(*, max_size: int = 12) -> st.SearchStrategy[str]:
    return st.text(alphabet="ab", max_size=max_size)


def token_rows(*, max_size: int = 12) -> st.SearchStrategy[list[int]]:
    """Arbitrary token rows (any ids 0..4), mostly ill-formed."""
    return st.lists(st.integers(0, 4), max_size=max_size)
