"""Scheduling benchmark: many short jobs on simulated GPUs, through the real driver, workers and store.

    python benchmarks/bench_sched.py --jobs 10000 --gpus 64 --job-seconds 1.0

A local Ray is started with ``--gpus`` fake GPUs (Ray schedules ``num_gpus``
as a plain counted resource); every job asks for one and sleeps
``--job-seconds`` (the scripted test job), then commits its run to a fresh
store like a training job would. Reported:

- jobs/s overall and in steady state (between 10% and 90% of the jobs done);
- the gap to the ideal: ideal wall time is jobs x job_seconds / gpus; the
  per-job overhead is what each GPU slot loses between two jobs;
- the driver's resident memory at 10/50/90/100% done (flat = nothing kept
  per finished job) and its peak.

Worker processes import the project (torch included), so their start-up is
part of the overall time but not of the steady state.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ray

from bench.argtypes import count, positive
from bench.sched.codes import load_frozen
from bench.sched.driver import Driver, DriverOptions, plan_attempts
from bench.sched.jobs import JobTemplate, Resources, SweepJob
from bench.sched.progress import Progress
from bench.sched.testing_jobs import ScriptedOptions, scripted_experiment
from bench.store import Store, resume_status


def rss_mb() -> float:
    """Current resident set size of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=count, default=10_000)
    parser.add_argument("--gpus", type=count, default=64)
    parser.add_argument("--job-seconds", type=positive, default=1.0)
    parser.add_argument("--cpus", type=count, default=os.cpu_count())
    parser.add_argument("--store", default=None, help="store directory (default: a new temporary one)")
    args = parser.parse_args(argv)

    codes = load_frozen()
    seeds = math.ceil(args.jobs / len(codes))
    jobs = [SweepJob.of(code, "cls_a", seed) for seed in range(seeds) for code in codes][: args.jobs]
    store_dir = args.store or tempfile.mkdtemp(prefix="bench-sched-")
    store = Store.open(store_dir)
    experiment = scripted_experiment("cls_a", ScriptedOptions(steps=1, step_s=args.job_seconds), f"{store_dir}/data")
    template = JobTemplate(experiment, store_dir, f"{store_dir}/work")
    options = DriverOptions(max_attempts=2, poll_s=0.5)

    ray.init(num_cpus=args.cpus, num_gpus=args.gpus, include_dashboard=False, log_to_driver=False)
    t_plan = time.perf_counter()
    status = resume_status(store, [j.key for j in jobs], experiment.identity, options.max_attempts)
    attempts, done, _ = plan_attempts(status, jobs, options)
    t_plan = time.perf_counter() - t_plan
    progress = Progress("cls_a", len(jobs), done, len(attempts), out=io.StringIO(), interval_s=3600)
    driver = Driver(store, template, Resources(gpus=1, cpus=0), options, progress)

    samples: list[tuple[float, int, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.perf_counter(), progress.succeeded + progress.failed, rss_mb()))
            stop.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    rss_start = rss_mb()
    t0 = time.perf_counter()
    sampler.start()
    driver.run(attempts)
    total = time.perf_counter() - t0
    stop.set()
    sampler.join()
    samples.append((time.perf_counter(), progress.succeeded + progress.failed, rss_mb()))
    ray.shutdown()

    def first_at(fraction: float) -> tuple[float, int, float]:
        return next(s for s in samples if s[1] >= fraction * len(attempts))

    lo, hi = first_at(0.1), first_at(0.9)
    steady = (hi[1] - lo[1]) / (hi[0] - lo[0]) if hi[0] > lo[0] else float("nan")
    ideal_rate = args.gpus / args.job_seconds
    ideal = len(attempts) * args.job_seconds / args.gpus
    print(
        f"{len(attempts)} jobs of {args.job_seconds}s on {args.gpus} simulated GPUs, {args.cpus} CPUs "
        f"(failed: {progress.failed}); planning from the store took {t_plan:.2f}s"
    )
    print(
        f"overall: {total:.1f}s, {len(attempts) / total:.1f} jobs/s; ideal {ideal:.1f}s ({ideal_rate:.1f} jobs/s): "
        f"{total / ideal:.2f}x the ideal (worker start-up included)"
    )
    print(
        f"steady state (10%..90% done): {steady:.1f} jobs/s = {steady / ideal_rate:.1%} of ideal; "
        f"per-job overhead per GPU slot {args.gpus / steady - args.job_seconds:.3f}s"
    )
    marks = ", ".join(f"{int(f * 100)}%: {first_at(f)[2]:.0f} MB" for f in (0.1, 0.5, 0.9, 1.0))
    print(
        f"driver RSS: start {rss_start:.0f} MB, {marks}; "
        f"peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    print(f"store: {store_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
