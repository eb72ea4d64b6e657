"""The benchmark's only door into the store: a thin adapter over the public :class:`~bench.store.Store` API.

It calls ``Store.open(uri, create=False)``, ``settings()``, ``load_setting``,
``load_runs``, ``load_metrics`` and ``load_curves``, and hands the rest of the
package plain Arrow tables whose columns it promises (below), so a change in
the store's internals stops here.

Data kinds. Every row the benchmark serves is ``real`` (measured on real
data), ``synthetic`` (a toy run on generated data) or ``imported`` (the
authors' published value): the store's ``data_kind``. The benchmark view
(``Store.load_setting``) holds real and imported rows; synthetic rows are
added only when asked, for architectures the benchmark view lacks, so a toy
number never stands in for a real or published one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from bench.code import FIELD_NAMES
from bench.settings import get_setting
from bench.store import Store

REAL, SYNTHETIC, IMPORTED = "real", "synthetic", "imported"
DATA_KINDS = (REAL, SYNTHETIC, IMPORTED)
NOT_METRICS = frozenset({"arch_id", "code", "embedding", "params_m", "gflops", "mflops", "head_params_m",
                         "head_gflops", "n_seeds", "official_index", "data_kind", *FIELD_NAMES})
RUN_KEY = ["arch_id", "seed", "attempt"]


@dataclass(frozen=True)
class SettingData:
    """One setting as the benchmark reads it on first touch.

    - ``view``: one row per visible architecture: ``arch_id``, ``code``, the 27
      code columns (NAS-Bench-MR settings), the metric columns, ``n_seeds``
      (null for imported rows), ``data_kind``;
    - ``metrics``: the metric column names of ``view``, the paper's first;
    - ``runs``: the run behind each seed of the measured rows (the latest
      succeeded attempt): ``arch_id, seed, attempt, wall_seconds, data_kind,
      schedule_length`` (steps in the recipe, null when its config does not say);
    - ``seed_metrics``: those runs' final metrics, long form ``arch_id, seed, metric, value``;
    - ``hidden_synthetic``: measured rows left out because their data is synthetic.
    """

    view: pa.Table
    metrics: tuple[str, ...]
    runs: pa.Table
    seed_metrics: pa.Table
    hidden_synthetic: int = 0


class StoreSource:
    """Read-only access to an existing store, one setting at a time.

    Example:
        >>> import tempfile
        >>> from bench.store import Store
        >>> uri = tempfile.mkdtemp(); _ = Store.open(uri)
        >>> StoreSource(uri).settings()
        []
    """

    def __init__(self, uri: str) -> None:
        self._store = Store.open(uri, create=False)
        self.uri = self._store.uri

    def settings(self) -> list[str]:
        """Settings with data in the store, in the paper's order."""
        return self._store.settings()

    def load(self, setting: str, synthetic: bool) -> SettingData:
        """The setting's rows; rows whose data is synthetic only when ``synthetic``."""
        runs = self._runs(setting)
        view, hidden = _view(self._store, setting, synthetic)
        metrics = tuple(c for c in view.schema.names if c not in NOT_METRICS)
        # Each measured row's seeds are the runs of its own kind (a real row never averages a toy run).
        shown = view.filter(pc.not_equal(view["data_kind"], IMPORTED)).select(["arch_id", "data_kind"])
        runs = runs.join(shown, ["arch_id", "data_kind"], join_type="inner") if runs.num_rows else runs
        seed_metrics = _empty_metrics()
        if runs.num_rows:
            long = self._store.load_metrics(setting).select([*RUN_KEY, "metric", "value"])
            seed_metrics = long.join(runs.select(RUN_KEY), RUN_KEY, join_type="inner").select(
                ["arch_id", "seed", "metric", "value"])
        return SettingData(view, metrics, runs, seed_metrics, hidden)

    def curves(self, setting: str, runs: pa.Table) -> pa.Table:
        """Evaluations during training of ``runs`` (a ``SettingData.runs``).

        Columns: ``arch_id, seed, step, step_unit, metric, value, seconds``;
        ``seconds`` is the training time at that point where the store has
        it (column ``wall_seconds`` of the curves), else null.
        """
        if not runs.num_rows:
            return _empty_curves()
        curves = self._store.load_curves(setting)
        has_time = "wall_seconds" in curves.schema.names
        seconds = curves["wall_seconds"] if has_time else pa.nulls(len(curves), pa.float64())
        curves = curves.append_column("seconds", pc.cast(seconds, pa.float64()))
        return curves.join(runs.select(RUN_KEY), RUN_KEY, join_type="inner").select(
            ["arch_id", "seed", "step", "step_unit", "metric", "value", "seconds"])

    def _runs(self, setting: str) -> pa.Table:
        if not get_setting(setting).trainable:
            return _empty_runs()
        runs = self._store.load_runs(setting)
        benchmark_variant = pc.equal(pc.fill_null(runs["variant"], ""), "")
        runs = runs.filter(pc.and_(pc.equal(runs["status"], "succeeded"), benchmark_variant)).select(
            [*RUN_KEY, "wall_seconds", "data_kind", "config_json"])
        if not runs.num_rows:
            return _empty_runs()
        # The latest succeeded attempt of each (arch, seed) of each kind, as the store's view counts them.
        latest = runs.group_by(["arch_id", "seed", "data_kind"], use_threads=False).aggregate([("attempt", "max")])
        latest = latest.rename_columns(["arch_id", "seed", "data_kind", "attempt"])
        runs = runs.join(latest, [*RUN_KEY, "data_kind"], join_type="inner")
        columns = {
            "arch_id": runs["arch_id"], "seed": runs["seed"], "attempt": runs["attempt"],
            "wall_seconds": runs["wall_seconds"], "data_kind": runs["data_kind"],
            "schedule_length": _schedule_lengths(runs["config_json"]),
        }
        return pa.table(columns).sort_by([("arch_id", "ascending"), ("seed", "ascending")])


def _view(store: Store, setting: str, synthetic: bool) -> tuple[pa.Table, int]:
    """One row per architecture with ``data_kind``, and how many synthetic rows were left out.

    The store's benchmark view (real runs, else published values); with ``synthetic``, rows
    of runs on generated data are added for architectures the benchmark view lacks.
    """
    view = store.load_setting(setting)
    if not get_setting(setting).trainable:
        return _slim(view), 0
    toy = store.load_setting(setting, data="synthetic")
    toy = toy.filter(pc.invert(pc.is_in(toy["arch_id"], view["arch_id"])))
    if not synthetic:
        return _slim(view), toy.num_rows
    parts = [_slim(t) for t in (view, toy) if t.num_rows]
    if len(parts) > 1:
        return pa.concat_tables(parts, promote_options="permissive"), 0
    return (parts[0] if parts else _slim(view)), 0


def _slim(table: pa.Table) -> pa.Table:
    """Without the columns a query never reads (provenance of the import, cost, NAS-Bench-201's one-hot)."""
    return table.drop_columns([c for c in ("official_index", "params_m", "gflops", "mflops", "head_params_m",
                                           "head_gflops", "embedding") if c in table.schema.names])


def _schedule_lengths(configs: pa.ChunkedArray) -> pa.Array:
    """``schedule.length`` of each run's resolved config (null where absent); each distinct config parsed once."""
    lengths = {}
    for text in pc.unique(configs).to_pylist():
        try:
            schedule = json.loads(text).get("schedule") if text else None
            length = schedule.get("length") if isinstance(schedule, dict) else None
        except (ValueError, AttributeError):
            length = None
        lengths[text] = int(length) if isinstance(length, (int, float)) and length > 0 else None
    return pa.array([lengths[c] for c in configs.to_pylist()], pa.int64())


def _empty_runs() -> pa.Table:
    return pa.table({"arch_id": pa.array([], pa.string()), "seed": pa.array([], pa.int64()),
                     "attempt": pa.array([], pa.int32()), "wall_seconds": pa.array([], pa.float64()),
                     "data_kind": pa.array([], pa.string()), "schedule_length": pa.array([], pa.int64())})


def _empty_metrics() -> pa.Table:
    return pa.table({"arch_id": pa.array([], pa.string()), "seed": pa.array([], pa.int64()),
                     "metric": pa.array([], pa.string()), "value": pa.array([], pa.float64())})


def _empty_curves() -> pa.Table:
    return pa.table({"arch_id": pa.array([], pa.string()), "seed": pa.array([], pa.int64()),
                     "step": pa.array([], pa.int64()), "step_unit": pa.array([], pa.string()),
                     "metric": pa.array([], pa.string()), "value": pa.array([], pa.float64()),
                     "seconds": pa.array([], pa.float64())})
