"""One attempt of one job, as it runs on a Ray worker: :func:`bench.attempt.run_attempt`, reported.

Workers commit their own results to the store (the store is on shared
storage and each commit is one atomic file), so the driver never holds a
metric, a curve or a checkpoint list: it only sees the two tiny events an
attempt streams back, :class:`Started` (so that timeouts count from when
the job really began, not from when it was queued) and :class:`Finished`.
That keeps the driver's memory flat however many jobs have finished.
"""

from __future__ import annotations

import functools
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import ray

from bench.attempt import run_attempt
from bench.sched.jobs import JobTemplate, SweepJob
from bench.store import Store


@dataclass(frozen=True)
class Started:
    host: str
    pid: int
    time: float


@dataclass(frozen=True)
class Finished:
    status: str  # "succeeded" or "failed"
    error: str | None  # "<kind>: <message>" when failed
    wall_seconds: float
    num_gpus: float


@functools.lru_cache(maxsize=4)
def open_store(uri: str) -> Store:
    """One Store per worker process and URI (workers are reused across attempts)."""
    return Store.open(uri)


def assigned_devices() -> tuple[str, ...]:
    """Devices Ray gave this attempt: Ray sets CUDA_VISIBLE_DEVICES, so they are cuda:0..k-1."""
    gpu_ids = ray.get_gpu_ids() if ray.is_initialized() else []
    return tuple(f"cuda:{i}" for i in range(len(gpu_ids))) or ("cpu",)


def attempt_on_worker(
    template: JobTemplate, job: SweepJob, attempt: int, init_checkpoint: str | None, num_gpus: float
) -> Iterator[Started | Finished]:
    """Run attempt ``attempt`` of ``job``; yields Started, then Finished after committing the result."""
    yield Started(host=socket.gethostname(), pid=os.getpid(), time=time.time())
    spec = template.spec(job, assigned_devices(), init_checkpoint)
    outcome = run_attempt(open_store(template.store_uri), spec, template.experiment.task.run, attempt)
    yield Finished(status=outcome.status, error=outcome.error, wall_seconds=outcome.wall_seconds, num_gpus=num_gpus)


remote_attempt = ray.remote(num_returns="streaming", max_retries=0)(attempt_on_worker)
"""The Ray task. ``max_retries=0``: the driver retries itself, so every attempt is counted and recorded."""
