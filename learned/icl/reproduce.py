"""``nonident reproduce icl``: case study 2 on trained transformers, end to end (docs/icl.md).

Trains the preset's seeds in one seed-batched run under ``runs/icl-PRESET`` (resumed if
interrupted), evaluates every seed exactly (:func:`evaluate`) and writes

* ``reports/icl.md`` — the model's exact distance to the Bayes predictor, the ICL table of the
  model, ``p`` and ``q_n`` with Wilson intervals, and findings computed from the numbers;
* ``reports/icl.json`` — :class:`~learned.icl.results.IclReport` (strict JSON);
* ``reports/icl.png`` — (a) ICL accuracy against shots for the models, ``p`` and ``q_n`` (GINC's
  published curve beside ours when the preset is ``ginc`` at its ``k``); (b) the KL to the Bayes
  predictive against position; (c) the training curve;
* ``reports/icl-models.pt`` — the trained parameters, from which the claim ``E2-icl-learned``
  recomputes every number in ``nonident check``.
"""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path

import torch

from exact.core.artifacts import DEFAULT_REPORT_DIR, check_writable_dir, provenance, write_experiment_report
from exact.hmm.ginc import generate_ginc
from exact.hmm.positions import bayes_per_position
from learned.icl.config import IclConfig, icl_preset
from learned.icl.data import heldout_documents
from learned.icl.evaluate import chance_accuracy, document_metrics, shot_rows
from learned.icl.report import published_curves, render_figure, render_markdown
from learned.icl.results import DocumentMetrics, IclReport, ShotRow
from learned.icl.train import RANDOM_STREAMS, load_model, train
from learned.nn.device import resolve_device
from learned.nn.model import Transformer

__all__ = ["REPORT_STEM", "evaluate", "models_file", "reproduce_icl"]

REPORT_STEM = "icl"


Evaluation = tuple[tuple[DocumentMetrics, ...], tuple[ShotRow, ...]]


def evaluate(cfg: IclConfig, *models: Transformer) -> tuple[float, list[Evaluation]]:
    """Chance accuracy and, per model, its per-seed document metrics and per-shot ICL rows (the
    documents, prompts and exact answers are built once for all models)."""
    mixture = generate_ginc(cfg.ginc).mixture
    docs, _ = heldout_documents(mixture, cfg.eval.seed, cfg.eval.n_docs, cfg.train.doc_length)
    exact = bayes_per_position(mixture, docs)
    shots = shot_rows(cfg, mixture, models)
    evaluations = [
        (tuple(document_metrics(m, mixture, docs, cfg.bos, exact)), rows) for m, rows in zip(models, shots, strict=True)
    ]
    return chance_accuracy(mixture), evaluations


def models_file(cfg: IclConfig, model: Transformer) -> bytes:
    """The bytes of ``icl-models.pt``: the config and the parameters (CPU tensors)."""
    buf = io.BytesIO()
    torch.save({"config": cfg.to_dict(), "state": {k: t.cpu() for k, t in model.state_dict().items()}}, buf)
    return buf.getvalue()


def reproduce_icl(
    preset_name: str = "cpu",
    *,
    runs: str | Path = "runs",
    reports: str | Path = DEFAULT_REPORT_DIR,
    device: str = "cpu",
    progress: bool = True,
    overrides: dict[str, object] | None = None,
) -> IclReport:
    """Train, evaluate and report; returns the report (written as JSON by ``as_dict()``)."""
    cfg = icl_preset(preset_name, overrides)
    dev = resolve_device(device)  # every check before training, none creates anything
    check_writable_dir(runs, "runs")
    out = check_writable_dir(reports, "reports")
    result = train(cfg, Path(runs) / f"icl-{preset_name}", device=device, progress=progress)
    _, model, _ = load_model(result.run_dir, device=device)
    t1 = time.monotonic()
    chance, [(documents, shots)] = evaluate(cfg, model)
    eval_seconds = time.monotonic() - t1
    models = models_file(cfg, model)
    doc = IclReport(
        preset=preset_name,
        config=cfg.to_dict(),
        device=str(dev),
        seconds=result.seconds + eval_seconds,
        train_seconds=result.seconds,
        eval_seconds=eval_seconds,
        chance=chance,
        documents=documents,
        shots=shots,
        history=result.history,
        published=published_curves(cfg),
        provenance=provenance(cfg.to_dict(), seed=None, streams=RANDOM_STREAMS),
        models_sha256=hashlib.sha256(models).hexdigest(),
    )
    write_experiment_report(
        out,
        REPORT_STEM,
        models=models,
        figure=render_figure(doc),
        document=doc.as_dict(),
        markdown=render_markdown(doc),
    )
    return doc
