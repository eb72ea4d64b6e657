"""A setting's table as plain arrays (splits: :mod:`bench.ncp.splits`).

Search never reads the store directly: the launcher turns a store table (or a
test builds a DataFrame) into :class:`SettingTable`, so the search core runs
on plain arrays and can be tested anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench import nb201
from bench.code import FIELD_NAMES
from bench.cost import cost_batch
from bench.errors import BenchError
from bench.ncp.encoding import CodeEncoding, encoding_for
from bench.settings import get_setting

NB201_CODE_COLUMNS = ("embedding", "onehot")
"""Column names accepted for nb201's 30-dim one-hot code (the store's and the pickle's is ``embedding``)."""


@dataclass(frozen=True)
class SettingTable:
    """One setting's architectures: ids, raw codes, true metrics and exact cost.

    ``x`` is (N, D) raw code values (27 integers, or the 30-dim one-hot for
    nb201); ``metrics`` maps each metric name to an (N,) float array (NaN
    where not measured); ``gflops``/``params_m`` are the published cost;
    ``official_index`` (N,) is each row's position in the published file (-1
    for rows measured here and not published; the authors' split needs it).
    """

    setting: str
    space: str
    arch_ids: np.ndarray
    codes: list[str]
    x: np.ndarray
    metrics: dict[str, np.ndarray]
    gflops: np.ndarray
    params_m: np.ndarray
    official_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        if len(self.official_index) != len(self.arch_ids):  # tables built without one: no published positions
            object.__setattr__(self, "official_index", np.full(len(self.arch_ids), -1, dtype=np.int64))

    @property
    def encoding(self) -> CodeEncoding:
        return encoding_for(self.space)

    @property
    def main_metric(self) -> str:
        return get_setting(self.setting).main_metric

    def __len__(self) -> int:
        return len(self.arch_ids)

    def subset(self, rows: np.ndarray) -> SettingTable:
        """The table restricted to ``rows`` (indices or a boolean mask), in that order."""
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows, dtype=np.int64)
        return SettingTable(
            self.setting, self.space, self.arch_ids[rows], [self.codes[i] for i in rows], self.x[rows],
            {m: v[rows] for m, v in self.metrics.items()}, self.gflops[rows], self.params_m[rows], self.official_index[rows],
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, setting: str) -> SettingTable:
        """Build from a DataFrame shaped like the store's ``load_setting`` table.

        NAS-Bench-MR settings need ``arch_id``, ``code``, the 27 code columns,
        ``gflops``, ``params_m`` and the metric columns. ``nb201`` needs a
        one-hot column (one of :data:`NB201_CODE_COLUMNS`), ``Acc`` and
        ``gflops`` (or the pickle's ``Flops`` in MFLOPs); its ``arch_id`` is
        derived as the store does if absent.
        """
        info = get_setting(setting)
        if info.space == "nb201":
            return cls._nb201(frame)
        _require(frame, ("arch_id", "code", *FIELD_NAMES, "gflops", "params_m"), setting)
        metrics = {m: frame[m].to_numpy(np.float64) for m in info.metrics if m in frame.columns}
        if info.main_metric not in metrics:
            raise BenchError(
                f"setting {setting!r} table has no main metric column {info.main_metric!r}; "
                f"columns are {list(frame.columns)}"
            )
        _check_finite(frame, (*metrics, "gflops", "params_m"), setting)
        x = frame[list(FIELD_NAMES)].to_numpy(np.int64)
        params, flops = cost_batch(x)  # exact; fills rows whose stored cost is missing
        gflops, params_m = frame["gflops"].to_numpy(np.float64), frame["params_m"].to_numpy(np.float64)
        return cls(
            setting=setting,
            space="nasbench_mr",
            arch_ids=frame["arch_id"].astype(str).to_numpy(),
            codes=frame["code"].astype(str).tolist(),
            x=x,
            metrics=metrics,
            gflops=np.where(np.isfinite(gflops), gflops, flops / 1e9),
            params_m=np.where(np.isfinite(params_m), params_m, params / 1e6),
            official_index=_official_index(frame),
        )

    @classmethod
    def _nb201(cls, frame: pd.DataFrame) -> SettingTable:
        column = next((c for c in NB201_CODE_COLUMNS if c in frame.columns), None)
        if column is None:
            raise BenchError(
                f"setting 'nb201' table has no one-hot code column (looked for {list(NB201_CODE_COLUMNS)}); "
                f"columns are {list(frame.columns)}"
            )
        _require(frame, ("Acc",), "nb201")
        _check_finite(frame, [c for c in ("Acc", "gflops", "Flops", "params_m", "Params") if c in frame.columns], "nb201")
        if "gflops" in frame.columns:
            gflops = frame["gflops"].to_numpy(np.float64)
        elif "Flops" in frame.columns:
            gflops = frame["Flops"].to_numpy(np.float64) / 1e3  # the published pickle's MFLOPs
        else:
            raise BenchError(f"setting 'nb201' table has neither 'gflops' nor 'Flops'; columns are {list(frame.columns)}")
        width = nb201.WIDTH
        x = np.stack([np.asarray(v, dtype=np.float32) for v in frame[column]]) if len(frame) else np.zeros((0, width))
        if x.ndim != 2 or x.shape[1] != width:
            raise BenchError(f"nb201 column {column!r} must hold {width}-dim one-hot codes, got shape {x.shape}")
        # Same code string and id as the store's import: op indices joined by '_'.
        ops = [nb201.ops_of_onehot(row, f"nb201 row {i}") for i, row in enumerate(x)]
        codes = [nb201.cell_code(o) for o in ops]
        ids = frame["arch_id"].astype(str).to_numpy() if "arch_id" in frame.columns else np.array(
            [nb201.cell_arch_id(o) for o in ops]
        )
        params_column = "params_m" if "params_m" in frame.columns else "Params"
        params = frame[params_column].to_numpy(np.float64) if params_column in frame.columns else np.full(len(frame), np.nan)
        return cls(
            setting="nb201",
            space="nb201",
            arch_ids=ids,
            codes=codes,
            x=x,
            metrics={"Acc": frame["Acc"].to_numpy(np.float64)},
            gflops=gflops,
            params_m=params,
            official_index=_official_index(frame),
        )


def _official_index(frame: pd.DataFrame) -> np.ndarray:
    """The store's ``official_index`` column as int64 with -1 for null (absent column: all -1)."""
    if "official_index" not in frame.columns:
        return np.full(len(frame), -1, dtype=np.int64)
    return frame["official_index"].fillna(-1).to_numpy().astype(np.int64)


def _check_finite(frame: pd.DataFrame, columns: tuple[str, ...] | list[str], setting: str) -> None:
    """Refuse +-inf (NaN means 'not measured' and is allowed), naming the row's architecture and value."""
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(np.float64)
        bad = np.flatnonzero(np.isinf(values))
        if len(bad):
            i = int(bad[0])
            who = frame["code"].iloc[i] if "code" in frame.columns else f"row {i}"
            raise BenchError(f"setting {setting!r} architecture {who} has {column}={float(values[i])!r}; "
                             f"table values must be finite numbers (or missing: NaN); {len(bad)} such row(s)")


def _require(frame: pd.DataFrame, columns: tuple[str, ...], setting: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise BenchError(f"setting {setting!r} table lacks columns {missing}; it has {list(frame.columns)}")
