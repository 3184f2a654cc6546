"""``KL(p‖q)`` between two autoregressive models, exactly: the one home of every KL in the toolkit.

For sequences of ``T`` tokens, with ``p`` and ``q`` any two predictors
(:class:`~exact.core.predictor.Predictor`):

* :func:`kl_chain_rule` — ``Σ_{t<T} Σ_{|s|=t, p(s)>0} p(s) KL(p(·|s) ‖ q(·|s))``
  over the positive-probability prefixes that ``p`` enumerates itself
  (:class:`SupportEnumerable`; docs/paper.md §2);
* :func:`kl_brute_force` — ``Σ_x p(x) ln(p(x)/q(x))`` over a superset of the
  support that ``p`` lists (:class:`SupportEnumerable`), with ``q(x)`` from ``q``'s
  own conditionals;
* :func:`kl_by_sequences` — the same sum over *all* ``M^T`` sequences of the
  vocabulary, for any two predictors (e.g. ``KL(q_n‖p)`` on the HMM mixture);
* :func:`kl_joint` and :func:`kl_lemma_l1` — the same two quantities for the
  explicit tables of :class:`~exact.core.tabular.TabularAR` (Lemma L1, docs/paper.md §4.3);
* :func:`kl_terms` — the per-sequence terms ``p(x)(ln p(x) − ln q(x))`` from log
  joints, which every sum above and the exact test loss of trained transformers use.

Brute force sums per-sequence terms of both signs; for a small KL they cancel, so
its absolute error is about ``u Σ_x p(x) |ln(p(x)/q(x))|`` (``u = 2⁻⁵³``). The chain
rule sums non-negative terms and has no such cancellation.

Terms where ``q`` equals ``p`` exactly contribute exactly zero, so a
support-matching ``q`` gives ``0.0``, not a rounding residue; ``q = 0 < p`` gives
``+inf``, never NaN (also where ``p(x)`` underflows to 0). A KL below the float64
range also rounds to ``0.0``; the chain rule therefore also counts the support
prefixes where ``q`` differs from ``p`` at all (``mismatched_prefixes``), an exact
statement independent of rounding.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from scipy.special import rel_entr

from exact.core.limits import LimitError
from exact.core.predictor import Predictor, sequence_log_prob
from exact.core.tabular import Prefix, TabularAR, check_same_shape, prefix_free
from exact.core.tokens import TokenBatch
from exact.core.validate import InputError, check_int, require_type

__all__ = [
    "KLResult",
    "SupportEnumerable",
    "kl_brute_force",
    "kl_by_sequences",
    "kl_chain_rule",
    "kl_joint",
    "kl_lemma_l1",
    "kl_terms",
]

#: Largest T for :func:`kl_brute_force` (about 2^T candidate sequences, each scored through q).
MAX_BRUTE_FORCE_LENGTH = 20
#: Largest number of sequences :func:`kl_by_sequences` enumerates.
MAX_SEQUENCES = 2_000_000


@runtime_checkable
class SupportEnumerable(Predictor, Protocol):
    """A predictor that can list its own support: the ground truth side ``p`` of a KL."""

    def support_prefixes(self, max_length: int) -> tuple[TokenBatch, NDArray[np.float64]]:
        """Every positive-probability prefix of 1..``max_length`` tokens and its log-probability."""
        ...

    def log_prob_prefix(self, batch: TokenBatch) -> NDArray[np.float64]:
        """``log p(prefix)`` of every row (``-inf`` off the support)."""
        ...

    def candidate_sequences(self, length: int) -> TokenBatch:
        """A superset of the support of ``length``-token sequences (scored from position 1)."""
        ...


@dataclass(frozen=True)
class KLResult:
    """A KL value with how it was obtained."""

    value: float
    method: str
    sequence_length: int
    terms: int
    covered_mass: float
    #: Chain rule only: positive-probability prefixes where q's row differs from p's at all.
    #: 0 certifies q = p on the support even where a tiny p(s) makes a term round to 0.
    mismatched_prefixes: int | None = None

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def kl_terms(logp: NDArray[np.float64], logq: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per-sequence terms ``p(x)(ln p(x) − ln q(x))`` from log joints (broadcasting).

    Exactly ``0`` where ``logq == logp`` (equal conditionals give bit-identical
    joints) and where ``p(x) = 0``; ``+inf`` where ``q(x) = 0 < p(x)``, also when
    ``p(x)`` underflows to 0 (never ``0 · inf = NaN``).
    """
    logp, logq = np.asarray(logp, dtype=np.float64), np.asarray(logq, dtype=np.float64)
    support = logp > -np.inf
    missed = support & (logq == -np.inf)
    with np.errstate(under="ignore", invalid="ignore"):  # p(x) below the float64 range is a legitimate 0
        terms = np.exp(logp) * (logp - np.where(missed, 0.0, logq))
    return np.where(missed, np.inf, np.where(~support | (logq == logp), 0.0, terms))


def _check_pair(p: object, q: object) -> None:
    require_type(callable(getattr(p, "support_prefixes", None)), "p", p, "a distribution with support_prefixes")
    require_type(callable(getattr(q, "next_token_probs", None)), "q", q, "a Predictor (next_token_probs)")


def kl_chain_rule(p: SupportEnumerable, q: Predictor, sequence_length: int) -> KLResult:
    """``KL(p‖q)`` over sequences of ``sequence_length`` tokens via the chain rule."""
    _check_pair(p, q)
    T = check_int(sequence_length, "sequence_length", minimum=2)
    try:
        prefixes, logp = p.support_prefixes(T - 1)
    except LimitError as exc:
        raise LimitError(f"sequence_length={T}: {exc}") from None
    p_rows = p.next_token_probs(prefixes).require_defined()
    q_out = q.next_token_probs(prefixes)
    # An undefined q row means q(s) = 0 < p(s): the KL is infinite (and so is an earlier term).
    row_kl = np.where(q_out.defined, rel_entr(p_rows, q_out.probs).sum(axis=1), np.inf)
    # inf where the row KL is inf, even if p(s) underflowed to 0: never 0 · inf = NaN.
    with np.errstate(under="ignore"):  # p(s) below the float64 range is a legitimate 0
        terms = np.where(np.isinf(row_kl), np.inf, np.exp(logp) * np.where(np.isinf(row_kl), 0.0, row_kl))
    last = prefixes.lengths == T - 1  # the marginal of the first T − 1 tokens: must sum to 1
    mismatched = int(np.sum(~q_out.defined | np.any(q_out.probs != p_rows, axis=1)))
    return KLResult(math.fsum(terms), "chain rule", T, len(prefixes), math.fsum(np.exp(logp[last])), mismatched)


def kl_brute_force(p: SupportEnumerable, q: Predictor, sequence_length: int) -> KLResult:
    """``KL(p‖q)`` by scoring every candidate sequence of ``T`` tokens that ``p`` lists."""
    _check_pair(p, q)
    T = check_int(
        sequence_length,
        "sequence_length",
        minimum=2,
        maximum=MAX_BRUTE_FORCE_LENGTH,
        why=" of brute force (about 2^sequence_length sequences)",
    )
    seqs = p.candidate_sequences(T)
    support = p.log_prob_prefix(seqs) > -np.inf
    on_support = TokenBatch(seqs.tokens[support], seqs.lengths[support], seqs.vocab_size)
    # Both joints through the same chain of conditionals, so equal conditionals give
    # bit-identical joints and an exactly zero term.
    logp = sequence_log_prob(p, on_support, start=1)
    logq = sequence_log_prob(q, on_support, start=1)
    with np.errstate(under="ignore"):
        covered = math.fsum(np.exp(logp))
    return KLResult(math.fsum(kl_terms(logp, logq)), "brute force", T, int(seqs.tokens.shape[0]), covered)


def kl_by_sequences(p: Predictor, q: Predictor, sequence_length: int, *, vocab_size: int | None = None) -> float:
    """Brute force ``KL(p‖q) = Σ_x p(x) ln(p(x)/q(x))`` over all sequences of ``sequence_length`` tokens.

    Both joints come from the chain rule of the predictors (``sequence_log_prob``),
    so equal conditionals give an exactly zero term; ``+inf`` where
    ``q(x) = 0 < p(x)``, never NaN. Refuses more than :data:`MAX_SEQUENCES` sequences.
    """
    m = int(vocab_size or p.vocab_size)
    if q.vocab_size != m or p.vocab_size != m:
        raise InputError(
            f"p, q and vocab_size must agree, got p.vocab_size={p.vocab_size}, q.vocab_size={q.vocab_size}, "
            f"vocab_size={vocab_size}"
        )
    t = check_int(sequence_length, "sequence_length")
    if t * math.log(m) > math.log(MAX_SEQUENCES) + 1e-9:
        raise InputError(f"{m}^{t} sequences exceed the brute-force limit {MAX_SEQUENCES}")
    seqs = np.array(list(itertools.product(range(m), repeat=t)), dtype=np.int64)
    batch = TokenBatch(seqs, np.full(len(seqs), t), m)
    return math.fsum(kl_terms(sequence_log_prob(p, batch), sequence_log_prob(q, batch)))


def kl_joint(p: TabularAR, q: TabularAR) -> float:
    """``KL(p‖q)`` of two tables by brute force over all ``V^T`` sequences (``inf`` if ``q`` misses support)."""
    check_same_shape(p, q)
    return math.fsum(rel_entr(p.joint(), q.joint()))


def kl_lemma_l1(p: TabularAR, q: TabularAR, prefixes: Iterable[Prefix]) -> float:
    """``Σ_{s∈S} p(s) KL(p(·|s) ‖ q(·|s))`` for a prefix-free set ``S`` (Lemma L1, docs/paper.md §4.3)."""
    check_same_shape(p, q)
    S = [tuple(s) for s in prefixes]
    if not prefix_free(S):
        raise InputError("prefixes must be prefix-free (no element a proper prefix of another)")
    outside = [s for s in p.rows if s not in S and not np.array_equal(p.rows[s], q.rows[s])]
    if outside:
        raise InputError(f"q differs from p outside prefixes, e.g. at {outside[0]}: Lemma L1 does not apply")
    return math.fsum(p.prefix_prob(s) * float(rel_entr(p.rows[s], q.rows[s]).sum()) for s in S)
