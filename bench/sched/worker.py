"""One attempt of one job, as it runs on a Ray worker: train, log, commit, report.

Workers commit their own results to the store (the store is on shared
storage and each commit is one atomic file), so the driver never holds a
metric, a curve or a checkpoint list: it only sees the two tiny events an
attempt streams back, :class:`Started` (so that timeouts count from when
the job really began, not from when it was queued) and :class:`Finished`.
That keeps the driver's memory flat however many jobs have finished.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import socket
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass

import ray

from bench.sched.faults import classify_job_exception, describe
from bench.sched.joblog import capture_output
from bench.sched.jobs import JobTemplate, SweepJob
from bench.store import RunRecord, Store
from tasks.api import JobFn, JobResult, JobSpec


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


def job_function(template: JobTemplate) -> JobFn:
    """The training job for the template's setting, or a named test job."""
    if template.job_name is not None:
        from bench.sched.testing_jobs import TEST_JOBS

        return TEST_JOBS.get(template.job_name)
    from tasks import JOBS  # imports and registers the real training jobs on first use

    return JOBS.get(template.setting)


def assigned_devices() -> tuple[str, ...]:
    """Devices Ray gave this attempt: Ray sets CUDA_VISIBLE_DEVICES, so they are cuda:0..k-1."""
    gpu_ids = ray.get_gpu_ids() if ray.is_initialized() else []
    return tuple(f"cuda:{i}" for i in range(len(gpu_ids))) or ("cpu",)


def commit(
    template: JobTemplate,
    spec: JobSpec,
    result: JobResult | None,
    attempt: int,
    error: str | None,
    started_at: dt.datetime,
    ended_at: dt.datetime,
) -> None:
    """Write one attempt's run record (idempotent per (arch, setting, seed, attempt))."""
    record = RunRecord.from_job(
        spec,
        result,
        attempt=attempt,
        status="succeeded" if error is None else "failed",
        error=error,
        started_at=started_at,
        ended_at=ended_at,
        **template.provenance,
    )
    open_store(template.store_uri).commit_run(record)


def run_attempt(
    template: JobTemplate, job: SweepJob, attempt: int, init_checkpoint: str | None, num_gpus: float
) -> Iterator[Started | Finished]:
    """Run attempt ``attempt`` of ``job``; yields Started, then Finished after committing the result."""
    host = socket.gethostname()
    yield Started(host=host, pid=os.getpid(), time=time.time())
    started_at = dt.datetime.now(dt.timezone.utc)
    devices = assigned_devices()
    spec = template.spec(job, devices, init_checkpoint)
    store = open_store(template.store_uri)
    header = (
        f"== {job.label()} attempt {attempt} on {host} pid {os.getpid()} devices {','.join(devices)} "
        f"at {started_at.isoformat()}"
    )
    result: JobResult | None = None
    error: str | None = None
    t0 = time.perf_counter()
    with capture_output(store.log_uri(job.arch_id, job.setting, job.seed, attempt), header):
        try:
            result = job_function(template)(spec)
        except Exception as err:  # noqa: BLE001 - every job failure is recorded, none may stop the sweep
            kind, message = classify_job_exception(err)
            error = describe(kind, message)
            traceback.print_exc()
    wall = time.perf_counter() - t0
    commit(template, spec, result, attempt, error, started_at, dt.datetime.now(dt.timezone.utc))
    yield Finished(status="succeeded" if error is None else "failed", error=error, wall_seconds=wall, num_gpus=num_gpus)


remote_attempt = ray.remote(num_returns="streaming", max_retries=0)(run_attempt)
"""The Ray task. ``max_retries=0``: the driver retries itself, so every attempt is counted and recorded."""
