"""Trained transformers measured against the exact ground truth (filled in by the learned/ issue)."""
