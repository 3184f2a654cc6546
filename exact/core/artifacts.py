"""Artifacts on disk: provenance, atomic writes and the JSON files of run directories and reports.

Every report and run directory records the git commit, the date, the library
versions, the seed and named random streams and the resolved configuration that
produced it (:func:`provenance`). Files are written to a temporary sibling and
renamed (:func:`atomic_write_text`, :func:`write_json`), so an interrupted run never
leaves a partial file; :func:`read_json` reads one back or names the file that is
not readable.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from exact.core.validate import InputError

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "git_commit",
    "library_versions",
    "provenance",
    "read_json",
    "write_json",
]

LIBRARIES = (
    "nonident",
    "numpy",
    "scipy",
    "sympy",
    "networkx",
    "numba",
    "llvmlite",
    "torch",
    "python-flint",
    "matplotlib",
)


def git_commit(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the repository holding ``path``."""
    cwd = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": sha, "dirty": bool(status.strip())}


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries that shape the results (without importing them)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def provenance(
    config: dict[str, Any] | None = None,
    seed: int | None = None,
    streams: dict[str, list[int]] | None = None,
) -> dict[str, Any]:
    """Commit, UTC date, platform, library versions, argv, seed, named random streams and resolved config.

    ``streams`` maps each named random stream the run drew from to its key
    (:func:`exact.core.rng.stream_names`).
    """
    return {
        **git_commit(),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "versions": library_versions(),
        "argv": list(sys.argv),
        "seed": seed,
        "random_streams": streams or {},
        "config": config or {},
    }


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same directory and a rename."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; reports are meant to be read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | os.PathLike[str], doc: Any, *, indent: int = 2) -> Path:
    """Write ``doc`` as JSON to ``path`` atomically (values JSON cannot hold are written with ``str``)."""
    return atomic_write_text(path, json.dumps(doc, indent=indent, default=str))


def read_json(path: str | os.PathLike[str], what: str) -> Any:
    """The JSON document in ``path``, or an :class:`~exact.core.validate.InputError` naming the file and ``what``."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not a readable {what} ({type(exc).__name__}: {exc})") from None
