"""Claim modules, one per part of the paper; importing this package registers every claim.

The report order is :data:`proofs_check.catalog.REPORT_ORDER`.
"""

from proofs_check.claims import (
    anbn,
    anbn_closed_forms,
    f0,
    f2_icl,
    f3,
    finetunability,
    ginc,
    grammar,
    icl_learned,
    kl_identities,
    rule_extrapolation,
)

__all__ = [
    "REPORT_ORDER",
    "anbn",
    "anbn_closed_forms",
    "f0",
    "f2_icl",
    "f3",
    "finetunability",
    "ginc",
    "grammar",
    "icl_learned",
    "kl_identities",
    "rule_extrapolation",
]
