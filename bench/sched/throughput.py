"""How fast one GPU trains the benchmark network: the calibration that turns closed-form FLOPs into GPU-hours.

The table (``conf/throughput/<card>.yaml``, composed into ``throughput``) holds, per task type,
MEASURED points: a code, the per-GPU batch it ran at and the samples per second one GPU reached,
at the input named by ``spec``. From them, :func:`calibrate` fits the one model the plan uses:

    seconds per GPU-step = step_overhead_s + per-GPU batch x forward GFLOPs per sample / (tflops x 1000)

``tflops`` is an effective rate of closed-form FORWARD FLOPs (the backward pass, the optimiser and
data movement are inside it); ``step_overhead_s`` is what a step costs whatever its FLOPs (kernel
launches, Python), which is why small codes are launch-bound (PERF.md). With two or more points a
least-squares line is fitted; with one point, or when the fitted line is not physical (a negative
overhead or slope, as when a larger code was measured faster), the overhead is 0 and the rate is
the geometric mean of the points' own rates. Either fitted number can be overridden from the
command line (``throughput.tasks.seg.tflops=20``); ``like: cls`` borrows another task's fit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from bench.code import ArchCode
from bench.cost import CostSpec, cost
from bench.errors import BenchError


@dataclass(frozen=True)
class MeasuredPoint:
    """One measurement: ``code`` trained at ``batch`` samples per GPU-step reached ``per_s`` samples per second."""

    code: str
    batch: int
    per_s: float


@dataclass(frozen=True)
class TaskThroughput:
    """One task type's row of the table (see the module docstring)."""

    source: str = ""
    spec: CostSpec | None = None
    points: tuple[MeasuredPoint, ...] = ()
    like: str | None = None
    step_overhead_ms: float | None = None
    tflops: float | None = None


@dataclass(frozen=True)
class ThroughputTable:
    """``card``: the GPU the points were measured on; ``tasks``: task type name -> its row."""

    card: str = ""
    tasks: Mapping[str, TaskThroughput] = field(default_factory=dict)


@dataclass(frozen=True)
class Calibration:
    """A task's fitted model: seconds per GPU-step = ``step_overhead_s`` + forward GFLOPs per GPU-step / (``tflops`` x 1e3).

    ``worst_error`` is the largest relative error of the model on the points it was fitted to
    (None when nothing was measured for this task, or the numbers were overridden).
    """

    task: str
    card: str
    step_overhead_s: float
    tflops: float
    source: str
    worst_error: float | None
    points: int = 0

    def step_seconds(self, batch_per_gpu: float, gflops_per_sample: np.ndarray | float) -> np.ndarray | float:
        """Seconds of one training step on one GPU at ``batch_per_gpu`` samples of ``gflops_per_sample`` each."""
        return self.step_overhead_s + batch_per_gpu * gflops_per_sample / (self.tflops * 1e3)


def _fit(xs: np.ndarray, ts: np.ndarray) -> tuple[float, float]:
    """(overhead s, TFLOP/s) of ``t = c + x / R`` for step GFLOPs ``xs`` and step seconds ``ts`` (module docstring)."""
    if len(xs) >= 2 and np.ptp(xs) > 0:
        slope, intercept = np.polyfit(xs, ts, 1)
        if slope > 0 and intercept >= 0:
            return float(intercept), float(1.0 / slope / 1e3)
    return 0.0, float(np.exp(np.mean(np.log(xs / ts))) / 1e3)


def calibrate(table: ThroughputTable, task: str) -> Calibration:
    """The fitted model of ``task`` (a task type: ``cls``, ``seg``, ``video``, ``det3d``) from ``table``.

    Example:
        >>> smallest = "16_16-1_1_1_16-1_2_1_1_16_16-1_3_1_1_1_16_16_16-1_4_1_1_1_1_16_16_16_16-16"
        >>> point = MeasuredPoint(smallest, 10, 100.0)
        >>> table = ThroughputTable("a card", {"cls": TaskThroughput("a test", CostSpec(), (point,))})
        >>> c = calibrate(table, "cls")
        >>> round(c.step_seconds(10, 0.040917842), 6)  # the measured step: 10 samples at 100 per second
        0.1
    """
    row = table.tasks.get(task)
    if row is None:
        raise BenchError(f"the throughput table ({table.card or 'unnamed'}) has no row for task {task!r}; it has "
                         f"{sorted(table.tasks)}: add one (conf/throughput/*.yaml) or pass "
                         f"throughput.tasks.{task}.tflops=...")
    source = row.source
    if row.like is not None:
        if row.like == task or table.tasks.get(row.like, TaskThroughput()).like is not None:
            raise BenchError(f"throughput.tasks.{task}.like={row.like!r} is invalid; valid is a task with its own "
                             "points")
        base = calibrate(table, row.like)
        overhead, rate, error, points = base.step_overhead_s, base.tflops, None, 0
        source = f"{source} [{base.source}]"
    elif row.points:
        if row.spec is None:
            raise BenchError(f"throughput.tasks.{task} has points but no spec (the input they were measured at)")
        gflops = np.array([cost(ArchCode.from_string(p.code), row.spec).gflops for p in row.points])
        batch = np.array([float(p.batch) for p in row.points])
        step_s = batch / np.array([p.per_s for p in row.points])
        overhead, rate = _fit(batch * gflops, step_s)
        predicted = overhead + batch * gflops / (rate * 1e3)
        error, points = float(np.max(np.abs(predicted / step_s - 1.0))), len(row.points)
    else:
        overhead, rate, error, points = 0.0, float("nan"), None, 0
    if row.step_overhead_ms is not None or row.tflops is not None:
        error = None  # overridden: the measured points no longer describe the model
        overhead = row.step_overhead_ms / 1e3 if row.step_overhead_ms is not None else overhead
        rate = row.tflops if row.tflops is not None else rate
        source = f"{source}; overridden"
    if not (math.isfinite(rate) and rate > 0 and overhead >= 0):
        raise BenchError(f"throughput.tasks.{task} gives no usable rate (tflops={rate}, step overhead {overhead} s); "
                         "give measured points or throughput.tasks.<task>.tflops > 0")
    return Calibration(task, table.card, overhead, rate, source, error, points)
