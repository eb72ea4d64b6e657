"""Learning curves of one setting, indexed for queries at an intermediate evaluation.

Built on the first ``at=`` query of a setting (curves are the biggest table
a setting has). Rows are sorted by (architecture, metric, seed, step) and held
in flat NumPy arrays with one dict entry per (architecture, metric), so memory
is about 30 bytes per evaluation and a lookup is one dict access plus a
vectorised scan of that architecture's few dozen points.

Training time at a point is the store's own measurement where the curve has
one, else the run's total wall time scaled by the point's position in the
schedule (``step / schedule.length`` of the run's recipe, or of the last
evaluated step when the recipe does not say): an estimate, flagged as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class CurveValue:
    """The value at one evaluation, over the seeds that have it."""

    value: float
    seconds: float | None
    estimated: bool
    n_seeds: int
    step_unit: str


class CurveIndex:
    """Evaluations during training of the runs behind a setting's measured rows.

    Example:
        >>> import pyarrow as pa
        >>> curves = pa.table({"arch_id": ["a", "a"], "seed": [0, 0], "step": [5, 10], "step_unit": ["epoch"] * 2,
        ...                    "metric": ["top1"] * 2, "value": [30.0, 50.0], "seconds": [None, None]})
        >>> runs = pa.table({"arch_id": ["a"], "seed": [0], "wall_seconds": [100.0], "schedule_length": [20]})
        >>> CurveIndex(curves, runs).point("a", "top1", 5, seed=None).seconds
        25.0
    """

    def __init__(self, curves: pa.Table, runs: pa.Table) -> None:
        curves = _with_seconds(curves, runs.select(["arch_id", "seed", "wall_seconds", "schedule_length"]))
        curves = curves.sort_by([(c, "ascending") for c in ("arch_id", "metric", "seed", "step")])
        units = pc.dictionary_encode(curves["step_unit"]).combine_chunks()
        self.unit_names: list[str] = units.dictionary.to_pylist()
        self._units = units.indices.to_numpy(zero_copy_only=False).astype(np.int8)
        self._seeds = curves["seed"].to_numpy().astype(np.int32)
        self._steps = curves["step"].to_numpy().astype(np.int64)
        self._values = curves["value"].to_numpy(zero_copy_only=False).astype(np.float64)
        self._seconds = curves["seconds"].to_numpy(zero_copy_only=False).astype(np.float64)
        self._estimated = curves["estimated"].to_numpy(zero_copy_only=False).astype(bool)
        archs, metrics = (pc.dictionary_encode(curves[c]).combine_chunks() for c in ("arch_id", "metric"))
        arch_index = archs.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        metric_index = metrics.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        keys = arch_index * max(len(metrics.dictionary), 1) + metric_index  # sorted rows: equal keys are contiguous
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, np.int64)
        ends = np.r_[starts[1:], len(keys)]
        arch_names, metric_names = archs.dictionary.to_pylist(), metrics.dictionary.to_pylist()
        self._ranges: dict[tuple[str, str], tuple[int, int]] = {
            (arch_names[arch_index[s]], metric_names[metric_index[s]]): (int(s), int(e)) for s, e in zip(starts, ends)}
        self.metrics: tuple[str, ...] = tuple(sorted({m for _, m in self._ranges}))
        self.steps: tuple[int, ...] = tuple(int(s) for s in np.unique(self._steps))

    def __len__(self) -> int:
        return len(self._steps)

    def has(self, arch_id: str) -> bool:
        """Whether any curve of ``arch_id`` is indexed."""
        return any((arch_id, m) in self._ranges for m in self.metrics)

    def steps_of(self, arch_id: str, metric: str, seed: int | None) -> list[int]:
        """The evaluated steps of one architecture's ``metric`` (of one seed, or of any)."""
        start, end = self._ranges.get((arch_id, metric), (0, 0))
        steps = self._steps[start:end]
        if seed is not None:
            steps = steps[self._seeds[start:end] == seed]
        return sorted({int(s) for s in steps})

    def point(self, arch_id: str, metric: str, step: int, seed: int | None) -> CurveValue | None:
        """The mean over seeds (or one seed) of ``metric`` at ``step``; None where no run evaluated it there."""
        start, end = self._ranges.get((arch_id, metric), (0, 0))
        rows = np.flatnonzero(self._steps[start:end] == step) + start
        if seed is not None:
            rows = rows[self._seeds[rows] == seed]
        if not len(rows):
            return None
        # A handful of rows (one per seed): Python arithmetic beats NumPy's per-call overhead here.
        values = self._values[rows].tolist()
        known = [s for s in self._seconds[rows].tolist() if not math.isnan(s)]
        return CurveValue(
            value=sum(values) / len(values),
            seconds=sum(known) / len(known) if known else None,
            estimated=bool(self._estimated[rows].any()),
            n_seeds=len(values),
            step_unit=self.unit_names[self._units[rows[0]]],
        )

def _with_seconds(curves: pa.Table, runs: pa.Table) -> pa.Table:
    """``curves`` plus ``seconds`` (measured, or estimated from the run's wall time) and ``estimated``."""
    curves = curves.set_column(curves.schema.get_field_index("seconds"), "seconds",
                               pc.cast(curves["seconds"], pa.float64()))
    last = curves.group_by(["arch_id", "seed"], use_threads=False).aggregate([("step", "max")])
    curves = curves.join(runs, ["arch_id", "seed"], join_type="inner")
    curves = curves.join(last, ["arch_id", "seed"], join_type="inner")
    length = pc.cast(pc.if_else(pc.is_null(curves["schedule_length"]), curves["step_max"], curves["schedule_length"]),
                     pa.float64())
    scaled = pc.divide(pc.multiply(curves["wall_seconds"], pc.cast(curves["step"], pa.float64())), length)
    measured = pc.invert(pc.is_null(curves["seconds"]))
    seconds = pc.if_else(measured, curves["seconds"], scaled)
    estimated = pc.and_(pc.invert(measured), pc.invert(pc.is_null(scaled)))
    return curves.select(["arch_id", "seed", "step", "step_unit", "metric", "value"]).append_column(
        "seconds", pc.fill_null(seconds, float("nan"))).append_column("estimated", estimated)
