"""Claim modules; importing this package registers every claim (in report order)."""

from proofs_check.claims import anbn, anbn_closed_forms, f0, f3, kl_identities  # noqa: F401  (order = report order)

__all__ = ["f0", "kl_identities", "anbn_closed_forms", "anbn", "f3"]
