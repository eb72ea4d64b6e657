"""The ``result.json`` documents of a search: found code, predictions, exact cost, and the store's view.

One setting: ``predicted``, ``true``, ``percentile``, ``rank``, ``nearest`` and the
``table_best_*`` entries sit at the top level. Several settings: each of those is a
dict keyed by setting (the metric names of two settings collide, e.g. ``top1`` of
cls_a and of video). :func:`refresh_truth` redoes the store's view on a later store
(``mode=evaluate``): found codes measured since then get their ``true`` values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.code import ArchCode
from bench.ncp.data import SettingTable
from bench.ncp.nb201 import Nb201Search, ops_string
from bench.ncp.predictor import Predictor
from bench.ncp.recipe import overrides_of
from bench.ncp.report import (
    compare_with_table,
    find_row,
    nearest,
    stored_entry,
    table_best_measured,
    truth_of,
)
from bench.ncp.search import SearchOutcome, SearchRequest, exact_cost
from bench.settings import get_setting

TRUTH_KEYS = ("true", "percentile", "rank", "nearest", "table_best_measured")
NOT_STORED_NOTE = (
    "the found code is not among the store's measured architectures (the benchmark samples ~2,500 of ~10^23 codes); "
    "its true metric is unknown until it is trained. 'nearest' is the closest measured architecture."
)


def _per_setting(per: dict[str, dict[str, Any]], key: str, single: bool) -> Any:
    present = {s: v[key] for s, v in per.items() if key in v}
    if single:
        return next(iter(present.values()), None)
    return present


def _apply_truth(result: dict[str, Any], per: dict[str, dict[str, Any]]) -> None:
    """Write the per-setting store view ``per`` into ``result`` (replacing an earlier one)."""
    single = len(per) == 1
    for key in ("true", "percentile", "rank", "note"):
        result.pop(key, None)
    result["in_store"] = all(v["in_store"] for v in per.values())
    if result["in_store"]:
        for key in ("true", "percentile", "rank"):
            result[key] = _per_setting(per, key, single)
    else:
        result["true"] = None
        result["note"] = NOT_STORED_NOTE
    for key in ("nearest", "table_best_measured"):
        result[key] = _per_setting(per, key, single)


def _candidate_truth(code: str, tables: Sequence[SettingTable]) -> dict[str, Any] | None:
    x = np.asarray(ArchCode.from_string(code).to_list())
    rows = {t.setting: find_row(t, x) for t in tables}
    if any(r is None for r in rows.values()):
        return None
    true = {t.setting: float(t.metrics[t.main_metric][rows[t.setting]]) for t in tables}
    return next(iter(true.values())) if len(true) == 1 else true


CANDIDATES = 10
"""How many distinct found codes a NAS-Bench-MR result lists (best first)."""


def mr_result(outcome: SearchOutcome, request: SearchRequest, predictors: Sequence[Predictor],
              tables: Sequence[SettingTable]) -> dict[str, Any]:
    """The result document of a NAS-Bench-MR search (the best found code first)."""
    x = outcome.found[0]
    code = ArchCode.from_list(x.tolist())
    per = {t.setting: compare_with_table(x, p, t) for p, t in zip(predictors, tables)}
    single = len(per) == 1
    result: dict[str, Any] = {
        "space": "nasbench_mr",
        "code": code.to_string(),
        "arch_id": code.arch_id,
        **exact_cost(x),
        "settings": list(per),
        "strategy": request.strategy,
        "lambda": request.lam,
        "weights": list(request.weights) if request.weights else [1.0] * len(per),
        "starts": list(request.starts) or ["default"],
        "predicted": _per_setting(per, "predicted", single),
    }
    _apply_truth(result, per)
    result["table_best_predicted"] = _per_setting(per, "table_best_predicted", single)
    result["objective_J"] = float(outcome.scores[0])
    result["search_seconds"] = outcome.seconds
    result["codes_evaluated"] = outcome.evaluated
    result["candidates"] = []
    seen: set[str] = set()
    for c, s in zip(outcome.found, outcome.scores):  # best first; many starts often converge on one code
        text = ArchCode.from_list(c.tolist()).to_string()
        if text in seen:
            continue
        seen.add(text)
        result["candidates"].append({"code": text, "objective_J": float(s), **exact_cost(c),
                                     "true": _candidate_truth(text, tables)})
        if len(seen) == CANDIDATES:
            break
    result["predictor_validation"] = predictor_document(predictors)
    return result


def nb201_result(search: Nb201Search, predictor: Predictor, table: SettingTable, lam: float) -> dict[str, Any]:
    """The result document of the NAS-Bench-201 mode (FLOPs in MFLOPs, as NAS-Bench-201 reports them)."""
    found = search.found
    predicted = {m: float(v[0]) for m, v in predictor.predict(found[None]).items()}
    result: dict[str, Any] = {
        "space": "nb201",
        "code": ops_string(found),
        "ops": [int(i) for i in found.reshape(6, 5).argmax(1)],
        "onehot": [int(v) for v in found],
        "settings": ["nb201"],
        "lambda": lam,
        "iterations": int(search.propagation.x.shape[0] - 1),
        "predicted": {"Acc": predicted["Acc"], "mflops": predicted["gflops"] * 1e3},
        "objective_J": float(search.scores.max()),
        "candidates": _nb201_candidates(search, predictor),
    }
    refresh_nb201_truth(result, table)
    result["search_seconds"] = search.seconds
    result["predictor_validation"] = predictor_document([predictor])
    return result


def _nb201_candidates(search: Nb201Search, predictor: Predictor, keep: int = 10) -> list[dict[str, Any]]:
    """The distinct read-out cells, best ``J`` first (at most ``keep``), with the iteration each was first read."""
    first: dict[str, int] = {}
    for i, c in enumerate(search.candidates):
        first.setdefault(ops_string(c), i)
    order = sorted(first.values(), key=lambda i: -search.scores[i])[:keep]
    out = []
    for i in order:
        p = predictor.predict(search.candidates[i][None])
        out.append({"code": ops_string(search.candidates[i]), "iteration": int(search.iterations[i]),
                    "objective_J": float(search.scores[i]), "predicted_Acc": float(p["Acc"][0]),
                    "predicted_mflops": float(p["gflops"][0] * 1e3)})
    return out


def _with_mflops(entry: dict[str, Any]) -> dict[str, Any]:
    """A stored nb201 cell's entry with its cost in MFLOPs (None when the table lacks it) instead of GFLOPs."""
    gflops = entry.pop("gflops")
    entry["mflops"] = float(gflops * 1e3) if np.isfinite(gflops) else None
    return entry


def refresh_nb201_truth(result: dict[str, Any], table: SettingTable) -> None:
    """Fill ``true`` ({Acc, mflops} or None), ``in_store``, ``percentile``, ``rank``, ``nearest`` and
    ``table_best_measured`` of an nb201 result from ``table``; candidates get ``true_Acc``."""
    found = np.asarray(result["onehot"], dtype=np.float32)
    row = find_row(table, found)
    for key in ("percentile", "rank", "note"):
        result.pop(key, None)
    result["in_store"] = row is not None
    if row is not None:
        entry = _with_mflops(stored_entry(table, row))
        result["true"] = {"Acc": entry["true"]["Acc"], "mflops": entry["mflops"]}
        if "rank" in entry:
            result["percentile"], result["rank"] = entry["percentile"], entry["rank"]
        else:
            result["note"] = ("the found cell is in the imported table, but its accuracy is not measured there "
                              "(None or NaN in the published file). 'nearest' is the closest measured cell.")
    else:
        result["true"] = None
        result["note"] = ("the found cell is not in the imported NAS-Bench-201 table (the full table has 15,625 cells; "
                          "a sample may lack it): its true accuracy is unknown here. 'nearest' is the closest stored cell.")
    result["nearest"] = _with_mflops(nearest(table, found))
    result["table_best_measured"] = _with_mflops(table_best_measured(table))
    for candidate in result.get("candidates", []):
        ops = [int(i) for i in candidate["code"].split("_")]
        onehot = np.eye(5, dtype=np.float32)[ops].reshape(-1)
        r = find_row(table, onehot)
        candidate["true_Acc"] = None if r is None else float(table.metrics["Acc"][r])


def refresh_truth(result: dict[str, Any], tables: Sequence[SettingTable]) -> dict[str, Any]:
    """``result`` (a NAS-Bench-MR ``result.json``) with the store's view redone from ``tables``."""
    x = np.asarray(ArchCode.from_string(result["code"]).to_list())
    _apply_truth(result, {t.setting: truth_of(x, t) for t in tables})
    for candidate in result.get("candidates", []):
        candidate["true"] = _candidate_truth(candidate["code"], tables)
    return result


def predictor_document(predictors: list[Predictor]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{setting: {metric: {mae, mae_best_epoch, best_epoch, kendall_tau, spearman_rho, n, n_train, split,
    n_val, recipe, recipe_overrides, seed, loss[, loss_inner_mae][, paper_mae]}}}``; ``n`` and ``n_train`` count
    the validation and training rows on which the metric is measured, ``n_val`` the split's validation rows;
    ``paper_mae`` on the main metric only, ``loss_inner_mae`` when the loss was chosen (``auto``: each
    candidate's inner-validation MAE). NAS-Bench-201's cost is ``mflops`` (MAE in MFLOPs), as its search reports it."""
    document = {}
    for p in predictors:
        per_metric = {}
        for i, (metric, r) in enumerate(p.report.items()):
            entry = {"n_train": len(p.split.train_ids), **r, "split": p.split.kind, "n_val": len(p.split.val_ids),
                     "recipe": p.recipe.name, "recipe_overrides": overrides_of(p.recipe), "seed": p.seed,
                     "loss": p.loss}
            if p.loss_choice is not None:
                entry["loss_inner_mae"] = p.loss_choice.inner_mae
            if i == 0:
                entry["paper_mae"] = get_setting(p.setting).paper_predictor_mae
            metric, entry = _in_search_units(p.setting, metric, entry)
            per_metric[metric] = entry
        document[p.setting] = per_metric
    return document


def _in_search_units(setting: str, metric: str, entry: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The NAS-Bench-201 cost as the search and the paper state it, in MFLOPs (``mflops``, errors x 1000),
    not the store's GFLOPs (an error of 0.0008 GFLOPs reads as zero); other metrics unchanged."""
    if metric != "gflops" or get_setting(setting).space != "nb201":
        return metric, entry
    scaled = {k: (None if entry[k] is None else entry[k] * 1e3) for k in ("mae", "mae_best_epoch")}
    return "mflops", {**entry, **scaled}
