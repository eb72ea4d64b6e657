"""Glue from a :class:`~bench.job.JobSpec` to the ranks that train it.

Every task's job function is ``run_job(spec, make_task)``: check the devices in
the caller (clear errors before any process is spawned), then run
``make_task(spec, env)`` and :func:`~tasks.engine.loop.run_training` on every
device of the job. ``make_task`` must be a module-level function (it crosses
into spawned ranks).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from bench.errors import BenchError
from bench.job import JobResult, JobSpec
from tasks.engine.distributed import DistEnv, check_devices, run_on_devices
from tasks.engine.loop import TrainTask, run_training

TaskFactory = Callable[[JobSpec, DistEnv], TrainTask]


def run_job(spec: JobSpec, make_task: TaskFactory) -> JobResult:
    """Train ``spec`` with the task ``make_task`` builds, on all of ``spec.devices``."""
    devices = check_devices(spec.devices)
    batch = spec.recipe.runtime.batch_size
    if batch % len(devices):
        raise BenchError(
            f"runtime.batch_size={batch} cannot be split evenly over the job's {len(devices)} devices "
            f"{list(spec.devices)}; use a multiple of {len(devices)}"
        )
    return run_on_devices(_rank_entry, spec.devices, (spec, make_task))


def _rank_entry(env: DistEnv, spec: JobSpec, make_task: TaskFactory) -> JobResult:
    if env.distributed and env.device.type == "cpu":
        # CPU ranks share the machine's cores; without this each would spawn one thread per core.
        torch.set_num_threads(max(1, torch.get_num_threads() // env.world_size))
    return run_training(env, spec, make_task(spec, env))
