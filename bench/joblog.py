"""Per-attempt logs: everything an attempt prints goes to its own file in the store.

Redirection is at the file-descriptor level, so output of C extensions and of
processes the job spawns (DDP workers, data loaders) lands in the log too,
not only what goes through ``sys.stdout``. On a local store the log is
written in place and can be followed while the job runs; on an object store
it is written to a local temporary file and uploaded when the attempt ends
(object stores have no append). With ``echo`` (a job run from a terminal) the
output also still reaches the terminal, through a pipe copied by a thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import fsspec


def _local_path(uri: str) -> Path | None:
    if uri.startswith("file://"):
        return Path(uri[len("file://") :])
    return None if "://" in uri else Path(uri)


@contextlib.contextmanager
def job_logging() -> Iterator[None]:
    """INFO records of the job's loggers to stderr, for one attempt, unless logging is configured already
    (a launcher's Hydra set-up is; a Ray worker's is not)."""
    root = logging.getLogger()
    if root.handlers:
        yield
        return
    handler = logging.StreamHandler()  # binds the current sys.stderr, i.e. fd 2 (the log file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@contextlib.contextmanager
def capture_output(log_uri: str, header: str, echo: bool = False) -> Iterator[None]:
    """Send fds 1 and 2 of this process, and INFO logging, to ``log_uri`` (appending) until the block ends.

    ``echo`` copies the same bytes to where fd 1 pointed before (the terminal).
    """
    local = _local_path(log_uri)
    if local is not None:
        local.parent.mkdir(parents=True, exist_ok=True)
        target = local
    else:
        handle, name = tempfile.mkstemp(prefix="job-", suffix=".log")
        os.close(handle)
        target = Path(name)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(target, "ab", buffering=0) as log:
        log.write(header.encode() + b"\n")
        copiers = []
        sinks = [log.fileno(), log.fileno()]
        if echo:  # one pipe per stream, so the terminal still sees stdout and stderr apart
            for fd in (1, 2):
                read_end, write_end = os.pipe()
                copier = threading.Thread(target=_copy, args=(read_end, (log.fileno(), saved[fd - 1])), daemon=True)
                copier.start()
                copiers.append((copier, write_end))
                sinks[fd - 1] = write_end
        os.dup2(sinks[0], 1)
        os.dup2(sinks[1], 2)
        try:
            with job_logging():
                yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for copier, write_end in copiers:
                os.close(write_end)  # the copier sees end-of-file once every writer is gone
                copier.join(timeout=30)
            os.close(saved[0])
            os.close(saved[1])
    if local is None:
        try:
            with open(target, "rb") as src, fsspec.open(log_uri, "wb") as dst:
                dst.write(src.read())
        finally:
            target.unlink(missing_ok=True)


def _copy(read_end: int, destinations: tuple[int, ...]) -> None:
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            for fd in destinations:
                try:
                    os.write(fd, chunk)
                except OSError:
                    pass  # a closed terminal must not stop the log
