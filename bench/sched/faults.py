"""What went wrong with an attempt, in words a person running a sweep can act on.

Every failed attempt is recorded in the store as ``"<kind>: <message>"``, where
``kind`` is one of :data:`FAULT_KINDS`. The kinds separate the faults a retry
can cure (a preempted node, a killed worker, a hang) from the ones it cannot
(a bad config, a missing dependency), and make GPU out-of-memory visible as
itself instead of a generic crash, because its fix is a smaller batch or a
whole GPU for that architecture, not another try.
"""

from __future__ import annotations

import traceback

import ray.exceptions

from bench.errors import BenchError

FAULT_KINDS = (
    "job_error",  # the training job raised
    "gpu_oom",  # CUDA out of memory inside the job
    "host_oom",  # host RAM exhausted (MemoryError, or Ray's memory monitor killed the worker)
    "bad_input",  # BenchError from the job: config or data problem, retrying cannot help
    "worker_died",  # the worker process exited (killed, segfault, os._exit)
    "node_died",  # the machine running the job left the cluster
    "timeout",  # ran past the sweep's per-job timeout; the worker was killed
    "dependency_missing",  # video_p without the same architecture's cls_a checkpoint
    "scheduler_error",  # the scheduler's own code around the job failed (e.g. the store was unreachable)
)

NOT_RETRIED = frozenset({"bad_input", "dependency_missing"})
"""Kinds that fail identically on every try: recorded at once as final."""


def describe(kind: str, message: str) -> str:
    """The error text stored with a failed run."""
    return f"{kind}: {message}"


def kind_of_error_text(error: str | None) -> str | None:
    """The kind prefix of a stored error text, if it has one."""
    if not error:
        return None
    head = error.split(":", 1)[0]
    return head if head in FAULT_KINDS else None


def classify_job_exception(err: BaseException) -> tuple[str, str]:
    """Kind and message (with traceback) of an exception raised by a training job, in the worker."""
    text = "".join(traceback.format_exception(type(err), err, err.__traceback__)).rstrip()
    name = type(err).__name__
    if name == "OutOfMemoryError" or "CUDA out of memory" in str(err):
        return "gpu_oom", text
    if isinstance(err, MemoryError):
        return "host_oom", text
    if isinstance(err, BenchError):
        return "bad_input", text
    return "job_error", text


def classify_ray_exception(err: BaseException, timed_out: bool) -> tuple[str, str]:
    """Kind and message of an error the driver sees instead of the attempt's result."""
    if timed_out and isinstance(err, ray.exceptions.TaskCancelledError):
        return "timeout", "the job ran past its timeout and its worker was killed"
    if isinstance(err, ray.exceptions.OutOfMemoryError):
        return "host_oom", str(err).strip().splitlines()[0] if str(err).strip() else "killed by Ray's memory monitor"
    if isinstance(err, ray.exceptions.NodeDiedError):
        return "node_died", str(err).strip() or "the node running the job died"
    if isinstance(err, (ray.exceptions.WorkerCrashedError, ray.exceptions.TaskCancelledError)):
        return "worker_died", str(err).strip() or "the worker process died"
    if isinstance(err, ray.exceptions.LocalRayletDiedError):
        return "node_died", "the raylet of the node running the job died"
    if isinstance(err, (ray.exceptions.ObjectLostError, ray.exceptions.OwnerDiedError)):
        return "worker_died", f"the attempt's result was lost: {type(err).__name__}"
    if isinstance(err, ray.exceptions.RayTaskError):
        return "scheduler_error", str(err).strip()
    return "scheduler_error", f"{type(err).__name__}: {err}"
