"""How a found code compares with the stored architectures of a setting.

A search over ~10^23 codes rarely lands on one of the 2,500 measured ones, so
besides the exact lookup we report the NEAREST stored architecture (Euclidean
distance in the standardised code space of :mod:`bench.ncp.encoding`) with its
true metrics and rank; that is evidence about the found code, not its value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.ncp.data import SettingTable
from bench.ncp.predictor import COST_TARGETS, Predictor


def percentile(table: SettingTable, value: float) -> float:
    """Share (in %) of the setting's architectures with a LOWER true main metric than ``value``.

    Example:
        >>> import pandas as pd
        >>> from bench.ncp.synthetic import synthetic_frame
        >>> table = SettingTable.from_frame(synthetic_frame(10), "cls_a")
        >>> percentile(table, float("inf"))
        100.0
    """
    truth = table.metrics[table.main_metric]
    truth = truth[np.isfinite(truth)]
    return float(100.0 * (truth < value).sum() / max(len(truth), 1))


def _true_metrics(table: SettingTable, row: int) -> dict[str, float | None]:
    return {m: (float(v[row]) if np.isfinite(v[row]) else None) for m, v in table.metrics.items()}


def _rank(table: SettingTable, value: float) -> int:
    truth = table.metrics[table.main_metric]
    return int((truth[np.isfinite(truth)] > value).sum()) + 1


def stored_entry(table: SettingTable, row: int) -> dict[str, Any]:
    """A stored architecture: code, exact cost, true metrics, percentile and rank (1 = best)."""
    main = table.metrics[table.main_metric][row]
    entry: dict[str, Any] = {
        "code": table.codes[row],
        "arch_id": str(table.arch_ids[row]),
        "gflops": float(table.gflops[row]),
        "true": _true_metrics(table, row),
    }
    if np.isfinite(main):
        entry.update(percentile=percentile(table, float(main)), rank=_rank(table, float(main)),
                     of=int(np.isfinite(table.metrics[table.main_metric]).sum()))
    return entry


def find_row(table: SettingTable, x: np.ndarray) -> int | None:
    """Row of the table holding exactly the raw code ``x``, or None."""
    hits = np.flatnonzero((table.x == np.asarray(x)[None]).all(1))
    return int(hits[0]) if len(hits) else None


def nearest(table: SettingTable, x: np.ndarray) -> dict[str, Any]:
    """The closest stored architecture in standardised code space, with its distance."""
    enc = table.encoding
    distances = np.linalg.norm(enc.standardise(table.x) - enc.standardise(np.asarray(x)[None]), axis=1)
    measured = np.isfinite(table.metrics[table.main_metric])
    distances = np.where(measured, distances, np.inf)  # nearest MEASURED architecture
    row = int(np.argmin(distances))
    return {**stored_entry(table, row), "distance": float(distances[row])}


def table_best_predicted(predictor: Predictor, table: SettingTable) -> dict[str, Any]:
    """The stored architecture with the highest predicted main metric, with its true values."""
    predicted = predictor.predict(table.x)
    row = int(np.argmax(predicted[table.main_metric]))
    return {**stored_entry(table, row), "predicted": {m: float(v[row]) for m, v in predicted.items()}}


def table_best_measured(table: SettingTable) -> dict[str, Any]:
    """The stored architecture with the highest true main metric."""
    truth = table.metrics[table.main_metric]
    return stored_entry(table, int(np.nanargmax(truth)))


def truth_of(x: np.ndarray, table: SettingTable) -> dict[str, Any]:
    """What the store knows about one code: ``in_store``, and ``true``/``percentile``/``rank``
    when it is stored, ``nearest`` and ``table_best_measured`` always (no predictor needed)."""
    out: dict[str, Any] = {}
    row = find_row(table, x)
    out["in_store"] = row is not None
    if row is not None:
        entry = stored_entry(table, row)
        out["true"] = entry["true"]
        if "percentile" in entry:
            out["percentile"], out["rank"] = entry["percentile"], entry["rank"]
    out["nearest"] = nearest(table, x)
    out["table_best_measured"] = table_best_measured(table)
    return out


def compare_with_table(x: np.ndarray, predictor: Predictor, table: SettingTable) -> dict[str, Any]:
    """Everything the result reports about one found code for one setting: predictions and :func:`truth_of`."""
    predicted = {m: float(v[0]) for m, v in predictor.predict(np.asarray(x)[None]).items() if m not in COST_TARGETS}
    return {"predicted": predicted, **truth_of(x, table), "table_best_predicted": table_best_predicted(predictor, table)}
