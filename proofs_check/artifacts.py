"""Reading the artifacts of an experiment that a claim recomputes (``STEM-models.pt`` beside ``STEM.json``)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any, TypeVar

import torch

from exact.core.artifacts import read_json
from exact.core.records import Record

__all__ = ["load_checked"]


R = TypeVar("R", bound=Record)


def load_checked(artifacts: Path, stem: str, record: type[R], what: str, command: str) -> tuple[Any, R]:
    """The saved models and the report (``record.from_dict``, strict), after checking that the
    models file is the one the report was written with (its SHA-256); ``command`` regenerates them.

    ``torch.load(weights_only=True)``: the file holds tensors and plain data, so loading it runs no code.
    """
    models, report = artifacts / f"{stem}-models.pt", artifacts / f"{stem}.json"
    if not (models.exists() and report.exists()):
        raise FileNotFoundError(f"{models.name} / {report.name} missing in {artifacts}: run `{command}`")
    data = models.read_bytes()
    doc = record.from_dict(read_json(report, what), at=str(report))
    if hashlib.sha256(data).hexdigest() != getattr(doc, "models_sha256", None):
        raise ValueError(f"{models} is not the file {report.name} was written with (SHA-256 differs)")
    return torch.load(io.BytesIO(data), weights_only=True), doc
