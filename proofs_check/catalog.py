"""The catalog of claims: which exist, in what order the report shows them, and running them.

:data:`REPORT_ORDER` is the one list of claim ids. It follows the paper's logic, not
import order: the two-variable example, the KL identities behind every case study,
the aⁿbⁿ closed forms and case study 1 (trained transformers last), the GINC ground
truth and the q_n construction of case study 2, then case study 3. A registered claim
missing from it, or an id in it that nothing registers, is an error
(:func:`registered`). A new claim is a function decorated with
:func:`proofs_check.registry.claim` in a module of :mod:`proofs_check.claims`, plus
its id here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import proofs_check.claims  # noqa: F401  (importing the claim modules registers them)
from exact.core.validate import InputError
from proofs_check.registry import Claim, ClaimRecord, registrations, run_one

__all__ = ["REPORT_ORDER", "registered", "run_claims"]

REPORT_ORDER = (
    "F0",
    "KL-chain-rule",
    "L1",
    "L1-swap",
    "L1-inequalities",
    "F2-bound",
    "anbn-pcfg-closed-forms",
    "anbn-uniform-closed-forms",
    "F1",
    "anbn-padding-floor",
    "anbn-prompt-counts",
    "grammar-anbn-closed-forms",
    "F1-grammars",
    "E1-rule-extrapolation",
    "ginc-mixture-marginal",
    "ginc-posterior-concentration",
    "F2-identity",
    "F2-symmetry",
    "F2-bounds",
    "F2-flips",
    "F2-vanishing",
    "E2-icl-learned",
    "F3-relu-rescaling",
    "F3-gradients-sgd",
    "F3-layernorm",
    "F3-function-preserving",
    "F3-finetuning-divergence",
)


def registered() -> dict[str, Claim]:
    """All claims in report order.

    Raises
    ------
    RuntimeError
        If a registered claim is missing from :data:`REPORT_ORDER` or an id in it is not registered.
    """
    known = registrations()
    missing = [cid for cid in known if cid not in REPORT_ORDER]
    ghosts = [cid for cid in REPORT_ORDER if cid not in known]
    if missing or ghosts or len(set(REPORT_ORDER)) != len(REPORT_ORDER):
        raise RuntimeError(
            f"proofs_check.catalog.REPORT_ORDER must list every registered claim once: not listed {missing}, "
            f"listed but not registered {ghosts}"
        )
    return {cid: known[cid] for cid in REPORT_ORDER}


def run_claims(
    only: Iterable[str] | None = None,
    progress: Callable[[int, int, ClaimRecord], None] | None = None,
    artifacts: str | Path | None = None,
) -> list[ClaimRecord]:
    """Run the registered claims (or those in ``only``) and return their records.

    ``artifacts`` is the directory of committed artifacts that claims needing them read
    (``nonident check`` passes ``reports``).

    Raises
    ------
    ValueError
        If ``only`` names a claim that is not registered.
    """
    claims = registered()
    ids = list(claims) if only is None else list(dict.fromkeys(only))  # each claim once, in order
    unknown = [i for i in ids if i not in claims]
    if unknown:
        raise InputError(f"only names unknown claim {unknown[0]!r}; known: {', '.join(claims)}")
    records = []
    for n, cid in enumerate(ids, 1):
        rec = run_one(claims[cid], None if artifacts is None else Path(artifacts))
        records.append(rec)
        if progress is not None:
            progress(n, len(ids), rec)
    return records
