"""A real, small job that misbehaves on request: the scheduler's test and benchmark workload.

It implements the same :class:`bench.job.JobFn` contract as the training jobs
(checkpoint into ``work_dir``, resume from it, return a ``JobResult``) but takes
milliseconds, so tests can drive hundreds of attempts, kill workers and hang
jobs on purpose. ``launch/run.py job=scripted`` selects it; its behaviour comes
from ``test_job`` (:class:`ScriptedOptions`):

- ``steps``, ``step_s`` (seconds per step): the "training";
- ``fail``: arch ids that always raise; ``fail_once``: raise on the first try only;
- ``bad_input``: raise a user error (a data problem no retry can fix);
- ``disk_full``: raise the error of a full disk;
- ``crash_once``: the worker process exits (``os._exit``) on the first try;
- ``hang_once`` / ``hang``: sleep far past any timeout on the first / every try;
- ``oom``: raise CUDA's out-of-memory error;
- ``ledger``: a file that gets one ``start``/``end`` line per execution
  (``O_APPEND`` writes of one short line are atomic), the ground truth of
  what really ran, for exactly-once assertions.

Metrics are a deterministic function of the arch id, under the setting's names.
Its data is nothing: runs are filed as synthetic.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BenchError
from bench.experiment import Experiment
from bench.job import Artifact, CurvePoint, DataSource, JobResult, JobSpec, TaskType
from bench.recipe import RUN_ONLY, EvalConfig, OptimConfig, Recipe, RuntimeConfig, ScheduleConfig
from bench.settings import get_setting

HANG_S = 3600.0
IDENTITY = "synthetic:scripted-job"


@dataclass(frozen=True)
class ScriptedOptions:
    """``test_job`` of ``conf/run.yaml`` (see the module docstring)."""

    steps: int = 1
    step_s: float = 0.0
    fail: tuple[str, ...] = ()
    fail_once: tuple[str, ...] = ()
    bad_input: tuple[str, ...] = ()
    disk_full: tuple[str, ...] = ()
    crash_once: tuple[str, ...] = ()
    hang_once: tuple[str, ...] = ()
    hang: tuple[str, ...] = ()
    oom: tuple[str, ...] = ()
    ledger: str | None = None


@dataclass(frozen=True, kw_only=True)
class ScriptedRecipe(Recipe):
    """The scripted job's recipe: its options (the common sections are placeholders it ignores).

    The fault switches are ``run_only``: a sweep retried without them (the fault "fixed") is
    the same experiment, as a real sweep retried after fixing its environment is.
    """

    test_job: ScriptedOptions = field(default_factory=ScriptedOptions, metadata=RUN_ONLY)


def _ledger(options: ScriptedOptions, event: str, spec: JobSpec) -> None:
    if not options.ledger:
        return
    line = f"{event} {spec.setting} {spec.code} {spec.seed} {os.getpid()}\n".encode()
    fd = os.open(options.ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _first_try(work_dir: Path, what: str) -> bool:
    """True the first time ``what`` is asked about for this job (a marker in its work_dir remembers)."""
    marker = work_dir / f"{what}.tried"
    if marker.exists():
        return False
    marker.touch()
    return True


def _metric_value(arch_id: str, metric: str) -> float:
    digest = hashlib.sha256(f"{arch_id}:{metric}".encode()).digest()
    return round(int.from_bytes(digest[:4], "big") % 10_000 / 100, 2)


def scripted_job(spec: JobSpec) -> JobResult:
    """Sleep through ``steps`` checkpointed steps, misbehaving as ``spec.recipe.test_job`` asks."""
    options: ScriptedOptions = spec.recipe.test_job
    arch_id = spec.code.arch_id
    work_dir = Path(spec.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    _ledger(options, "start", spec)
    print(f"scripted job {arch_id} seed {spec.seed} in {work_dir}", flush=True)
    if arch_id in options.fail:
        raise RuntimeError(f"scripted failure of {arch_id}")
    if arch_id in options.fail_once and _first_try(work_dir, "fail"):
        raise RuntimeError(f"scripted one-time failure of {arch_id}")
    if arch_id in options.bad_input:
        raise BenchError(f"scripted bad input: image {work_dir}/broken.jpg of {arch_id} cannot be decoded")
    if arch_id in options.disk_full:
        raise OSError(errno.ENOSPC, "No space left on device", str(work_dir / "ckpt.pt"))
    if arch_id in options.crash_once and _first_try(work_dir, "crash"):
        os._exit(17)
    if arch_id in options.hang or (arch_id in options.hang_once and _first_try(work_dir, "hang")):
        time.sleep(HANG_S)
    if arch_id in options.oom:
        # torch's message (its OutOfMemoryError subclasses RuntimeError); importing torch here would cost seconds
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (scripted)")
    state_path = work_dir / "state.json"
    step = first_step = json.loads(state_path.read_text())["step"] if state_path.exists() else 0
    t0 = time.perf_counter()
    while step < options.steps:  # resumes where a killed attempt stopped: finished steps are not repeated
        time.sleep(options.step_s)
        step += 1
        tmp = state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"step": step}))
        os.replace(tmp, state_path)
    names = get_setting(spec.setting).metrics
    metrics = {name: _metric_value(arch_id, name) for name in names}
    data = state_path.read_bytes() if state_path.exists() else b""
    artifacts = (Artifact("checkpoint", str(state_path), len(data), hashlib.sha256(data).hexdigest(), step),) if data else ()
    _ledger(options, "end", spec)
    return JobResult(
        metrics=metrics,
        curve=tuple(CurvePoint(s, "epoch", names[0], metrics[names[0]] * s / max(options.steps, 1))
                    for s in range(1, options.steps + 1)),
        artifacts=artifacts,
        wall_seconds=time.perf_counter() - t0,
        info={"scripted": True, "resumed_from_step": first_step, "init_checkpoint": spec.init_checkpoint},
    )


def _no_data(recipe: Recipe, kind: str, root: str) -> str:
    return IDENTITY


SCRIPTED = TaskType("scripted", ScriptedRecipe, scripted_job, _no_data)
"""The scripted job as a task type (a sweep's ``job=scripted`` uses it for any setting)."""


def scripted_experiment(setting: str, options: ScriptedOptions, data_root: str, variant: str = "") -> Experiment:
    """A sweep's experiment of the scripted job on ``setting`` (placeholders for the recipe's common sections)."""
    recipe = ScriptedRecipe(
        setting=setting, dataset="none", optim=OptimConfig("sgd", 0.1), schedule=ScheduleConfig("epoch", 1),
        eval=EvalConfig(1), runtime=RuntimeConfig(1, gpus=0), test_job=options,
    )
    return Experiment(SCRIPTED, recipe, DataSource("toy", data_root, IDENTITY), variant)
