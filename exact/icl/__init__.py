"""Case study 2's construction: q_n, ε-non-identifiability of in-context learning (claim F2).

q_n swaps the two most likely next tokens of the mixture on every n-shot prompt
(:mod:`~exact.icl.qn`); its exact KL by the swap identity, the bounds, ``N_ε`` and
the ICL table (:mod:`~exact.icl.swap_kl`, kernels in ``_kernels``); certificates in
ball arithmetic (:mod:`~exact.icl.certify`); ``nonident icl`` (:mod:`~exact.icl.cli`).
Builds on :mod:`exact.hmm`.
"""

from exact.icl.qn import DEMO_CONFIG, DEMO_K, SwapModel, ZeroRunnerUpError
from exact.icl.swap_kl import IclRow, IclTable, SwapIdentity, TooManyStringsError, icl_table, swap_identity

__all__ = [
    "SwapModel",
    "ZeroRunnerUpError",
    "DEMO_CONFIG",
    "DEMO_K",
    "SwapIdentity",
    "swap_identity",
    "TooManyStringsError",
    "IclRow",
    "IclTable",
    "icl_table",
]
