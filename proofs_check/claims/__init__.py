"""Claim modules; importing this package registers every claim.

``REPORT_ORDER`` fixes the order of the report (the paper's logic, not import order):
the two-variable example, the KL identities behind every case study, the aⁿbⁿ
closed forms and case study 1 (trained transformers last), the GINC ground truth and the q_n construction of case study 2, then case study 3. Claims missing from it follow
in registration order.
"""

from proofs_check.claims import (
    anbn,
    anbn_closed_forms,
    f0,
    f2_icl,
    f3,
    ginc,
    kl_identities,
    rule_extrapolation,
)

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
    "E1-rule-extrapolation",
    "ginc-mixture-marginal",
    "ginc-posterior-concentration",
    "F2-identity",
    "F2-symmetry",
    "F2-bounds",
    "F2-flips",
    "F2-vanishing",
    "F3-relu-rescaling",
    "F3-gradients-sgd",
    "F3-layernorm",
)

__all__ = [
    "REPORT_ORDER",
    "anbn",
    "anbn_closed_forms",
    "f0",
    "f2_icl",
    "f3",
    "ginc",
    "kl_identities",
    "rule_extrapolation",
]
