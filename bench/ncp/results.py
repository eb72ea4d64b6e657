"""The ``result.json`` documents of a search: found code, predictions, exact cost, and the store's view.

One setting: ``predicted``, ``true``, ``percentile``, ``nearest`` and
``table_best_predicted`` sit at the top level. Several settings: each of
those is a dict keyed by setting (the metric names of two settings collide,
e.g. ``top1`` of cls_a and of video).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from bench.code import ArchCode
from bench.ncp.data import SettingTable
from bench.ncp.encoding import nb201_ops
from bench.ncp.predictor import Predictor
from bench.ncp.report import compare_with_table, find_row, nearest, percentile, stored_entry, table_best_measured
from bench.ncp.search import SearchOutcome, SearchRequest, exact_cost


def _per_setting(per: dict[str, dict[str, Any]], key: str, single: bool) -> Any:
    present = {s: v[key] for s, v in per.items() if key in v}
    if single:
        return next(iter(present.values()), None)
    return present


def mr_result(outcome: SearchOutcome, request: SearchRequest, predictors: Sequence[Predictor],
              tables: Sequence[SettingTable]) -> dict[str, Any]:
    """The result document of a NAS-Bench-MR search (the best found code first)."""
    x = outcome.found[0]
    code = ArchCode.from_list(x.tolist())
    per = {t.setting: compare_with_table(x, p, t) for p, t in zip(predictors, tables)}
    single = len(per) == 1
    result: dict[str, Any] = {
        "code": code.to_string(),
        "arch_id": code.arch_id,
        **exact_cost(x),
        "settings": list(per),
        "strategy": request.strategy,
        "lambda": request.lam,
        "weights": list(request.weights) if request.weights else [1.0] * len(per),
        "starts": list(request.starts) or ["default"],
        "predicted": _per_setting(per, "predicted", single),
        "in_store": all(v["in_store"] for v in per.values()),
    }
    if result["in_store"]:
        result["true"] = _per_setting(per, "true", single)
        result["percentile"] = _per_setting(per, "percentile", single)
        result["rank"] = _per_setting(per, "rank", single)
    else:
        result["note"] = (
            "the found code is not among the store's measured architectures (the benchmark samples ~2,500 of "
            "~10^23 codes); its true metric is unknown. 'nearest' is the closest measured architecture."
        )
    result["nearest"] = _per_setting(per, "nearest", single)
    result["table_best_predicted"] = _per_setting(per, "table_best_predicted", single)
    result["table_best_measured"] = _per_setting(per, "table_best_measured", single)
    result["objective_J"] = float(outcome.scores[0])
    result["search_seconds"] = outcome.seconds
    result["codes_evaluated"] = outcome.evaluated
    result["candidates"] = [
        {"code": ArchCode.from_list(c.tolist()).to_string(), "objective_J": float(s), **exact_cost(c)}
        for c, s in zip(outcome.found[:10], outcome.scores[:10])
    ]
    result["predictor_validation"] = {p.setting: p.report for p in predictors}
    return result


def nb201_result(found: np.ndarray, predictor: Predictor, table: SettingTable, lam: float,
                 seconds: float, iterations: int) -> dict[str, Any]:
    """The result document of the NAS-Bench-201 mode (FLOPs in MFLOPs, as NAS-Bench-201 reports them)."""
    predicted = {m: float(v[0]) for m, v in predictor.predict(found[None]).items()}
    ops = nb201_ops(found)
    result: dict[str, Any] = {
        "space": "nb201",
        "code": "_".join(map(str, ops)),
        "ops": ops,
        "onehot": [int(v) for v in found],
        "lambda": lam,
        "iterations": iterations,
        "predicted": {"Acc": predicted["Acc"], "mflops": predicted["gflops"] * 1e3},
    }
    row = find_row(table, found)
    result["in_store"] = row is not None
    if row is not None:
        result["true"] = {"Acc": float(table.metrics["Acc"][row]), "mflops": float(table.gflops[row] * 1e3)}
        result["percentile"] = percentile(table, float(table.metrics["Acc"][row]))
        result["rank"] = stored_entry(table, row)["rank"]
    else:
        result["true"] = None
        result["note"] = (
            "the found architecture is not in the imported NAS-Bench-201 table (a sample of the 15,625); "
            "its true accuracy and FLOPs are unknown here. 'nearest' is the closest stored one."
        )
    near = nearest(table, found)
    near["mflops"] = near.pop("gflops") * 1e3
    best = table_best_measured(table)
    best["mflops"] = best.pop("gflops") * 1e3
    result["nearest"] = near
    result["table_best_measured"] = best
    result["search_seconds"] = seconds
    result["predictor_validation"] = predictor.report
    return result
