"""Run-directory plumbing shared by every training loop of :mod:`learned`.

Reading the files a run wrote without unpickling code (:func:`read_run_file`), writing them
atomically (:func:`save_atomic`), loading parameters with a one-line error on a mismatch
(:func:`load_state`), the memory limit of one run (:func:`memory_limit`), the folders a run
created (:func:`created_dirs`, removed again when it fails before its first checkpoint), the
progress bar on stderr (:class:`Progress`) and :class:`DivergedError`.
"""

from __future__ import annotations

import io
import os
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from exact.core.artifacts import atomic_write_bytes, write_json
from exact.core.limits import max_bytes
from exact.core.validate import InputError, InputTypeError
from learned.nn.model import Transformer

__all__ = [
    "deterministic",
    "DivergedError",
    "Progress",
    "created_dirs",
    "discard_unstarted",
    "on_failure",
    "load_state",
    "memory_limit",
    "read_run_file",
    "save_atomic",
]


class DivergedError(InputError):
    """The training loss of some seed became non-finite (e.g. a learning rate far too large)."""


@contextmanager
def deterministic(dev: torch.device) -> Iterator[None]:
    """PyTorch's deterministic algorithms for the duration (CPU only), then the previous setting.

    Without them the backward pass of the embedding lookup (an accumulating ``index_put_``)
    sums duplicate indices in a thread-dependent order on some batches, so two runs of the same
    config can differ in the last bits and then diverge; with them every CPU run is repeatable.
    CUDA would additionally need ``CUBLAS_WORKSPACE_CONFIG``; GPU runs are left as they are.
    """
    if dev.type != "cpu":
        yield
        return
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def read_run_file(path: Path, what: str) -> dict[str, Any]:
    """``torch.load`` a file this module wrote, or a ValueError naming the file.

    ``weights_only=True``: the files hold tensors, numbers, strings and dicts of them, and
    unpickling one never runs code (a downloaded ``model.pt`` cannot execute anything).
    """
    try:
        with warnings.catch_warnings():  # torch warns about some foreign pickles: the error below says it all
            warnings.simplefilter("ignore")
            doc = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(doc, dict) or "config" not in doc:
            raise InputTypeError("no config inside")
        return doc
    except Exception as exc:  # a truncated, empty or foreign file: one clear message
        raise InputError(f"{path} is not a readable nonident {what} ({type(exc).__name__}: {exc})") from None


class Progress:
    def __init__(self, label: str, total: int, enabled: bool) -> None:
        self.label, self.total, self.enabled = label, total, enabled
        self.t0 = self.last = time.monotonic()
        self.start_step: int | None = None

    def update(self, step: int, loss: float, force: bool = False) -> None:
        now = time.monotonic()
        if self.start_step is None:
            self.start_step = step
        if not self.enabled or (now - self.last < 0.5 and not force):
            return
        self.last = now
        rate = (step - self.start_step) / max(now - self.t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else float("nan")
        frac = step / self.total
        bar = "#" * int(24 * frac) + "-" * (24 - int(24 * frac))
        print(
            f"\r{self.label} [{bar}] {step}/{self.total} loss {loss:.5f} {rate:.1f} it/s eta {eta:.0f}s",
            end="",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self.enabled:
            print(file=sys.stderr, flush=True)


def memory_limit(dev: torch.device) -> float:
    """The memory limit of one run: ``NONIDENT_MAX_BYTES`` if set, else 4 GiB on the CPU and the GPU's memory."""
    if dev.type == "cuda" and "NONIDENT_MAX_BYTES" not in os.environ:
        return float(torch.cuda.get_device_properties(dev).total_memory)
    return max_bytes()


def created_dirs(run_dir: Path) -> list[Path]:
    """The folders that ``run_dir.mkdir(parents=True)`` would create, innermost first."""
    out, p = [], run_dir.absolute()
    while not p.exists():
        out.append(p)
        p = p.parent
    return out


def load_state(model: Transformer, state: object, what: str) -> None:
    """``model.load_state_dict(state)``, or one :class:`InputError` line that summarises the mismatch.

    (PyTorch's own message lists every key on a line of its own.)
    """
    if not isinstance(state, dict):
        raise InputError(f"{what} (no parameter dictionary)")
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) if isinstance(v, torch.Tensor) else None for k, v in state.items()}
    missing, extra = sorted(want.keys() - got.keys()), sorted(got.keys() - want.keys())
    shaped = [k for k in want if k in got and got[k] != want[k]]
    if missing or extra or shaped:
        first = f"{shaped[0]} has shape {got[shaped[0]]}, the config needs {want[shaped[0]]}" if shaped else ""
        raise InputError(
            f"{what}: {len(missing)} missing, {len(extra)} unexpected and {len(shaped)} mis-shaped tensors"
            + (f" (e.g. {first})" if first else f" (e.g. {(missing or extra)[0]!r})")
            + "; was the run trained with another config or seed count?"
        )
    model.load_state_dict(state)


def save_atomic(path: Path, obj: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def discard_unstarted(run_dir: Path, made: list[Path], names: tuple[str, ...]) -> None:
    """Remove the files ``names`` of a run that failed before its first checkpoint, then the
    folders in ``made`` (:func:`created_dirs`) that are left empty: no partial run directory stays."""
    for name in names:
        (run_dir / name).unlink(missing_ok=True)
    for folder in made:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def on_failure(run_dir: Path, made: list[Path], exc: BaseException) -> None:
    """What a training run leaves when ``exc`` stops it (call it, then re-raise ``exc``).

    Without a checkpoint nothing can be resumed: the run's files and the folders it created go
    (:func:`discard_unstarted`). After a divergence the last good checkpoint stays, its history is
    written back to ``history.json`` and a :class:`DivergedError` naming the checkpoint is raised
    instead. Any other failure leaves the checkpoint to resume from.
    """
    ckpt_path = run_dir / "checkpoint.pt"
    if not ckpt_path.exists():
        discard_unstarted(run_dir, made, ("config.json", "history.json"))
    elif isinstance(exc, DivergedError):
        ck = read_run_file(ckpt_path, "checkpoint")
        write_json(run_dir / "history.json", ck["history"], indent=1)
        raise DivergedError(
            f"{exc}; {ckpt_path} keeps the last good state (step {int(ck['step'])}) and history.json its history"
        ) from None
