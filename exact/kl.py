"""``KL(p‖q)`` between the exact aⁿbⁿ distribution and any predictor, two ways.

For sequences of ``T`` tokens (``SOS`` plus ``T − 1`` targets):

* **chain rule** — ``Σ_{t<T} Σ_{|s|=t, p(s)>0} p(s) KL(p(·|s) ‖ q(·|s))`` over the
  ``O(T²)`` positive-probability prefixes (PAPER.md §2);
* **brute force** — ``Σ_x p(x) ln(p(x)/q(x))`` over *every* candidate sequence
  ``SOS w [EOS PAD…]`` of ``T`` tokens with ``w ∈ {a,b}*`` (a superset of the
  support; ``2^T − 1`` sequences), with ``q(x)`` from ``q``'s own conditionals.

Brute force sums per-sequence terms ``p(x) ln(p(x)/q(x))`` of both signs; for a
small KL they cancel, so its absolute error is about ``u Σ_x p(x) |ln(p(x)/q(x))|``
(``u = 2⁻⁵³``). The chain rule sums non-negative terms and has no such cancellation.

The chain rule uses ``scipy.special.rel_entr`` (``0 ln 0 = 0``; ``q = 0 < p`` gives ``+inf``,
never NaN). Terms where ``q`` equals ``p`` exactly contribute exactly zero, so a
support-matching ``q`` gives ``0.0``, not a rounding residue. A KL below the
float64 range (``p(s)`` underflowing) also rounds to ``0.0``; the chain rule
therefore also counts the support prefixes where ``q`` differs from ``p`` at all
(``mismatched_prefixes``), an exact statement independent of rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import rel_entr

from exact._validate import check_int
from exact.anbn import AnbnDistribution
from exact.predictor import Predictor, sequence_log_prob
from exact.tokens import EOS, PAD, SOS, TokenBatch

__all__ = ["KLResult", "kl_brute_force", "kl_chain_rule"]

#: Largest T for brute force (2^T sequences, each scored through q).
MAX_BRUTE_FORCE_LENGTH = 20


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


def kl_chain_rule(p: AnbnDistribution, q: Predictor, sequence_length: int) -> KLResult:
    """``KL(p‖q)`` over sequences of ``sequence_length`` tokens via the chain rule."""
    T = check_int(sequence_length, "sequence_length", minimum=2)
    prefixes, logp = p.support_prefixes(T - 1)
    p_rows = p.next_token_probs(prefixes).require_defined()
    q_out = q.next_token_probs(prefixes)
    # An undefined q row means q(s) = 0 < p(s): the KL is infinite (and so is an earlier term).
    row_kl = np.where(q_out.defined, rel_entr(p_rows, q_out.probs).sum(axis=1), np.inf)
    # inf where the row KL is inf, even if p(s) underflowed to 0: never 0 · inf = NaN.
    with np.errstate(under="ignore"):  # p(s) below the float64 range is a legitimate 0
        terms = np.where(np.isinf(row_kl), np.inf, np.exp(logp) * np.where(np.isinf(row_kl), 0.0, row_kl))
    last = prefixes.lengths == T - 1  # the marginal of the first T − 1 tokens: must sum to 1
    mismatched = int(np.sum(~q_out.defined | np.any(q_out.probs != p_rows, axis=1)))
    return KLResult(
        math.fsum(terms), "chain rule", T, int(len(prefixes)), math.fsum(np.exp(logp[last])), mismatched
    )


def _candidate_sequences(T: int) -> TokenBatch:
    """``SOS w`` padded with ``EOS PAD…`` to ``T`` tokens, for every ``w`` of length ≤ T − 1."""
    rows = []
    for ell in range(T):
        codes = np.arange(1 << ell, dtype=np.int64)
        shifts = np.arange(ell - 1, -1, -1, dtype=np.int64)
        words = (codes[:, None] >> shifts[None, :]) & 1
        block = np.full((codes.size, T), PAD, dtype=np.int64)
        block[:, 0] = SOS
        block[:, 1 : 1 + ell] = words
        if ell + 1 < T:
            block[:, 1 + ell] = EOS
        rows.append(block)
    tokens = np.concatenate(rows)
    return TokenBatch(tokens, np.full(tokens.shape[0], T, dtype=np.int64))


def kl_brute_force(p: AnbnDistribution, q: Predictor, sequence_length: int) -> KLResult:
    """``KL(p‖q)`` by enumerating all ``2^T − 1`` candidate sequences of ``T`` tokens."""
    T = check_int(
        sequence_length, "sequence_length", minimum=2, maximum=MAX_BRUTE_FORCE_LENGTH,
        why=" of brute force (2^sequence_length sequences)",
    )
    seqs = _candidate_sequences(T)
    support = p.log_prob_prefix(seqs) > -np.inf
    on_support = TokenBatch(seqs.tokens[support], seqs.lengths[support])
    # Both joints through the same chain of conditionals, so equal conditionals give
    # bit-identical joints and an exactly zero term.
    logp = sequence_log_prob(p, on_support, start=1)
    logq = sequence_log_prob(q, on_support, start=1)
    with np.errstate(under="ignore"):  # p(x) below the float64 range is a legitimate 0
        pp = np.exp(logp)
    # q(x) = 0 < p(x) gives +inf, also where p(x) underflowed to 0 (never 0 · inf = NaN).
    missed = logq == -np.inf
    terms = np.where(missed, np.inf, np.where(logq == logp, 0.0, pp * (logp - np.where(missed, 0.0, logq))))
    return KLResult(math.fsum(terms), "brute force", T, int(seqs.tokens.shape[0]), math.fsum(pp))
