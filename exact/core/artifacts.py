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
import math
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
    "DEFAULT_REPORT_DIR",
    "atomic_write_bytes",
    "dumps_strict",
    "write_experiment_report",
    "json_safe",
    "atomic_write_text",
    "check_writable_dir",
    "git_commit",
    "library_versions",
    "provenance",
    "read_json",
    "verify_report_set",
    "write_json",
    "write_report_set",
]

#: Where ``nonident check`` and ``nonident reproduce`` write reports unless ``--out`` says otherwise:
#: an untracked folder, so running them never modifies the committed ``reports/``
#: (regenerated on purpose with ``--out reports``).
DEFAULT_REPORT_DIR = "runs/reports"

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


def json_safe(value: Any) -> Any:
    """``value`` with every float infinity as the string ``"inf"`` or ``"-inf"`` (strict JSON has none).

    Numpy scalars become Python numbers; a NaN is a bug (no result of this package is NaN),
    so it raises ``ValueError`` with the path of the offending entry.
    """
    return _safe(value, "$")


def _safe(value: Any, at: str) -> Any:
    if isinstance(value, float):
        if math.isnan(value):
            raise ValueError(f"NaN at {at} of a JSON document: a result of nonident must never be NaN (a bug)")
        return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): _safe(v, f"{at}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_safe(v, f"{at}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", None) == 0:  # numpy scalars
        return _safe(value.item(), at)
    return value


def dumps_strict(doc: Any, *, indent: int | None = 2, ensure_ascii: bool = False) -> str:
    """``doc`` as strict JSON (RFC 8259: no NaN or Infinity tokens; see :func:`json_safe`).

    Values JSON cannot hold (paths, fractions) are written with ``str``.
    """
    return json.dumps(json_safe(doc), indent=indent, ensure_ascii=ensure_ascii, allow_nan=False, default=str)


def write_json(path: str | os.PathLike[str], doc: Any, *, indent: int = 2) -> Path:
    """Write ``doc`` as strict JSON (:func:`dumps_strict`) to ``path`` atomically."""
    return atomic_write_text(path, dumps_strict(doc, indent=indent, ensure_ascii=True))


def read_json(path: str | os.PathLike[str], what: str) -> Any:
    """The JSON document in ``path``, or an :class:`~exact.core.validate.InputError` naming the file and ``what``."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not a readable {what} ({type(exc).__name__}: {exc})") from None


def check_writable_dir(path: str | os.PathLike[str], what: str) -> Path:
    """Check, before any work and without creating anything, that ``path`` is or can become a writable folder.

    The nearest existing folder on the way must be a writable directory. Raises
    :class:`~exact.core.validate.InputError` naming ``what`` (e.g. ``"--out"``), the path and the reason.
    """
    out = Path(path)
    probe = out.absolute()
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(f"{what} {str(path)!r} is not a writable directory ({probe} is not a directory)")
    try:  # a probe file, removed at once (os.access says yes to root even where writing fails)
        fd, name = tempfile.mkstemp(prefix=".write-probe.", dir=probe)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise InputError(f"{what} {str(path)!r} is not a writable directory ({probe}: {exc.strerror or exc})") from None
    return out


def write_experiment_report(
    out_dir: str | os.PathLike[str], stem: str, *, models: bytes, figure: bytes, document: dict[str, Any], markdown: str
) -> list[Path]:
    """An experiment's report set: ``{stem}-models.pt``, ``.png``, strict ``.json`` and ``.md`` (:func:`write_report_set`)."""
    return write_report_set(
        out_dir,
        stem,
        {
            f"{stem}-models.pt": models,
            f"{stem}.png": figure,
            f"{stem}.json": dumps_strict(document, indent=1, ensure_ascii=True).encode("utf-8"),
            f"{stem}.md": markdown.encode("utf-8"),
        },
    )


def write_report_set(out_dir: str | os.PathLike[str], stem: str, files: dict[str, bytes]) -> list[Path]:
    """Write a set of report files that belong together, plus ``{stem}.manifest.json``.

    All files are first written into a temporary folder inside ``out_dir``, then renamed into
    place one after another (microseconds apart) and the manifest last. The manifest names the
    git commit and date that every file of the set shares and each file's SHA-256, so a set
    mixed by a kill between two renames is detected by :func:`verify_report_set` rather than
    silently read. A failure before the renames leaves the previous set untouched.
    """
    import hashlib

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{stem}.staging.", dir=out))
    try:
        manifest = {
            "stem": stem,
            **git_commit(),
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
        }
        names = [*files, f"{stem}.manifest.json"]
        blobs = [*files.values(), (dumps_strict(manifest) + "\n").encode("utf-8")]
        for name, data in zip(names, blobs, strict=True):
            if Path(name).name != name:
                raise ValueError(f"report file names must be plain names, got {name!r}")
            (stage / name).write_bytes(data)
            os.chmod(stage / name, 0o644)
        for name in names:  # the manifest last: a complete manifest means every file before it landed
            os.replace(stage / name, out / name)
    finally:
        for leftover in stage.iterdir():
            leftover.unlink()
        stage.rmdir()
    return [out / name for name in names]


def verify_report_set(out_dir: str | os.PathLike[str], stem: str) -> dict[str, Any]:
    """The manifest of a report set after checking every file's SHA-256 against it.

    Raises :class:`~exact.core.validate.InputError` naming the first file that is missing or
    does not belong to the set (e.g. left from another run by an interrupted write).
    """
    import hashlib

    out = Path(out_dir)
    manifest = read_json(out / f"{stem}.manifest.json", "report manifest")
    for name, digest in manifest.get("files", {}).items():
        try:
            data = (out / name).read_bytes()
        except OSError as exc:
            raise InputError(f"{out / name} of the report set {stem!r} is not readable ({exc.strerror})") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise InputError(
                f"{out / name} does not belong to the report set {stem!r} of commit {manifest.get('commit')} "
                "(written by another run; regenerate the set)"
            )
    return dict(manifest)
