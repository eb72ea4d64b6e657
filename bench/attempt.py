"""One attempt of one job, start to end: its log, the job, what went wrong, and its run record.

The one place a run is committed: ``launch/train.py`` (one job, no scheduler) and the
scheduler's workers both call :func:`run_attempt`. The attempt's number comes from the
store (:func:`bench.store.resume_status`: one past the highest of any identity), so a
rerun never overwrites an earlier attempt's record or log.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
import traceback
from dataclasses import dataclass

from bench.faults import ENVIRONMENT, classify_job_exception, describe, first_line, is_disk_full
from bench.job import JobFn, JobResult, JobSpec
from bench.joblog import capture_output
from bench.store import RunRecord, Store


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended: ``kind`` is None on success, else a :data:`bench.faults.FAULT_KINDS` entry."""

    status: str  # succeeded | failed
    kind: str | None
    error: str | None  # "<kind>: <message>" as stored
    result: JobResult | None
    committed: str | None  # URI of the run record; None when nothing was committed
    wall_seconds: float

    @property
    def message(self) -> str:
        """The error's first line without its kind (what a person reads first)."""
        text = (self.error or "").split(": ", 1)[-1].strip()
        return text.splitlines()[0] if text else ""


def run_attempt(store: Store, spec: JobSpec, job: JobFn, attempt: int, *, echo: bool = False,
                commit_bad_input: bool = True) -> Outcome:
    """Run attempt ``attempt`` of ``spec`` with its output captured into the store's log, then commit it.

    Not committed: a ``bad_input`` failure when ``commit_bad_input`` is False (one job from the
    command line: bad input is the caller's to fix, nothing is recorded), and an environment
    failure such as a full disk (the attempt said nothing about the job). ``echo`` also shows
    the output on the terminal.
    """
    started_at = dt.datetime.now(dt.timezone.utc)
    header = (f"== {spec.label()} attempt {attempt} on {socket.gethostname()} pid {os.getpid()} "
              f"devices {','.join(spec.devices)} at {started_at.isoformat()}")
    result: JobResult | None = None
    kind = error = None
    t0 = time.perf_counter()
    try:
        with capture_output(store.log_uri(spec.code.arch_id, spec.setting, spec.seed, attempt), header, echo):
            try:
                result = job(spec)
            except Exception as err:  # noqa: BLE001 - every job failure is classified and recorded
                kind, message = classify_job_exception(err)
                error = describe(kind, message)
                traceback.print_exc()
    except OSError as err:  # the log itself could not be written
        if not is_disk_full(err):
            raise
        kind, error = "disk_full", describe("disk_full", f"{first_line(err)} (writing the log of {spec.label()})")
    wall = time.perf_counter() - t0
    if kind in ENVIRONMENT or (kind == "bad_input" and not commit_bad_input):
        return Outcome("failed", kind, error, None, None, wall)
    try:
        uri = commit(store, spec, result if kind is None else None, attempt, error, started_at)
    except OSError as err:
        if not is_disk_full(err):
            raise
        return Outcome("failed", "disk_full", describe("disk_full", f"{first_line(err)} (committing {spec.label()})"),
                       result, None, wall)
    return Outcome("succeeded" if kind is None else "failed", kind, error, result, uri, wall)


def commit(store: Store, spec: JobSpec, result: JobResult | None, attempt: int, error: str | None,
           started_at: dt.datetime | None = None) -> str:
    """Commit attempt ``attempt`` of ``spec``: succeeded with ``result``, else failed with ``error`` (the one
    place a run is committed; a scheduler also records here the attempts whose worker never reported)."""
    ended_at = dt.datetime.now(dt.timezone.utc)
    record = RunRecord.from_job(spec, result, attempt=attempt, status="succeeded" if error is None else "failed",
                                error=error, started_at=started_at or ended_at, ended_at=ended_at)
    return store.commit_run(record)
