"""What went wrong with an attempt the driver sees through Ray (the job's own faults: :mod:`bench.faults`)."""

from __future__ import annotations

import ray.exceptions


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
