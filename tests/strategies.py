"""Hypothesis strategies for nonident's objects (valid objects only, keyword-only arguments)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import strategies as st

from exact import GeometricLength, LengthLaw, UniformLength
from exact.core.tokens import EOS, PAD, SOS, A, B
from exact.hmm.categorical import CategoricalHMM
from exact.hmm.mixture import HMMMixture


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
    return st.one_of(uniform_laws(min_n=min_n, max_n=max_n), geometric_laws(), truncated_laws(min_n=min_n, max_n=max_n))


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


# --- HMMs and mixtures -------------------------------------------------------------


def prob_vectors(*, size: int, min_value: float = 0.0, allow_zeros: bool = True) -> st.SearchStrategy[list[float]]:
    """Probability vectors of length ``size``; with ``allow_zeros`` some entries may be exactly 0."""
    if size < 1:
        raise ValueError(f"size must be ≥ 1, got {size}")

    @st.composite
    def build(draw: st.DrawFn) -> list[float]:
        weights = draw(st.lists(st.floats(0.05, 1.0), min_size=size, max_size=size))
        if allow_zeros:
            keep = draw(st.lists(st.booleans(), min_size=size, max_size=size))
            if any(keep):
                weights = [w if k else 0.0 for w, k in zip(weights, keep, strict=True)]
        total = sum(weights)
        return [w / total for w in weights]

    return build()


def stochastic_matrices(*, rows: int, cols: int, allow_zeros: bool = True) -> st.SearchStrategy[list[list[float]]]:
    """Row-stochastic ``rows × cols`` matrices."""
    return st.lists(prob_vectors(size=cols, allow_zeros=allow_zeros), min_size=rows, max_size=rows)


@st.composite
def hmms(draw: st.DrawFn, *, max_states: int = 4, max_vocab: int = 3) -> CategoricalHMM:
    """Categorical HMMs with some zero transitions and emissions."""
    h = draw(st.integers(1, max_states))
    m = draw(st.integers(2, max_vocab))
    return CategoricalHMM(
        draw(prob_vectors(size=h)), draw(stochastic_matrices(rows=h, cols=h)), draw(stochastic_matrices(rows=h, cols=m))
    )


@st.composite
def hmm_mixtures(
    draw: st.DrawFn,
    *,
    max_concepts: int = 3,
    max_values: int = 2,
    max_slots: int = 3,
    max_vocab: int = 3,
    full_support_emissions: bool = False,
) -> HMMMixture:
    """Mixtures with Kronecker transitions; shared or per-concept value matrices and emissions."""
    k = draw(st.integers(1, max_concepts))
    nv = draw(st.integers(1, max_values))
    ns = draw(st.integers(1, max_slots))
    m = draw(st.integers(2, max_vocab))
    h = nv * ns
    kv = draw(st.sampled_from([1, k]))
    ke = draw(st.sampled_from([1, k]))
    return HMMMixture(
        draw(prob_vectors(size=k)),
        [draw(prob_vectors(size=h)) for _ in range(k)],
        [draw(stochastic_matrices(rows=ns, cols=ns)) for _ in range(k)],
        [draw(stochastic_matrices(rows=nv, cols=nv)) for _ in range(kv)],
        [draw(stochastic_matrices(rows=h, cols=m, allow_zeros=not full_support_emissions)) for _ in range(ke)],
    )


def token_sequences(*, vocab_size: int, max_length: int = 5) -> st.SearchStrategy[list[int]]:
    """Token-id sequences over ``0..vocab_size-1`` (any probability, including zero)."""
    return st.lists(st.integers(0, vocab_size - 1), max_size=max_length)


@st.composite
def pcfg_rules(
    draw: st.DrawFn, *, max_nonterminals: int = 3, terminals: tuple[str, ...] = ("a", "b")
) -> list[tuple[str, tuple[str, ...], Fraction]]:
    """Random PCFG productions without ε rules and with acyclic unary rules (ambiguity allowed).

    Nonterminals ``S, N1, N2, …``; each has a terminal rule (so it is productive) and is used by
    the previous one (so it is reachable); unary rules point to later nonterminals only, so every
    word has finitely many derivations — the brute-force oracle's requirement. The grammar may be
    inconsistent (heavy recursion); probabilities are exact rationals.
    """
    n = draw(st.integers(1, max_nonterminals))
    names = ["S", *(f"N{i}" for i in range(1, n))]
    rules: list[tuple[str, tuple[str, ...]]] = []
    for i, a in enumerate(names):
        rules.append((a, (draw(st.sampled_from(terminals)),)))
        if i + 1 < n:
            rules.append((a, (draw(st.sampled_from(terminals)), names[i + 1])))
        for _ in range(draw(st.integers(0, 2))):
            size = draw(st.integers(1, 3))
            if size == 1:
                later = names[i + 1 :]
                sym = draw(st.sampled_from([*terminals, *later]))
                rules.append((a, (sym,)))
            else:
                rules.append((a, tuple(draw(st.sampled_from([*terminals, *names])) for _ in range(size))))
    out = []
    for a in names:
        mine = [r for r in rules if r[0] == a]
        weights = [draw(st.integers(1, 6)) for _ in mine]
        total = sum(weights)
        out += [(lhs, rhs, Fraction(w, total)) for (lhs, rhs), w in zip(mine, weights)]
    return out
