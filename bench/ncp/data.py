"""A setting's table as plain arrays, and the seeded train/validation split by arch id.

Search never reads the store directly: the launcher turns a store table (or a
test builds a DataFrame) into :class:`SettingTable`, so the search core runs
on plain arrays and can be tested anywhere.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.code import FIELD_NAMES
from bench.cost import cost_batch
from bench.errors import BenchError
from bench.ncp.encoding import NB201_EDGES, NB201_NUM_OPS, CodeEncoding, encoding_for
from bench.settings import get_setting

NB201_CODE_COLUMNS = ("embedding", "onehot")
"""Column names accepted for nb201's 30-dim one-hot code (the store's and the pickle's is ``embedding``)."""


@dataclass(frozen=True)
class SettingTable:
    """One setting's architectures: ids, raw codes, true metrics and exact cost.

    ``x`` is (N, D) raw code values (27 integers, or the 30-dim one-hot for
    nb201); ``metrics`` maps each metric name to an (N,) float array (NaN
    where not measured); ``gflops``/``params_m`` are the published cost.
    """

    setting: str
    space: str
    arch_ids: np.ndarray
    codes: list[str]
    x: np.ndarray
    metrics: dict[str, np.ndarray]
    gflops: np.ndarray
    params_m: np.ndarray

    @property
    def encoding(self) -> CodeEncoding:
        return encoding_for(self.space)

    @property
    def main_metric(self) -> str:
        return get_setting(self.setting).main_metric

    def __len__(self) -> int:
        return len(self.arch_ids)

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
        if "gflops" in frame.columns:
            gflops = frame["gflops"].to_numpy(np.float64)
        elif "Flops" in frame.columns:
            gflops = frame["Flops"].to_numpy(np.float64) / 1e3  # the published pickle's MFLOPs
        else:
            raise BenchError(f"setting 'nb201' table has neither 'gflops' nor 'Flops'; columns are {list(frame.columns)}")
        width = NB201_EDGES * NB201_NUM_OPS
        x = np.stack([np.asarray(v, dtype=np.float32) for v in frame[column]]) if len(frame) else np.zeros((0, width))
        if x.ndim != 2 or x.shape[1] != width:
            raise BenchError(f"nb201 column {column!r} must hold {width}-dim one-hot codes, got shape {x.shape}")
        # Same code string and id as the store's import: op indices joined by '_'.
        codes = ["_".join(str(int(i)) for i in row.reshape(NB201_EDGES, NB201_NUM_OPS).argmax(-1)) for row in x]
        ids = frame["arch_id"].astype(str).to_numpy() if "arch_id" in frame.columns else np.array(
            [hashlib.sha256(f"nb201:{c}".encode()).hexdigest()[:16] for c in codes]
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
        )


def _require(frame: pd.DataFrame, columns: tuple[str, ...], setting: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise BenchError(f"setting {setting!r} table lacks columns {missing}; it has {list(frame.columns)}")


@dataclass(frozen=True)
class Split:
    """Which arch ids train and which validate; a pure function of (ids, seed, sizes)."""

    seed: int
    train_ids: tuple[str, ...]
    val_ids: tuple[str, ...]

    def masks(self, arch_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boolean (train, val) masks over a table's rows."""
        return np.isin(arch_ids, self.train_ids), np.isin(arch_ids, self.val_ids)


def split_by_arch_id(arch_ids: np.ndarray, seed: int, n_train: int = 2000, n_val: int = 500) -> Split:
    """Order ids by ``sha256(seed:arch_id)``: the first ``n_val`` validate, the next ``n_train`` train.

    Hashing the id (not shuffling rows) makes the split independent of row
    order and identical for every setting that holds the same architectures.
    With fewer than ``n_train + n_val`` ids the two parts keep their ratio.

    Example:
        >>> s = split_by_arch_id(np.array(["a", "b", "c", "d", "e"]), seed=0, n_train=4, n_val=1)
        >>> len(s.train_ids), len(s.val_ids), set(s.train_ids) & set(s.val_ids)
        (4, 1, set())
    """
    ids = sorted(set(map(str, arch_ids)), key=lambda a: hashlib.sha256(f"{seed}:{a}".encode()).hexdigest())
    if len(ids) < n_train + n_val:
        n_val = max(1, round(len(ids) * n_val / (n_train + n_val)))
        n_train = len(ids) - n_val
    return Split(seed=seed, val_ids=tuple(ids[:n_val]), train_ids=tuple(ids[n_val : n_val + n_train]))
