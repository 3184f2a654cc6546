"""The exact aⁿbⁿ data distribution ``p`` over token sequences ``SOS aⁿ bⁿ EOS PAD PAD …``.

For a length law ``P(n)`` with survival ``S(k) = P(N ≥ k)`` (:mod:`exact.anbn.laws`),
the prefix probabilities are ``p(SOS aᵏ) = S(k)`` and ``p(SOS aᵏ bʲ) = P(k)`` for
``1 ≤ j ≤ k``; ``EOS`` follows ``aᵏbᵏ`` and ``PAD`` follows ``EOS`` with
probability one (docs/paper.md §4.2). Every other prefix has probability zero and
``p(· | prefix)`` is undefined there: :meth:`AnbnDistribution.next_token_probs`
says so instead of inventing a row.

Loss floors (docs/paper.md §7). The test loss of a model ``q`` is ``H(p) + KL(p‖q)``
per sequence; since a sentence is determined by ``n``, ``H(p) = H(N)``.
* Official padded convention: every sequence padded to ``2 n_max + 2`` tokens,
  ``2 n_max + 1`` targets, PAD included: floor ``H(N) / (2 n_max + 1)``
  (``ln 128 / 257 = 0.0188794952`` for ``N = 128``).
* PAD ignored, the batch mean over all real targets: floor ``H(N) / E[2n + 1]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from exact.anbn import _kernels as _k
from exact.anbn.laws import MAX_TABLE_N, LengthLaw, UniformLength
from exact.core.limits import check_bytes
from exact.core.predictor import NextTokenProbs
from exact.core.tokens import EOS, PAD, SOS, VOCAB_SIZE, A, B, TokenBatch, token_ids
from exact.core.validate import InputError, InputTypeError, check_int

__all__ = ["AnbnDistribution", "AnbnFacts"]


@dataclass(frozen=True)
class AnbnFacts:
    """Exact summary numbers of an aⁿbⁿ distribution (all in nats)."""

    law: dict[str, object]
    entropy_per_sequence: float
    mean_n: float
    padded_targets_per_sequence: int | None
    padded_loss_floor: float | None
    pad_ignored_loss_floor: float
    bayes_argmax_accuracy_padded: float | None
    official_logged_entropy: float | None

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class AnbnDistribution:
    """Exact aⁿbⁿ distribution; implements :class:`~exact.core.predictor.Predictor`.

    Parameters
    ----------
    law : LengthLaw
        A proper law of ``n`` (total mass one). A truncated law must be
        renormalised explicitly (:meth:`~exact.anbn.laws.TruncatedLength.renormalised`).
    """

    vocab_size = VOCAB_SIZE

    def __init__(self, law: LengthLaw) -> None:
        if not isinstance(law, LengthLaw):
            raise InputTypeError(f"law must be a LengthLaw, got {type(law).__name__}")
        if not law.is_proper:
            raise InputError(
                f"law has total mass {float(law.total_mass_exact)!r} < 1 (truncated); call "
                ".renormalised() to condition on the kept lengths, or use the untruncated law"
            )
        self.law = law

    def __repr__(self) -> str:
        return f"AnbnDistribution({self.law!r})"

    def _scores(self, batch: TokenBatch) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        if not isinstance(batch, TokenBatch):
            raise InputTypeError(f"batch must be a TokenBatch (TokenBatch.from_sequences), got {type(batch).__name__}")
        k_max = int(batch.lengths.max(initial=0)) + 1
        log_pmf, log_sf = self.law.tables(k_max)
        logp = np.empty(len(batch), dtype=np.float64)
        nxt = np.empty((len(batch), VOCAB_SIZE), dtype=np.float64)
        _k.prefix_log_prob(batch.tokens, batch.lengths, log_pmf, log_sf, logp, nxt)
        return logp, nxt

    def log_prob_prefix(self, batch: TokenBatch) -> NDArray[np.float64]:
        """``log p(x_1..x_t)`` for each row (``-inf`` for a zero-probability prefix).

        The probability of a whole sentence ``SOS w EOS`` is its prefix probability.
        """
        return self._scores(batch)[0]

    def next_token_probs(self, batch: TokenBatch) -> NextTokenProbs:
        """``p(· | prefix)``; rows of zero-probability prefixes are marked undefined."""
        logp, nxt = self._scores(batch)
        defined = logp > -np.inf
        with np.errstate(under="ignore"):  # a conditional below the float64 range rounds to 0
            return NextTokenProbs(np.exp(nxt), defined)

    def prefix_prob_exact(self, prefix: Sequence[int]) -> Fraction:
        """Exact rational ``p(prefix)`` from the closed form (independent of the kernel).

        ``SOS aᵏ → S(k)``, ``SOS aᵏ bʲ (1 ≤ j ≤ k) → P(k)``, followed optionally (when
        ``j = k``) by ``EOS PAD*``; the empty prefix has probability 1; anything else 0.
        """
        toks = token_ids(prefix, "prefix")
        if not toks:
            return Fraction(1)
        if toks[0] != SOS:
            return Fraction(0)
        body = toks[1:]
        k = next((i for i, t in enumerate(body) if t != A), len(body))
        j = next((i for i, t in enumerate(body[k:]) if t != B), len(body) - k)
        tail = body[k + j :]
        if j == 0:
            return self.law.sf_exact(k) if not tail else Fraction(0)
        well_formed = j <= k and (not tail or (j == k and tail[0] == EOS and all(t == PAD for t in tail[1:])))
        return self.law.pmf_exact(k) if well_formed else Fraction(0)

    def next_token_probs_exact(self, prefix: Sequence[int]) -> tuple[Fraction, ...] | None:
        """Exact rational ``p(· | prefix)``, or ``None`` where the prefix has probability zero."""
        toks = token_ids(prefix, "prefix")
        here = self.prefix_prob_exact(toks)
        if here == 0:
            return None
        return tuple(self.prefix_prob_exact([*toks, y]) / here for y in range(VOCAB_SIZE))

    def candidate_sequences(self, length: int) -> TokenBatch:
        """``SOS w`` padded with ``EOS PAD…`` to ``length`` tokens, for every a/b word ``w`` of length ≤ length − 1.

        A superset of the support of ``length``-token sequences (``2^length − 1`` rows), the
        candidates that :func:`exact.core.kl.kl_brute_force` scores.
        """
        T = length
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

    def support_prefixes(self, max_length: int) -> tuple[TokenBatch, NDArray[np.float64]]:
        """All positive-probability prefixes of 1..``max_length`` tokens and their log-probabilities.

        At most ``O(max_length²)`` prefixes: ``SOS aᵏ bʲ (EOS PAD*)``. Built by
        expanding the tree of positive-probability continuations from ``SOS``.
        """
        max_length = check_int(max_length, "max_length")
        # ≤ ℓ/2 prefixes SOS aᵏ bʲ of each length ℓ, plus one EOS PAD* row per sentence that fits
        words = max_length // 2 if self.law.n_max is None else min(self.law.n_max, max_length // 2)
        n_rows = max_length * (max_length // 4 + 1 + words)
        check_bytes(16.0 * n_rows * max_length, "the table of support prefixes", {"max_length": max_length})
        frontier = TokenBatch.from_sequences([[2]])
        batches, logps = [frontier], [np.zeros(1)]
        for _ in range(max_length - 1):
            probs = self.next_token_probs(frontier).require_defined()
            rows, toks = np.nonzero(probs > 0)
            frontier = TokenBatch(frontier.tokens[rows], frontier.lengths[rows]).extend(toks)
            logps.append(logps[-1][rows] + np.log(probs[rows, toks]))
            batches.append(frontier)
        seqs = [b.row(i) for b in batches for i in range(len(b))]
        return TokenBatch.from_sequences(seqs), np.concatenate(logps)

    def facts(self) -> AnbnFacts:
        """Entropy, loss floors and accuracy ceilings of this distribution."""
        law = self.law
        h = law.entropy()
        n_max = law.n_max
        padded_targets: int | None = None
        acc: float | None = None
        official: float | None = None
        if n_max is not None:
            if n_max > MAX_TABLE_N:
                raise InputError(f"n_max={n_max} is above {MAX_TABLE_N}, the largest law whose facts are tabulated")
            padded_targets = 2 * n_max + 1
            # Expected argmax accuracy = Σ_prefix p(prefix) max_y p(y|prefix) over the
            # padded targets; only the a-block positions SOS aᵏ (k ≥ 1) are uncertain.
            k = np.arange(1, n_max + 1)
            log_pmf, log_sf = law.tables(n_max + 1)
            uncertain_loss = float(np.sum(np.minimum(np.exp(log_sf[k + 1]), np.exp(log_pmf[k]))))
            acc = 1.0 - uncertain_loss / padded_targets
            if isinstance(law, UniformLength):
                official = math.log(n_max) / n_max  # the repo's `data_entropy` (not a per-token entropy)
        return AnbnFacts(
            law=law.describe(),
            entropy_per_sequence=h,
            mean_n=law.mean(),
            padded_targets_per_sequence=padded_targets,
            padded_loss_floor=None if padded_targets is None else h / padded_targets,
            pad_ignored_loss_floor=h / (2 * law.mean() + 1),
            bayes_argmax_accuracy_padded=acc,
            official_logged_entropy=official,
        )
