"""One setting in memory, indexed so that a query is a few dict and list lookups.

Built on the setting's first touch from a :class:`~bench.benchmark.source.SettingData`:
final values as Python lists (one per metric, one entry per architecture,
sorted by ``arch_id``), each measured seed's final values as one NumPy row,
and, on the first ``at=`` query, the learning curves
(:class:`~bench.benchmark.curves.CurveIndex`). Nothing else is kept.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bench.benchmark.codes import code_matrix
from bench.benchmark.curves import CurveIndex
from bench.benchmark.result import SettingInfo
from bench.benchmark.source import DATA_KINDS, SettingData, StoreSource
from bench.settings import get_setting


class SettingTable:
    """The rows of one setting: final values (mean over seeds), each seed's values, curves on demand."""

    def __init__(self, name: str, data: SettingData, source: StoreSource) -> None:
        self.setting = get_setting(name)
        self.metrics = data.metrics
        self._source, self._runs = source, data.runs
        view = data.view.sort_by("arch_id")
        self.arch_ids: tuple[str, ...] = tuple(view["arch_id"].to_pylist())
        self.codes: tuple[str, ...] = tuple(view["code"].to_pylist())
        self.row: dict[str, int] = {a: i for i, a in enumerate(self.arch_ids)}
        self.values: dict[str, list[float | None]] = {m: view[m].to_pylist() for m in self.metrics}
        main = self.values.get(self.setting.main_metric, [None] * len(self.arch_ids))
        self.measured: list[int] = [i for i, v in enumerate(main) if v is not None]  # rows a main-metric query answers
        self.kinds: list[str] = view["data_kind"].to_pylist()
        self.n_seeds: list[int | None] = view["n_seeds"].to_pylist()
        self._view_for_codes = view.select([c for c in view.schema.names if c not in self.metrics])
        self._matrix: np.ndarray | None = None
        self._curves: CurveIndex | None = None
        self._index_seeds(data)

    def _index_seeds(self, data: SettingData) -> None:
        runs = data.runs  # sorted by (arch_id, seed)
        ids, seeds = runs["arch_id"].to_pylist(), runs["seed"].to_pylist()
        self.seed_row: dict[tuple[str, int], int] = {(a, s): i for i, (a, s) in enumerate(zip(ids, seeds))}
        self.seeds_of: dict[str, list[int]] = {}
        for arch_id, seed in zip(ids, seeds):
            self.seeds_of.setdefault(arch_id, []).append(seed)
        self.seed_wall = runs["wall_seconds"].to_numpy(zero_copy_only=False).astype(np.float64)
        self.seed_kinds: list[str] = runs["data_kind"].to_pylist()
        self.metric_column = {m: j for j, m in enumerate(self.metrics)}
        self.seed_values = np.full((len(ids), len(self.metrics)), np.nan)
        numbered = runs.select(["arch_id", "seed"]).append_column("row", pa.array(np.arange(len(ids)), pa.int64()))
        names = pa.array(self.metrics, pa.string())
        long = data.seed_metrics.filter(pc.is_in(data.seed_metrics["metric"], names))
        long = long.join(numbered, ["arch_id", "seed"], join_type="inner")
        if long.num_rows:
            rows = long["row"].to_numpy().astype(np.int64)
            columns = pc.index_in(long["metric"], value_set=names).to_numpy(zero_copy_only=False).astype(np.int64)
            self.seed_values[rows, columns] = pc.fill_null(long["value"], np.nan).to_numpy(zero_copy_only=False)
        walls = runs.group_by("arch_id", use_threads=False).aggregate([("wall_seconds", "mean")])
        self.mean_wall: dict[str, float | None] = dict(zip(walls["arch_id"].to_pylist(),
                                                           walls["wall_seconds_mean"].to_pylist()))

    def __len__(self) -> int:
        return len(self.arch_ids)

    # ------------------------------------------------------------------ lazily built parts
    def curves(self) -> CurveIndex:
        """The setting's learning curves (read from the store on the first call)."""
        if self._curves is None:
            self._curves = CurveIndex(self._source.curves(self.setting.name, self._runs), self._runs)
        return self._curves

    def matrix(self) -> np.ndarray:
        """Every row's code as numbers, for distances (built on the first call)."""
        if self._matrix is None:
            self._matrix = code_matrix(self._view_for_codes, self.setting.space)
            self._view_for_codes = None  # the matrix is all that distances need from now on
        return self._matrix

    def info(self) -> SettingInfo:
        """What :meth:`bench.Benchmark.info` reports (reads the curves of a measured setting)."""
        curves = self.curves() if len(self._runs) else None
        units = curves.unit_names if curves is not None and len(curves) else []
        counts = {kind: self.kinds.count(kind) for kind in DATA_KINDS}
        return SettingInfo(
            name=self.setting.name,
            space=self.setting.space,
            metrics=self.metrics,
            main_metric=self.setting.main_metric,
            step_unit=units[0] if len(units) == 1 else ("/".join(units) or None),
            steps=curves.steps if curves is not None else (),
            n_archs=len(self),
            n_measured=len(self.measured),
            data_kinds=tuple((k, n) for k, n in counts.items() if n),
            description=self.setting.description,
        )

