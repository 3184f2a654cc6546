"""The assumptions behind Xie et al.'s ICL theorem, checked on an HMM mixture.

Xie et al. (2022, Assumptions 1–4; docs/paper.md §4.4.1) need every concept's
hidden chain to mix, the delimiter to be reachable, and the concepts to be
distinguishable. Checked here:

* **irreducible and aperiodic** — on the graph ``h → h'`` of ``T_θ > 0``
  (networkx ``is_strongly_connected``, ``is_aperiodic``; for a reducible chain
  "aperiodic" means every closed communicating class is). For ``T = V ⊗ S``
  a cheap exact route exists: a non-negative square matrix is irreducible and
  aperiodic iff it is primitive (``A^m > 0`` for some ``m``), and
  ``(V ⊗ S)^m = V^m ⊗ S^m``, so ``T`` is primitive iff ``V`` and ``S`` both
  are. The factors are checked first; only if one is not primitive is the
  dense ``n_states``-node graph examined.
* **delimiter reachable** — from every hidden state some state that emits the
  delimiter with positive probability is reachable.
* **distinguishable** — the KL rate ``lim (1/T) KL(p_θ(o_1..o_T) ‖ p_θ'(o_1..o_T))``
  is positive for every pair. It has no closed form; it is *estimated* from
  seeded samples of length ``T`` (mean of ``(log p_θ(x) − log p_θ'(x))/T`` over
  ``x ∼ θ``, with a 95 % normal interval). ``inf`` means a sampled sequence is
  impossible under ``θ'`` (the rate is then infinite; the check is exact).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
from numpy.typing import NDArray

from exact.core.limits import check_bytes, check_work
from exact.core.rng import SeedLike, as_seed_sequence
from exact.core.validate import check_int
from exact.hmm.ginc import GincMixture
from exact.hmm.mixture import HMMMixture, as_mixture

#: Operations one networkx edge is counted as in the run-time limit (docs/robustness.md).
GRAPH_EDGE_OPS = 2000

__all__ = ["AssumptionReport", "check_assumptions", "is_primitive"]


def _graph(matrix: NDArray[np.float64]) -> nx.DiGraph:
    rows, cols = np.nonzero(matrix > 0)
    g = nx.DiGraph()
    g.add_nodes_from(range(matrix.shape[0]))
    g.add_edges_from(zip(rows.tolist(), cols.tolist(), strict=True))
    return g


def is_primitive(matrix: NDArray[np.float64]) -> bool:
    """Irreducible and aperiodic (networkx on the graph of positive entries)."""
    g = _graph(np.asarray(matrix))
    return bool(nx.is_strongly_connected(g) and nx.is_aperiodic(g))


@dataclass(frozen=True)
class AssumptionReport:
    """Per-concept graph facts and the pairwise KL-rate estimates.

    ``kl_rate[i, j]`` estimates the KL rate of concept ``i`` against ``j``
    (diagonal 0), ``kl_rate_halfwidth`` its 95 % half-width; only the first
    ``kl_rate.shape[0]`` concepts are compared (``distinguishability_concepts``).
    """

    irreducible: NDArray[np.bool_]
    aperiodic: NDArray[np.bool_]
    delimiter_reachable: NDArray[np.bool_]
    kl_rate: NDArray[np.float64]
    kl_rate_halfwidth: NDArray[np.float64]
    kl_rate_length: int
    kl_rate_samples: int
    #: The entropy of the seed sequence (an int, or ``[run seed, stream key]`` for a named stream).
    seed: int | list[int]

    @property
    def min_kl_rate_lower(self) -> float:
        """Smallest lower 95 % bound of an off-diagonal KL rate (``inf`` if all are infinite)."""
        k = self.kl_rate.shape[0]
        if k < 2:
            return math.inf
        off = ~np.eye(k, dtype=bool)
        return float(np.min((self.kl_rate - self.kl_rate_halfwidth)[off]))

    @property
    def holds(self) -> bool:
        return bool(
            self.irreducible.all()
            and self.aperiodic.all()
            and self.delimiter_reachable.all()
            and self.min_kl_rate_lower > 0
        )

    def summary(self) -> dict[str, Any]:
        k = self.kl_rate.shape[0]
        off = ~np.eye(k, dtype=bool)
        rates = self.kl_rate[off]
        return {
            "concepts irreducible": f"{int(self.irreducible.sum())}/{self.irreducible.size}",
            "concepts aperiodic": f"{int(self.aperiodic.sum())}/{self.aperiodic.size}",
            "delimiter reachable from every state": f"{int(self.delimiter_reachable.sum())}/{self.delimiter_reachable.size}",
            "distinguishability: concepts compared": k,
            "KL rate (nats/token), min over pairs": float(rates.min()) if rates.size else None,
            "KL rate, smallest lower 95% bound": self.min_kl_rate_lower if k > 1 else None,
            "KL rate pairs infinite (exact: a sample impossible under the other concept)": int(np.isinf(rates).sum()),
            "KL rate estimate": f"{self.kl_rate_samples} samples of {self.kl_rate_length} tokens per concept, seed {self.seed}",
            "all assumptions hold": self.holds,
        }


def _recurrent_classes_aperiodic(g: nx.DiGraph) -> bool:
    """Every closed communicating class is aperiodic (for an irreducible chain: the chain is)."""
    cond = nx.condensation(g)
    for node in cond.nodes:
        if cond.out_degree(node) == 0 and not nx.is_aperiodic(g.subgraph(cond.nodes[node]["members"])):
            return False
    return True


def _reaches_delimiter(transmat: NDArray[np.float64], emits_delim: NDArray[np.bool_]) -> bool:
    if not emits_delim.any():
        return False
    g = _graph(transmat)
    targets = set(np.flatnonzero(emits_delim).tolist())
    reach = set(targets)
    for t in targets:
        reach |= nx.ancestors(g, t)
    return len(reach) == transmat.shape[0]


def _entropy(seq: np.random.SeedSequence) -> int | list[int]:
    """The entropy a seed sequence was built from: the seed, or ``[run seed, stream key]``."""
    e = seq.entropy
    return int(e) if isinstance(e, (int, np.integer)) else [int(x) for x in e or ()]


def check_assumptions(
    mixture: HMMMixture | GincMixture,
    *,
    delimiter: int = 0,
    kl_rate_length: int = 2000,
    kl_rate_samples: int = 8,
    distinguishability_concepts: int = 20,
    seed: SeedLike = 0,
) -> AssumptionReport:
    """Check irreducibility, aperiodicity, delimiter reachability (all concepts) and
    estimate pairwise KL rates (the first ``distinguishability_concepts`` concepts)."""
    mixture = as_mixture(mixture)
    check_int(delimiter, "delimiter", minimum=0, maximum=mixture.vocab_size - 1)
    length = check_int(kl_rate_length, "kl_rate_length")
    n_samples = check_int(kl_rate_samples, "kl_rate_samples", minimum=2)
    n_cmp = min(check_int(distinguishability_concepts, "distinguishability_concepts"), mixture.n_concepts)
    # networkx builds Python objects per edge (about a microsecond and 200 bytes each):
    # bound the graphs before building them (the cost model is docs/robustness.md's)
    edges = sum(int(np.count_nonzero(v)) for v in mixture.value_transmat) + int(np.count_nonzero(mixture.slot_transmat))
    sizes = {"n_values": mixture.n_values, "n_slots": mixture.n_slots, "n_concepts": mixture.n_concepts}
    check_work(GRAPH_EDGE_OPS * edges, "the graph checks (irreducible, aperiodic, delimiter reachable)", sizes)
    check_work(
        float(n_cmp) * n_cmp * n_samples * length * mixture.n_states * (mixture.n_values + mixture.n_slots),
        "the KL-rate estimates",
        {"distinguishability_concepts": n_cmp, "kl_rate_samples": n_samples, "kl_rate_length": length},
    )
    root = as_seed_sequence(seed)
    k = mixture.n_concepts
    irreducible = np.zeros(k, dtype=bool)
    aperiodic = np.zeros(k, dtype=bool)
    reach = np.zeros(k, dtype=bool)
    v_primitive = [is_primitive(v) for v in mixture.value_transmat]
    for c in range(k):
        em = mixture.emission_matrix(c)[:, delimiter] > 0
        if v_primitive[c if len(v_primitive) > 1 else 0] and is_primitive(mixture.slot_transmat[c]):
            irreducible[c] = aperiodic[c] = True
            reach[c] = bool(em.any())
            continue
        v = mixture.value_transmat[c if len(v_primitive) > 1 else 0]
        kron_edges = int(np.count_nonzero(v)) * int(np.count_nonzero(mixture.slot_transmat[c]))
        check_work(GRAPH_EDGE_OPS * kron_edges, f"the graph check of concept {c}'s full transition matrix", sizes)
        check_bytes(8.0 * mixture.n_states**2, f"concept {c}'s dense transition matrix", sizes)
        t = mixture.transmat(c)
        g = _graph(t)
        irreducible[c] = nx.is_strongly_connected(g)
        aperiodic[c] = _recurrent_classes_aperiodic(g)
        reach[c] = _reaches_delimiter(t, em)

    sub = mixture.select_concepts(np.arange(n_cmp))
    rates = np.zeros((n_cmp, n_cmp))
    half = np.zeros((n_cmp, n_cmp))
    for i, child in enumerate(root.spawn(n_cmp)):
        docs, _, _ = sub.sample(n_samples, length, np.random.default_rng(child), concept=i)
        ll = sub.log_likelihoods(docs)  # (samples, concepts); ll[:, i] is finite
        for j in range(n_cmp):
            if j == i:
                continue
            if np.isinf(ll[:, j]).any():
                rates[i, j] = np.inf
                continue
            per_token = (ll[:, i] - ll[:, j]) / length
            rates[i, j] = float(per_token.mean())
            half[i, j] = 1.959963984540054 * float(per_token.std(ddof=1)) / math.sqrt(n_samples)
    return AssumptionReport(irreducible, aperiodic, reach, rates, half, length, n_samples, _entropy(root))
