"""Checkpoint files of one job: atomic writes, newest-first resume, the keep policy.

A job's ``work_dir`` holds ``ckpt-<unit>-<step>.pt`` files. Each is written to a
temporary file in the same directory, flushed to disk and renamed over its
final name, so a job killed at any instant leaves either the old file set or
the new one, never a truncated checkpoint. Files are read with
``torch.load(weights_only=True)``: a checkpoint holds only tensors and plain
containers, never pickled objects.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import fsspec
import torch

from bench.errors import BenchError
from bench.job import Artifact

_NAME = re.compile(r"^ckpt-(epoch|iter)-(\d{8})\.pt$")
FORMAT_VERSION = 2  # 2: one format for every task (det3d included), identity with the run identity tag


def checkpoint_name(unit: str, step: int) -> str:
    """File name of the checkpoint taken after ``step`` units.

    Example:
        >>> checkpoint_name("epoch", 25)
        'ckpt-epoch-00000025.pt'
    """
    return f"ckpt-{unit}-{step:08d}.pt"


def save_atomic(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` to ``path`` so that ``path`` is never seen half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def list_checkpoints(work_dir: Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of the job's checkpoints, oldest first (temporary files ignored)."""
    if not work_dir.is_dir():
        return []
    found = []
    for path in work_dir.iterdir():
        match = _NAME.match(path.name)
        if match:
            found.append((int(match.group(2)), path))
    return sorted(found)


def load_checkpoint(uri: str | Path) -> dict[str, Any]:
    """Read a checkpoint from a local path or any fsspec URI, safely (``weights_only=True``)."""
    try:
        with fsspec.open(str(uri), "rb") as handle:
            state = torch.load(handle, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise BenchError(f"checkpoint {str(uri)!r} does not exist") from None
    except Exception as exc:  # noqa: BLE001 (unpickling errors have many types; all mean "not a checkpoint we can trust")
        raise BenchError(f"checkpoint {str(uri)!r} is unreadable or not a plain-tensor checkpoint: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise BenchError(f"checkpoint {str(uri)!r} is not a format-{FORMAT_VERSION} checkpoint of this project")
    return state


def newest_checkpoint(work_dir: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
    """The newest checkpoint in ``work_dir``, after checking it belongs to this job.

    ``identity`` (code, setting, seed, config hash) must match what the file
    recorded: resuming someone else's run, or this run under a changed recipe,
    would silently mix two experiments, so it is refused.
    """
    found = list_checkpoints(work_dir)
    if not found:
        return None
    _, path = found[-1]
    state = load_checkpoint(path)
    recorded = state.get("identity", {})
    mismatched = {k: (recorded.get(k), v) for k, v in identity.items() if recorded.get(k) != v}
    if mismatched:
        details = "; ".join(f"{k}: checkpoint has {a!r}, this job has {b!r}" for k, (a, b) in mismatched.items())
        raise BenchError(
            f"work_dir {str(work_dir)!r} holds a checkpoint of a different job ({details}); "
            "use a fresh work_dir, or delete it to start over"
        )
    return state


def prune(work_dir: Path, keep_steps: Iterable[int], keep_last: int = 1) -> None:
    """Delete checkpoints that are neither kept for good (``keep_steps``) nor among the ``keep_last`` newest."""
    found = list_checkpoints(work_dir)
    keep = set(keep_steps)
    # max(0, ...): with fewer files than keep_last, a negative slice end would delete all but the newest few
    for step, path in found[: max(0, len(found) - keep_last)]:
        if step not in keep:
            path.unlink(missing_ok=True)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def artifact_of(path: Path, kind: str, step: int | None = None) -> Artifact:
    """An :class:`~bench.job.Artifact` for a local file (absolute path as its URI)."""
    path = path.resolve()
    return Artifact(kind=kind, uri=str(path), size=path.stat().st_size, sha256=sha256_of(path), step=step)
