"""Real, small job functions that misbehave on request: the scheduler's test and benchmark workload.

They implement the same :data:`tasks.api.JobFn` contract as the training jobs
(checkpoint into ``work_dir``, resume from it, return a ``JobResult``) but
take milliseconds, so tests can drive hundreds of attempts, kill workers and
hang jobs on purpose. Selected with ``job=scripted`` (``conf/run.yaml``);
their behaviour comes from ``config["test_job"]``:

- ``steps`` (int), ``step_s`` (seconds per step): the "training";
- ``fail``: arch ids that always raise; ``fail_once``: raise on the first try only;
- ``crash_once``: the worker process exits (``os._exit``) on the first try;
- ``hang_once`` / ``hang``: sleep far past any timeout on the first / every try;
- ``oom``: raise CUDA's out-of-memory error;
- ``ledger``: a file that gets one ``start``/``end`` line per execution
  (``O_APPEND`` writes of one short line are atomic), the ground truth of
  what really ran, for exactly-once assertions.

Metrics are a deterministic function of the arch id, under the setting's names.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.registry import Registry
from bench.settings import get_setting
from tasks.api import Artifact, CurvePoint, JobResult, JobSpec

TEST_JOBS: Registry = Registry("test job")
"""Scheduler test jobs by name; ``scripted`` is configured by ``config['test_job']``."""

HANG_S = 3600.0


def _ledger(options: Mapping[str, Any], event: str, spec: JobSpec) -> None:
    path = options.get("ledger")
    if not path:
        return
    line = f"{event} {spec.setting} {spec.code} {spec.seed} {os.getpid()}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
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


@TEST_JOBS.register("scripted")
def scripted_job(spec: JobSpec) -> JobResult:
    """Sleep through ``steps`` checkpointed steps, misbehaving as ``config['test_job']`` asks."""
    from bench.code import ArchCode

    options = dict(spec.config.get("test_job", {}))
    arch_id = ArchCode.from_string(spec.code).arch_id
    work_dir = Path(spec.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    _ledger(options, "start", spec)
    print(f"scripted job {arch_id} seed {spec.seed} in {work_dir}", flush=True)
    if arch_id in options.get("fail", ()):
        raise RuntimeError(f"scripted failure of {arch_id}")
    if arch_id in options.get("fail_once", ()) and _first_try(work_dir, "fail"):
        raise RuntimeError(f"scripted one-time failure of {arch_id}")
    if arch_id in options.get("crash_once", ()) and _first_try(work_dir, "crash"):
        os._exit(17)
    if arch_id in options.get("hang", ()) or (arch_id in options.get("hang_once", ()) and _first_try(work_dir, "hang")):
        time.sleep(HANG_S)
    if arch_id in options.get("oom", ()):
        # torch's message (its OutOfMemoryError subclasses RuntimeError); importing torch here would cost seconds
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (scripted)")
    state_path = work_dir / "state.json"
    step = first_step = json.loads(state_path.read_text())["step"] if state_path.exists() else 0
    steps = int(options.get("steps", 1))
    t0 = time.perf_counter()
    while step < steps:  # resumes where a killed attempt stopped: finished steps are not repeated
        time.sleep(float(options.get("step_s", 0.0)))
        step += 1
        tmp = state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"step": step}))
        os.replace(tmp, state_path)
    names = get_setting(spec.setting).metrics
    metrics = {name: _metric_value(arch_id, name) for name in names}
    data = state_path.read_bytes() if state_path.exists() else b""
    artifacts = (
        (Artifact("checkpoint", str(state_path), len(data), hashlib.sha256(data).hexdigest(), step),) if data else ()
    )
    _ledger(options, "end", spec)
    return JobResult(
        metrics=metrics,
        curve=tuple(
            CurvePoint(s, "epoch", names[0], metrics[names[0]] * s / max(steps, 1)) for s in range(1, steps + 1)
        ),
        artifacts=artifacts,
        wall_seconds=time.perf_counter() - t0,
        info={"scripted": True, "resumed_from_step": first_step, "init_checkpoint": spec.init_checkpoint},
    )
