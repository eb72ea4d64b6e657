"""``Benchmark``: query NAS-Bench-MR from a search algorithm, across settings, fidelities and a budget.

Opening a store reads one small file; a setting is read on its first query
(its final values, and its runs' seeds and wall times), its learning curves
on its first ``at=`` query. After that a query is dict and list lookups (a
few microseconds). A Benchmark reads each setting once: open it again to see
runs committed since.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from bench.benchmark.budget import Budget
from bench.benchmark.codes import ARCH_ID, CodeLike, arch_id_of, code_vector, distances
from bench.benchmark.result import ArchNotFound, Result, SettingInfo
from bench.benchmark.source import IMPORTED, StoreSource
from bench.benchmark.table import SettingTable
from bench.code import ArchCode
from bench.errors import BenchError, CodeError, check_int
from bench.settings import get_setting


class Benchmark:
    """A results store seen as a benchmark: final values, values during training, and their cost.

    ``query`` answers one (architecture, setting); ``query_settings`` one
    architecture on several settings (the multi-task view). Rows whose data is
    synthetic (toy runs on generated data) are hidden unless
    ``include_synthetic``. With a :class:`Budget`, every query is charged its
    simulated training time and raises :class:`BudgetExceeded` once spent.

    Example:
        >>> import tempfile
        >>> from bench.store import Store
        >>> uri = tempfile.mkdtemp(); _ = Store.open(uri)
        >>> Benchmark.open(uri).settings()
        []
    """

    def __init__(self, source: StoreSource, *, include_synthetic: bool = False, budget: Budget | None = None) -> None:
        self._source = source
        self.include_synthetic = include_synthetic
        self.budget = budget
        self._tables: dict[str, SettingTable] = {}
        self._settings: list[str] | None = None

    @classmethod
    def open(cls, uri: str, *, include_synthetic: bool = False, budget: Budget | None = None) -> Benchmark:
        """Open an existing store (a directory or an fsspec URI such as ``s3://bucket/store``).

        Raises StoreError when ``uri`` holds no store.
        """
        return cls(StoreSource(uri), include_synthetic=include_synthetic, budget=budget)

    def __repr__(self) -> str:
        return f"Benchmark({self._source.uri!r}, settings read: {sorted(self._tables)}, budget: {self.budget})"

    # ------------------------------------------------------------------ what there is
    def settings(self) -> list[str]:
        """Settings with data in the store, in the paper's order (listed once, then remembered)."""
        if self._settings is None:
            self._settings = self._source.settings()
        return list(self._settings)

    def info(self, setting: str) -> SettingInfo:
        """Metric names, step unit and evaluated steps, size and data kinds of ``setting``."""
        return self._table(setting).info()

    def codes(self, setting: str) -> list[str]:
        """Every architecture of ``setting`` (official strings; op indices for nb201), sorted by arch_id,
        those without a value of the main metric included (``info(setting).n_measured`` counts the others)."""
        return list(self._table(setting).codes)

    def has(self, code: CodeLike, setting: str) -> bool:
        """Whether ``setting`` has data for ``code`` (CodeError if ``code`` is not a valid code at all)."""
        table = self._table(setting)
        return arch_id_of(code, table.setting.space) in table.row

    def seeds(self, code: CodeLike, setting: str) -> list[int]:
        """The seeds of ``code``'s runs in ``setting`` (``seed=`` accepts these); [] for a published row."""
        table = self._table(setting)
        arch_id, row = self._locate(table, code)
        return [] if table.kinds[row] == IMPORTED else list(table.seeds_of.get(arch_id, []))

    def sample(self, n: int, setting: str, *, seed: int | None = None) -> list[str]:
        """``n`` distinct architectures of ``setting`` drawn uniformly (free: sampling is not training)
        among those with a value of the main metric, so that every one answers a query.

        The same ``seed`` gives the same codes for the same store contents.
        """
        table = self._table(setting)
        check_int("n", n, 0)
        pool = table.measured
        if n > len(pool):
            unmeasured = len(table) - len(pool)
            raise BenchError(f"n={n} is more than the {len(pool)} architectures of {setting!r} with a measured "
                             f"{table.setting.main_metric!r}{f' (and {unmeasured} without one)' if unmeasured else ''}; "
                             f"valid is 0..{len(pool)}")
        return [table.codes[pool[i]] for i in random.Random(seed).sample(range(len(pool)), n)]

    def neighbours(self, code: CodeLike, setting: str, k: int = 8) -> list[str]:
        """The ``k`` architectures of ``setting`` with a value of the main metric closest to ``code``
        (itself excluded), nearest first.

        ``code`` may be any valid code, not only one of the setting's: mutate a
        code, then take its nearest neighbour to stay inside the benchmark.
        Distances are defined in :mod:`bench.benchmark.codes`. Free of charge.
        """
        table = self._table(setting)
        check_int("k", k, 1)
        space = table.setting.space
        row = table.row.get(arch_id_of(code, space))
        if row is None and isinstance(code, str) and ARCH_ID.fullmatch(code.strip()):
            raise ArchNotFound(f"arch_id {code!r} is not in setting {setting!r}; give a code to find its neighbours")
        matrix = table.matrix()
        far = distances(matrix, matrix[row] if row is not None else code_vector(code, space), space)
        unmeasured = np.ones(len(table), dtype=bool)
        unmeasured[table.measured] = False
        far[unmeasured] = np.inf  # a neighbour that no query answers is no step for a search
        if row is not None:
            far[row] = np.inf
        order = np.argsort(far, kind="stable")[: min(k, int(np.isfinite(far).sum()))]
        return [table.codes[i] for i in order]

    # ------------------------------------------------------------------ queries
    def query(self, code: CodeLike, setting: str, *, metric: str | None = None, at: int | None = None,
              seed: int | None = None) -> Result:
        """The value of ``metric`` (default: the setting's main metric) for ``code`` on ``setting``.

        - ``at=None``: the final value; ``at=step``: the value at that
          evaluation during training, in the setting's own unit (epochs or
          iterations: ``info(setting).step_unit``; evaluated steps:
          ``info(setting).steps``);
        - ``seed=None``: the mean over the seeds; ``seed=s``: that seed's run.

        Raises ArchNotFound (the code is valid but not in the setting),
        CodeError (not a valid code), BenchError (unknown metric, a step or
        seed the data does not have, ``at``/``seed`` on published data, which
        has final values only) and BudgetExceeded (nothing charged).

        Example (names only; docs/query.md runs real ones):
            bench.query("16_16-1_1_1_16-...-16", "seg").value            # final mIoU, mean over seeds
            bench.query(code, "cls_a", metric="top5", at=50, seed=0)     # top5 after epoch 50, seed 0
        """
        table = self._table(setting)
        arch_id, row = self._locate(table, code)
        metric = self._metric(table, metric)
        if seed is not None:
            check_int("seed", seed, 0)
        result = self._final(table, arch_id, row, metric, seed) if at is None else \
            self._at(table, arch_id, row, metric, check_int("at", at, 0), seed)
        if self.budget is not None:
            self.budget.charge([((arch_id, setting, seed), result.train_seconds)])
        return result

    def query_settings(self, code: CodeLike, settings: Sequence[str] | None = None, *,
                       seed: int | None = None) -> dict[str, Result]:
        """One architecture's final main metric on several settings: ``{setting: Result}``.

        ``settings=None`` means every setting of the store that has the
        architecture with a value of its main metric (reading each on first
        use); named settings must all have it (ArchNotFound, or BenchError
        for a value not measured, otherwise). The budget is charged for all the
        results at once, or for none.
        """
        explicit = settings is not None
        names = list(settings) if explicit else self.settings()
        results: dict[str, Result] = {}
        code_errors: list[CodeError] = []
        unmeasured: list[str] = []
        for name in names:
            table = self._table(name, required=explicit)
            if table is None:
                continue
            try:
                arch_id, row = self._locate(table, code)
            except ArchNotFound:
                if explicit:
                    raise
                continue
            except CodeError as err:  # a code of the other search space
                if explicit:
                    raise
                code_errors.append(err)
                continue
            if not explicit and seed is None and table.values[table.setting.main_metric][row] is None:
                unmeasured.append(name)  # stored there, but not measured on its main metric
                continue
            results[name] = self._final(table, arch_id, row, table.setting.main_metric, seed)
        if not results:
            if code_errors and len(code_errors) == len(names):
                raise code_errors[0]  # valid in no setting's space: say why
            stored = f" (stored in {unmeasured}, without a value of the main metric)" if unmeasured else ""
            raise ArchNotFound(f"architecture {_describe(code)} is in none of the settings {names}{stored}")
        if self.budget is not None:
            self.budget.charge([((r.arch_id, name, seed), r.train_seconds) for name, r in results.items()])
        return results

    # ------------------------------------------------------------------ internals
    def _table(self, setting: str, required: bool = True) -> SettingTable | None:
        table = self._tables.get(setting)
        if table is not None:
            return table
        get_setting(setting)  # an unknown name fails here, listing the valid ones
        data = self._source.load(setting, self.include_synthetic)
        if not data.view.num_rows:
            if not required:
                return None
            hidden = (f"; {data.hidden_synthetic} architectures with synthetic (toy) data are hidden: "
                      "open with include_synthetic=True to see them") if data.hidden_synthetic else ""
            raise BenchError(f"setting {setting!r} has no data in store {self._source.uri}{hidden}; "
                             f"settings with data: {self.settings()}")
        table = self._tables[setting] = SettingTable(setting, data, self._source)
        return table

    @staticmethod
    def _locate(table: SettingTable, code: CodeLike) -> tuple[str, int]:
        arch_id = arch_id_of(code, table.setting.space)
        row = table.row.get(arch_id)
        if row is None:
            raise ArchNotFound(f"architecture {_describe(code)} (arch_id {arch_id}) is not in setting "
                               f"{table.setting.name!r}, which has {len(table)} architectures "
                               "(Benchmark.codes lists them)")
        return arch_id, row

    @staticmethod
    def _metric(table: SettingTable, metric: str | None) -> str:
        if metric is None:
            return table.setting.main_metric
        if metric not in table.values:
            raise BenchError(f"metric {metric!r} is not one of setting {table.setting.name!r}'s: {list(table.metrics)}")
        return metric

    @staticmethod
    def _final(table: SettingTable, arch_id: str, row: int, metric: str, seed: int | None) -> Result:
        kind = table.kinds[row]
        if seed is None:
            value, seconds, n_seeds = table.values[metric][row], table.mean_wall.get(arch_id), table.n_seeds[row]
        else:
            seed_row = _seed_row(table, arch_id, row, seed)
            found = table.seed_values[seed_row, table.metric_column[metric]]
            value, n_seeds, kind = None if np.isnan(found) else float(found), 1, table.seed_kinds[seed_row]
            wall = table.seed_wall[seed_row]
            seconds = None if np.isnan(wall) else float(wall)
        if value is None:
            has = [m for m in table.metrics if table.values[m][row] is not None] if seed is None else \
                [m for m in table.metrics if not np.isnan(table.seed_values[seed_row, table.metric_column[m]])]
            raise BenchError(f"architecture {arch_id} has no {metric!r} value in setting {table.setting.name!r} "
                             f"({kind} data: not measured{'' if seed is None else f' with seed {seed}'}); "
                             f"it has values for {has}")
        return Result(arch_id, table.codes[row], table.setting.name, metric, value, None, None, seed, n_seeds,
                      seconds, False, kind)

    @staticmethod
    def _at(table: SettingTable, arch_id: str, row: int, metric: str, at: int, seed: int | None) -> Result:
        name = table.setting.name
        if table.kinds[row] == IMPORTED:
            raise BenchError(f"architecture {arch_id} of setting {name!r} has the published final values only: the "
                             "published data has no intermediate evaluations; query without at=, or measure it")
        kind = table.kinds[row] if seed is None else table.seed_kinds[_seed_row(table, arch_id, row, seed)]
        curves = table.curves()
        point = curves.point(arch_id, metric, at, seed)
        if point is None:
            steps = curves.steps_of(arch_id, metric, seed)
            which = "" if seed is None else f" (seed {seed})"
            if not steps:
                raise BenchError(f"architecture {arch_id}{which} has no learning curve of {metric!r} in setting "
                                 f"{name!r}; curves there hold {list(curves.metrics)}")
            raise BenchError(f"at={at} is not an evaluated step of architecture {arch_id}{which}'s {metric!r} in "
                             f"setting {name!r}; evaluated steps are {steps}")
        return Result(arch_id, table.codes[row], name, metric, point.value, at, point.step_unit, seed,
                      point.n_seeds, point.seconds, point.estimated, kind)


def _seed_row(table: SettingTable, arch_id: str, row: int, seed: int) -> int:
    if table.kinds[row] == IMPORTED:
        raise BenchError(f"setting {table.setting.name!r}'s published data has one value per architecture, not one "
                         "per seed; query without seed=")
    seed_row = table.seed_row.get((arch_id, seed))
    if seed_row is None:
        raise BenchError(f"architecture {arch_id} of setting {table.setting.name!r} has seeds "
                         f"{table.seeds_of.get(arch_id, [])}; seed={seed} is not one of them")
    return seed_row


def _describe(code: CodeLike) -> str:
    if isinstance(code, ArchCode):
        return code.to_string()
    return code if isinstance(code, str) else str(list(code))
