"""What went wrong with a job attempt, in words a person can act on.

Every failed attempt is recorded in the store as ``"<kind>: <message>"``, where
``kind`` is one of :data:`FAULT_KINDS`. The kinds separate the faults a retry
can cure (a preempted node, a killed worker, a hang) from the ones it cannot
(bad input, a missing dependency, a full disk), and make GPU out-of-memory
visible as itself instead of a generic crash, because its fix is a smaller
batch or a whole GPU for that architecture, not another try.
"""

from __future__ import annotations

import errno
import traceback

from bench.errors import BenchError, one_line

FAULT_KINDS = (
    "job_error",  # the training job raised
    "gpu_oom",  # CUDA out of memory inside the job
    "host_oom",  # host RAM exhausted (MemoryError, or Ray's memory monitor killed the worker)
    "bad_input",  # BenchError from the job: config or data problem, retrying cannot help
    "disk_full",  # no space left where the job writes (checkpoints, logs, the store)
    "worker_died",  # the worker process exited (killed, segfault, os._exit)
    "node_died",  # the machine running the job left the cluster
    "timeout",  # ran past the sweep's per-job timeout; the worker was killed
    "dependency_missing",  # e.g. video_p without the same architecture's cls_a checkpoint
    "scheduler_error",  # the scheduler's own code around the job failed (e.g. the store was unreachable)
)

NOT_RETRIED = frozenset({"bad_input", "dependency_missing", "disk_full"})
"""Kinds that fail identically on every try: recorded at once as final."""

ENVIRONMENT = frozenset({"disk_full"})
"""Kinds that stop a whole sweep at once: every other job would fail the same way."""

# torch reports a full disk while writing a checkpoint in its own words (its zip writer).
_DISK_FULL_TEXTS = ("No space left on device", "unexpected pos", "PytorchStreamWriter failed writing")


def describe(kind: str, message: str) -> str:
    """The error text stored with a failed run."""
    return f"{kind}: {message}"


def kind_of_error_text(error: str | None) -> str | None:
    """The kind prefix of a stored error text, if it has one."""
    if not error:
        return None
    head = error.split(":", 1)[0]
    return head if head in FAULT_KINDS else None


def is_disk_full(err: BaseException) -> bool:
    """Whether ``err`` (or an exception it was raised from) says the disk is full, in any of its forms."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(text in str(err) for text in _DISK_FULL_TEXTS):
            return True
        err = err.__cause__ or err.__context__
    return False


def first_line(err: BaseException) -> str:
    """The first line of :func:`bench.errors.one_line`: what a person reads in a summary."""
    text = one_line(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def classify_job_exception(err: BaseException) -> tuple[str, str]:
    """Kind and message of an exception raised by a training job: the one line for bad input,
    else the traceback."""
    text = "".join(traceback.format_exception(type(err), err, err.__traceback__)).rstrip()
    name = type(err).__name__
    if is_disk_full(err):
        return "disk_full", f"{first_line(err)} (no space left on the device the job writes to)"
    if name == "OutOfMemoryError" or "CUDA out of memory" in str(err):
        return "gpu_oom", text
    if isinstance(err, MemoryError):
        return "host_oom", text
    if isinstance(err, BenchError) or _wrapped_user_error(err):
        return "bad_input", first_line(err)
    return "job_error", text


def _wrapped_user_error(err: BaseException) -> bool:
    # A BenchError raised in a DataLoader worker comes back as its class rebuilt from the text;
    # a subclass that cannot be rebuilt that way comes back as a plain RuntimeError naming it.
    return "Original Traceback" in str(err) and any(
        f"{name}:" in str(err) for name in ("BenchError", "DataError", "CodeError", "ConfigError", "StoreError"))
