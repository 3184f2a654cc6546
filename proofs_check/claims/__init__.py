"""Claim modules; importing this package registers every claim (in report order)."""

from proofs_check.claims import f0, anbn  # noqa: F401  (order = report order)

__all__ = ["f0", "anbn"]
