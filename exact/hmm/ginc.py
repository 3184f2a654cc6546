"""A GINC-compatible generator of HMM mixtures (Xie et al., ICLR 2022).

Reimplemented from the description in docs/paper.md §4.4.1 and docs/official-code.md §5, with
GINC's defaults (dataset ``GINC_trans0.1_start10.0_nsymbols50_nvalues10_nslots10_vic0.9``):

* vocabulary of ``n_symbols = 50``: the delimiter ``'/'`` (id 0), then
  ``'a'…'z', 'ab', 'ac', …``;
* hidden state ``h = v·n_slots + s`` (``n_values = 10`` values × ``n_slots = 10``
  slots); emissions are deterministic, state ``(v, s)`` emits
  ``all_values[v, s]`` with ``all_values[:, 0] = 0``: slot 0 emits the delimiter;
* transitions ``T_θ = V ⊗ S_θ``; each block is a mixture of ``n`` random ``n × n``
  permutation matrices with weights ``softmax((U − 0.5)/0.1)``; the value matrix
  ``V = 0.1·block + 0.9·I`` is shared by all concepts (``shared_values``), the
  slot matrix ``S_θ`` *is* the concept;
* start ``softmax((U − 0.5)/10)`` per concept (near uniform); uniform prior.

Differences from GINC, on purpose: ``n_concepts`` is the number of *pretraining*
concepts (GINC's ``n_hmms // 2``) and scales to 10⁴ and beyond; randomness
comes from one explicit ``seed`` through :class:`numpy.random.SeedSequence`
children (GINC uses global seeds with magic offsets), so concept ``c`` is the
same whatever ``n_concepts`` is; optional ``emission_smoothing`` ``η`` replaces
``B`` by ``(1 − η)·B + η/n_symbols`` so that every string has positive
probability (GINC's deterministic emissions give probability 0, and an
infinite KL, to most strings).
"""

from __future__ import annotations

import itertools
import math
import string
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from exact.core.limits import check_bytes, check_work
from exact.core.validate import InputError, InputTypeError, check_float, check_int
from exact.hmm.mixture import HMMMixture

__all__ = ["GincConfig", "GincMixture", "generate_ginc", "ginc_vocabulary"]

#: Largest number of concepts the generator accepts (memory ~ n_concepts · n_states · 8 bytes).
MAX_CONCEPTS = 1_000_000
#: Operations one parameter cell counts as when generating (random permutations, scatter, validation).
GENERATION_OPS = 100


def ginc_vocabulary(n_symbols: int) -> tuple[str, ...]:
    """``('/', 'a', …, 'z', 'ab', 'ac', …)`` with ``n_symbols`` entries (GINC's ``letter_generator``).

    >>> ginc_vocabulary(30)[:3], ginc_vocabulary(30)[-3:]
    (('/', 'a', 'b'), ('ab', 'ac', 'ad'))
    """
    n = check_int(n_symbols, "n_symbols", minimum=2)
    words = ("".join(p) for r in itertools.count(1) for p in itertools.permutations(string.ascii_lowercase, r))
    return ("/",) + tuple(itertools.islice(words, n - 1))


@dataclass(frozen=True)
class GincConfig:
    """Generation hyperparameters (defaults: GINC's experiments, 5 pretraining concepts)."""

    n_concepts: int = 5
    n_values: int = 10
    n_slots: int = 10
    n_symbols: int = 50
    transition_temp: float = 0.1
    start_temp: float = 10.0
    value_identity_coeff: float = 0.9
    shared_values: bool = True
    emission_smoothing: float = 0.0
    seed: int = 1111

    def __post_init__(self) -> None:
        check_int(self.n_concepts, "n_concepts", maximum=MAX_CONCEPTS)
        check_int(self.n_values, "n_values")
        check_int(self.n_slots, "n_slots", minimum=2)
        check_int(self.n_symbols, "n_symbols", minimum=2)
        check_int(self.seed, "seed", minimum=0)
        inf = math.inf
        # (u − ½)/temp must stay finite for the softmax: temperatures below 1e-300 overflow it
        check_float(self.transition_temp, "transition_temp", 1e-300, inf, lo_open=False, hi_open=True)
        check_float(self.start_temp, "start_temp", 1e-300, inf, lo_open=False, hi_open=True)
        check_float(self.value_identity_coeff, "value_identity_coeff", 0.0, 1.0, lo_open=False, hi_open=False)
        check_float(self.emission_smoothing, "emission_smoothing", 0.0, 1.0, lo_open=False, hi_open=True)
        if not isinstance(self.shared_values, bool):
            raise InputError(f"shared_values must be a bool, got {self.shared_values!r}")
        k, v, sl, m = self.n_concepts, self.n_values, self.n_slots, self.n_symbols
        value_blocks = 1 if self.shared_values else k
        # generation keeps three V×V (and S×S) arrays per block; the mixture the start rows, the
        # emissions and their transposed token table
        # (+1000 per concept: the per-concept Python work of generation and validation)
        cells = 3 * value_blocks * v * v + 3 * k * sl * sl + k * v * sl + 3 * v * sl * m + 1000 * k
        sizes = {"n_concepts": k, "n_values": v, "n_slots": sl, "n_symbols": m}
        check_bytes(8.0 * cells, "the mixture's parameters", sizes)
        check_work(GENERATION_OPS * cells, "generating the mixture", sizes)

    def dataset_id(self) -> str:
        """A self-describing name in GINC's style, e.g. ``GINC_trans0.1_start10.0_…_nconcepts5_seed1111``."""
        out = (
            f"GINC_trans{self.transition_temp}_start{self.start_temp}_nsymbols{self.n_symbols}"
            f"_nvalues{self.n_values}_nslots{self.n_slots}_vic{self.value_identity_coeff}"
        )
        if not self.shared_values:
            out += "_valueprior"
        if self.emission_smoothing:
            out += f"_smooth{self.emission_smoothing}"
        return out + f"_nconcepts{self.n_concepts}_seed{self.seed}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class GincMixture:
    """A generated GINC mixture: the :class:`~exact.hmm.mixture.HMMMixture` and its metadata.

    Attributes
    ----------
    config : GincConfig
    mixture : HMMMixture
    vocab : tuple of str
        Token names; ``vocab[delimiter] == '/'``.
    all_values : ndarray of int64, shape (n_values, n_slots)
        The token state ``(v, s)`` emits before smoothing; column 0 is the delimiter.
    delimiter : int
    """

    config: GincConfig
    mixture: HMMMixture
    vocab: tuple[str, ...]
    all_values: NDArray[np.int64] = field(repr=False)
    delimiter: int = 0


def _permutation_mixtures(n_blocks: int, n: int, temp: float, rng: np.random.Generator) -> NDArray[np.float64]:
    """``n_blocks`` row-stochastic ``n × n`` matrices, each ``Σ_j w_j P_j`` over ``n`` random permutations."""
    weights = rng.random((n_blocks, n)) - 0.5
    weights = np.exp((weights - weights.max(axis=1, keepdims=True)) / temp)
    weights /= weights.sum(axis=1, keepdims=True)
    perms = rng.permuted(np.broadcast_to(np.arange(n), (n_blocks, n, n)), axis=2)  # (block, j, row) -> column
    out = np.zeros((n_blocks, n, n))
    rows = np.arange(n)
    for j in range(n):
        out[np.arange(n_blocks)[:, None], rows[None, :], perms[:, j, :]] += weights[:, j, None]
    return out


def _softmax_rows(u: NDArray[np.float64], temp: float) -> NDArray[np.float64]:
    z = (u - 0.5) / temp
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def generate_ginc(config: GincConfig | None = None, **overrides: Any) -> GincMixture:
    """Generate a GINC mixture from ``config`` (or :class:`GincConfig` defaults with ``overrides``).

    Examples
    --------
    >>> g = generate_ginc(n_concepts=3)
    >>> g.mixture
    HMMMixture(n_concepts=3, n_values=10, n_slots=10, vocab_size=50)
    >>> bool((g.all_values[:, 0] == g.delimiter).all())
    True
    >>> big = generate_ginc(n_concepts=7)  # concept c does not depend on n_concepts
    >>> bool(np.array_equal(big.mixture.slot_transmat[:3], g.mixture.slot_transmat))
    True
    """
    if config is None:
        config = GincConfig(**overrides)
    elif not isinstance(config, GincConfig):
        raise InputTypeError(f"config must be a GincConfig (or pass keyword overrides), got {type(config).__name__}")
    elif overrides:
        raise InputError("pass either config or keyword overrides, not both")
    c = config
    root = np.random.SeedSequence(c.seed)
    values_seq, vmat_seq, concepts_seq = root.spawn(3)
    rng_values = np.random.default_rng(values_seq)
    all_values = rng_values.integers(1, c.n_symbols, size=(c.n_values, c.n_slots)).astype(np.int64)
    all_values[:, 0] = 0
    n_states = c.n_values * c.n_slots
    emissions = np.zeros((n_states, c.n_symbols))
    emissions[np.arange(n_states), all_values.reshape(-1)] = 1.0
    if c.emission_smoothing:
        emissions = (1.0 - c.emission_smoothing) * emissions + c.emission_smoothing / c.n_symbols

    # one child seed per concept: concept c's parameters do not depend on n_concepts
    concept_seqs = concepts_seq.spawn(c.n_concepts)
    slot = np.empty((c.n_concepts, c.n_slots, c.n_slots))
    start = np.empty((c.n_concepts, n_states))
    value_blocks = np.empty((c.n_concepts if not c.shared_values else 1, c.n_values, c.n_values))
    for i, seq in enumerate(concept_seqs):
        rng = np.random.default_rng(seq)
        slot[i] = _permutation_mixtures(1, c.n_slots, c.transition_temp, rng)[0]
        start[i] = _softmax_rows(rng.random(n_states), c.start_temp)
        if not c.shared_values:
            value_blocks[i] = _permutation_mixtures(1, c.n_values, c.transition_temp, rng)[0]
    if c.shared_values:
        value_blocks[0] = _permutation_mixtures(1, c.n_values, c.transition_temp, np.random.default_rng(vmat_seq))[0]
    vic = c.value_identity_coeff
    vmat = (1.0 - vic) * value_blocks + vic * np.eye(c.n_values)[None]
    mixture = HMMMixture(np.full(c.n_concepts, 1.0 / c.n_concepts), start, slot, vmat, emissions)
    all_values.setflags(write=False)
    return GincMixture(c, mixture, ginc_vocabulary(c.n_symbols), all_values, 0)
