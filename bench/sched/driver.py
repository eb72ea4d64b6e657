"""The sweep driver: a bounded window of Ray tasks, handled in completion order, retried within a budget.

The driver follows Ray's documented patterns: it keeps at most
``max_in_flight`` attempts submitted (``ray.wait`` bounds the window), takes
events in the order they complete, and ``ray.put``s the one large shared
object (the job template with the resolved recipe) once. Workers commit
results to the store themselves; the driver only counts, so its memory is
the window plus the queue of job names, whatever has finished.

The store is the source of truth: the runnable jobs are what
``store.resume_status`` calls missing or failed within the budget, and every
failed attempt is committed as a failed run (by the worker when the job
raised, by the driver when the worker never reported back), so a driver
killed at any moment loses nothing and a rerun repeats nothing that
finished. Ray's own task retries are off (``max_retries=0``): a retry here is
a new, numbered, recorded attempt.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, replace

import ray

from bench.attempt import commit
from bench.errors import BenchError, check_int, check_number, check_seconds
from bench.faults import ENVIRONMENT, NOT_RETRIED, describe, is_disk_full, kind_of_error_text
from bench.sched.faults import classify_ray_exception
from bench.sched.jobs import JobTemplate, Resources, SweepJob
from bench.sched.progress import Progress
from bench.sched.worker import Finished, Started, remote_attempt
from bench.settings import get_setting
from bench.store import ResumeStatus, Store, resume_status

CAPACITY_REFRESH_S = 30.0  # clusters grow and shrink (autoscaler, preemption): re-read their size this often
DEPENDENCY_POLL_S = 5.0


@dataclass(frozen=True)
class DriverOptions:
    """How the driver runs a sweep (all set from ``conf/run.yaml``)."""

    max_attempts: int = 3  # per job, counted across reruns from the store
    timeout_s: float | None = None  # per attempt, from the moment it started on a worker
    max_in_flight: int | None = None  # None: what the cluster can run at once, plus a small buffer
    poll_s: float = 1.0
    dependency_wait_s: float = 0.0  # a setting with init_from (video_p): how long to wait for its checkpoint
    retry_failed: bool = False  # rerun only failed jobs, each with a fresh budget of max_attempts
    max_consecutive_failures: int | None = 20  # that many failed attempts in a row, none succeeding: stop

    def __post_init__(self) -> None:
        check_int("retry.max_attempts", self.max_attempts, 1)
        check_seconds("timeout_s", self.timeout_s, "no timeout")
        if self.max_consecutive_failures is not None and self.max_consecutive_failures < 1:
            raise BenchError(
                f"max_consecutive_failures={self.max_consecutive_failures!r} is invalid; valid is null (never stop) "
                "or an integer >= 1"
            )
        if self.max_in_flight is not None and self.max_in_flight < 1:
            raise BenchError(f"max_in_flight={self.max_in_flight!r} is invalid; valid is null (auto) or >= 1")
        check_seconds("poll_s", self.poll_s)  # time.sleep and ray.wait refuse a negative wait; 0 would spin
        check_number("dependency_wait_s", self.dependency_wait_s, 0.0)


@dataclass
class Attempt:
    job: SweepJob
    number: int  # 1-based attempt number, as stored
    limit: int  # the last attempt number the budget allows
    num_gpus: float = 0.0
    started: float | None = None  # monotonic time the worker reported Started
    timed_out: bool = False
    wait_until: float = 0.0  # dependency deadline (video_p)
    last_error: str | None = None  # of the previous attempt, as stored


def plan_attempts(status: ResumeStatus, jobs: list[SweepJob], options: DriverOptions) -> tuple[list[Attempt], int, list]:
    """Runnable attempts, the number already done, and failures whose budget is spent.

    ``status`` is :func:`bench.store.resume_status` of the jobs' keys for the sweep's run identity.

    Example: with ``max_attempts=3``, a job with 1 failed attempt is rerun as
    attempt 2; one with 3 is reported, not run (``sweep=retry_failed`` gives
    it 3 more). Jobs another identity already succeeded on are refused before
    anything runs (:func:`bench.training.refuse_mixing`).
    """
    attempts: list[Attempt] = []
    spent: list[tuple[SweepJob, str]] = []
    for job in jobs:
        if job.key in status.done:
            continue
        tries, last_error = status.failed.get(job.key, (0, None))
        number = status.next_attempt(job.key)  # attempt numbers are never reused, even past a gap
        if options.retry_failed:
            if tries:
                attempts.append(Attempt(job, number, number - 1 + options.max_attempts, last_error=last_error))
        elif tries < options.max_attempts:
            limit = number - 1 + options.max_attempts - tries
            attempts.append(Attempt(job, number, limit, last_error=last_error))
        else:
            spent.append((job, last_error or "failed"))
    return attempts, sum(job.key in status.done for job in jobs), spent


def cluster_capacity(per_job: dict[str, float]) -> int:
    """How many jobs needing ``per_job`` the cluster could run at once."""
    total = ray.cluster_resources()
    if not per_job:
        return max(int(total.get("CPU", 1)), 1)
    return min(int(total.get(name, 0.0) // amount + 1e-9) for name, amount in per_job.items())


class SweepAborted(BenchError):
    """Too many attempts failed in a row, or the environment failed (a full disk): the jobs are not to blame."""


class Driver:
    """Runs the attempts of one sweep to completion; see the module docstring.

    A circuit breaker stops the sweep after ``max_consecutive_failures``
    failed attempts with no success between them (a missing package on the
    workers, an unreachable store, a dataset root that does not exist): each
    of those would otherwise burn every job's retry budget in seconds.
    """

    def __init__(
        self, store: Store, template: JobTemplate, resources: Resources, options: DriverOptions, progress: Progress
    ) -> None:
        self.store = store
        self.template = template
        self.template_ref = ray.put(template)  # the recipe is shared by every job: sent once
        self.init_from = get_setting(template.setting).init_from
        self.data_kind = template.experiment.identity.data_kind
        self.resources = resources
        self.options = options
        self.progress = progress
        self.queue: deque[Attempt] = deque()
        self.waiting: list[Attempt] = []
        self.in_flight: dict[object, Attempt] = {}
        self._window = 0
        self._window_read = -math.inf
        self._dependency_checked = -math.inf
        self._failures_in_a_row = 0

    def window(self) -> int:
        if self.options.max_in_flight is not None:
            return self.options.max_in_flight
        now = time.monotonic()
        if now - self._window_read >= CAPACITY_REFRESH_S:
            self._window_read = now
            per_job = self.resources.per_job()
            slots = cluster_capacity(per_job)
            if slots < 1 and self._window:
                return self._window  # nodes left mid-sweep: keep the window, attempts wait for nodes to return
            if slots < 1:
                raise BenchError(
                    f"no node of the cluster can run a job needing {per_job}; the cluster has "
                    f"{ray.cluster_resources()}. Lower the request (resources.gpus=..., resources.cpus=...) or, "
                    "on an autoscaling cluster that starts empty, set max_in_flight explicitly"
                )
            self._window = slots + max(1, slots // 4)  # a small queued buffer hides dispatch latency
        return self._window

    def run(self, attempts: list[Attempt]) -> Progress:
        self.queue.extend(attempts)
        progress = self.progress
        progress.tick(force=True)
        while self.queue or self.in_flight or self.waiting:
            self._release_waiting()
            self._fill()
            if not self.in_flight:
                time.sleep(self.options.poll_s)
                continue
            refs = list(self.in_flight)
            ready, _ = ray.wait(refs, num_returns=1, timeout=self.options.poll_s)
            if ready:  # take every event that is already there, not one per loop
                ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            for gen in ready:
                self._handle(gen)
            self._enforce_timeouts()
            progress.waiting = len(self.waiting)
            progress.tick()
        progress.tick(force=True)
        return progress

    def _fill(self) -> None:
        window = self.window()
        while self.queue and len(self.in_flight) < window:
            attempt = self.queue.popleft()
            init_checkpoint = None
            if self.init_from is not None:
                init_checkpoint = self._init_checkpoint(attempt.job)
                if init_checkpoint is None:
                    self._dependency_missing(attempt)
                    continue
            attempt.num_gpus = self.resources.gpus_for(attempt.job)
            options = self.resources.ray_options(attempt.job)
            gen = remote_attempt.options(**options).remote(
                self.template_ref, attempt.job, attempt.number, init_checkpoint, attempt.num_gpus
            )
            self.in_flight[gen] = attempt

    def _init_checkpoint(self, job: SweepJob) -> str | None:
        return self.store.find_checkpoint(job.arch_id, self.init_from, job.seed, data_kind=self.data_kind)

    def _dependency_missing(self, attempt: Attempt) -> None:
        now = time.monotonic()
        if self.options.dependency_wait_s > 0 and attempt.wait_until == 0.0:
            attempt.wait_until = now + self.options.dependency_wait_s
        if attempt.wait_until > now:
            self.waiting.append(attempt)
            return
        job = attempt.job
        error = describe(
            "dependency_missing",
            f"{job.setting} initialises from the same architecture's {self.init_from} checkpoint, and the store "
            f"{self.template.store_uri} has none on {self.data_kind} data for {job.arch_id} seed {job.seed}"
            + (f" after waiting {self.options.dependency_wait_s:.0f}s" if self.options.dependency_wait_s else "")
            + f". Run `python launch/run.py task={self.init_from}` over the same codes first (same data=), or set "
            f"dependency_wait_s to wait for a {self.init_from} sweep running alongside",
        )
        self._record_failure(attempt, error)
        self._end_failed(attempt, error)

    def _release_waiting(self) -> None:
        now = time.monotonic()
        if not self.waiting or now - self._dependency_checked < DEPENDENCY_POLL_S:
            return
        self._dependency_checked = now
        still = []
        for attempt in self.waiting:
            job = attempt.job
            if now >= attempt.wait_until or self._init_checkpoint(job):
                self.queue.appendleft(attempt)  # _fill resolves it (again) right away
            else:
                still.append(attempt)
        self.waiting = still

    def _handle(self, gen: object) -> None:
        attempt = self.in_flight.pop(gen)
        try:
            event = ray.get(next(gen))
        except StopIteration:
            self._lost(attempt, describe("scheduler_error", "the attempt ended without reporting a result"))
            return
        except Exception as err:  # noqa: BLE001 - Ray raises many kinds; each becomes a recorded failure
            kind, message = classify_ray_exception(err, attempt.timed_out)
            self._lost(attempt, describe(kind, message))
            return
        if isinstance(event, Started):
            attempt.started = time.monotonic()
            self.progress.running += 1
            self.in_flight[gen] = attempt
            return
        assert isinstance(event, Finished), event
        self.progress.running -= 1
        self.progress.finished_attempt(event.wall_seconds, event.num_gpus)
        if event.status == "succeeded":
            self.progress.succeeded += 1
            self._failures_in_a_row = 0
        else:
            self._retry_or_fail(attempt, event.error or "failed")

    def _lost(self, attempt: Attempt, error: str) -> None:
        """The worker never reported: it died, its node died, or it was cancelled after a timeout."""
        if attempt.started is not None:
            self.progress.running -= 1
            self.progress.finished_attempt(time.monotonic() - attempt.started, attempt.num_gpus)
        # It may have committed its success just before dying; the store decides.
        identity = self.template.experiment.identity
        if attempt.job.key in resume_status(self.store, [attempt.job.key], identity, attempt.limit).done:
            self.progress.succeeded += 1
            self._failures_in_a_row = 0
            return
        self._record_failure(attempt, error)
        self._retry_or_fail(attempt, error)

    def _record_failure(self, attempt: Attempt, error: str) -> None:
        """Commit a failed attempt the worker could not (a full disk stops the sweep, not the driver)."""
        try:
            commit(self.store, self.template.spec(attempt.job, (), None), None, attempt.number, error)
        except OSError as err:  # a full disk must not take the driver down with a traceback
            if not is_disk_full(err):
                raise
            self._abort_environment(attempt, describe("disk_full", f"{err} (writing to the store {self.store.uri})"))

    def _abort_environment(self, attempt: Attempt, error: str) -> None:
        raise SweepAborted(
            f"{attempt.job.label()} attempt {attempt.number}: {error.splitlines()[0]}. Stopping the sweep: every "
            "other job would fail the same way. No retry was used and no failure recorded for it: free space (or "
            "fix the environment) and rerun the same command"
        )

    def _retry_or_fail(self, attempt: Attempt, error: str) -> None:
        kind = kind_of_error_text(error)
        if kind in ENVIRONMENT:
            self._abort_environment(attempt, error)
        head = error.strip().splitlines()[0] if error.strip() else error
        tail = error.strip().splitlines()[-1] if error.strip() else error
        detail = head if head == tail else f"{head} ... {tail}"
        self._failures_in_a_row += 1
        limit = self.options.max_consecutive_failures
        if limit is not None and self._failures_in_a_row >= limit:
            cause = ("the data or the recipe: " + detail.split(": ", 1)[-1] if kind == "bad_input" else
                     "a problem of the environment, not of the jobs: " + detail)
            raise SweepAborted(
                f"{self._failures_in_a_row} attempts in a row failed and none succeeded; the last, "
                f"{attempt.job.label()} attempt {attempt.number}. Stopping the sweep: this looks like {cause}. "
                "Each attempt is in the store with its error and log; fix the cause and rerun the same command "
                "(raise max_consecutive_failures if jobs are expected to fail this often)"
            )
        if kind not in NOT_RETRIED and attempt.number < attempt.limit:
            self.progress.retried += 1
            print(
                f"retry {attempt.job.label()} (attempt {attempt.number + 1}/{attempt.limit}) after: {detail}",
                file=self.progress.out,
                flush=True,
            )
            self.queue.append(
                replace(attempt, number=attempt.number + 1, started=None, timed_out=False, last_error=error)
            )
            return
        print(f"FAILED {attempt.job.label()} attempt {attempt.number}: {detail}", file=self.progress.out, flush=True)
        self._end_failed(attempt, error)

    def _end_failed(self, attempt: Attempt, error: str) -> None:
        self.progress.failed += 1
        self.progress.failures.append((attempt.job.label(), error))

    def _enforce_timeouts(self) -> None:
        if self.options.timeout_s is None:
            return
        now = time.monotonic()
        for gen, attempt in self.in_flight.items():
            if attempt.started is not None and not attempt.timed_out and now - attempt.started > self.options.timeout_s:
                attempt.timed_out = True
                ray.cancel(gen, force=True)  # kills the worker process: a hung job holds no GPU afterwards
