"""What the search command prints: the predictor table and the closing summary of a search."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.settings import get_setting

Say = Callable[[str], None]


def _num(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _recipe(entry: dict[str, Any]) -> str:
    """The recipe's name and the loss its members trained with (``auto: smooth_l1`` when it was chosen)."""
    if "loss" not in entry:
        return entry["recipe"]
    return f"{entry['recipe']}, {'auto: ' if 'loss_inner_mae' in entry else ''}{entry['loss']}"


def _rows(entry: dict[str, Any]) -> str:
    """The validation rows a metric's scores are on: ``502``, or ``306 of 502`` when it is missing on some."""
    n, n_val = entry.get("n"), entry["n_val"]
    return f"{n} of {n_val}" if n is not None and n < n_val else f"{n_val}"


def predictor_table(document: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Markdown rows of a ``predictor.json`` document: one per setting and metric.

    Example:
        >>> doc = {"seg": {"mIoU": {"mae": 0.7, "mae_best_epoch": 0.68, "kendall_tau": 0.75, "spearman_rho": 0.9,
        ...                         "paper_mae": 0.75, "split": "authors", "recipe": "default", "n_val": 502}}}
        >>> predictor_table(doc)[2]
        '| seg | mIoU | 0.700 | 0.680 | 0.750 | 0.750 | 0.900 | authors (502) | default |'
        >>> doc["seg"]["mIoU"].update(loss="l1", loss_inner_mae={"l1": 0.8, "smooth_l1": 0.9})
        >>> predictor_table(doc)[2].rsplit("|", 2)[1]
        ' default, auto: l1 '
        >>> doc["seg"]["mIoU"]["n"] = 306  # mIoU measured on 306 of the 502 validation rows
        >>> predictor_table(doc)[2].rsplit("|", 3)[1]
        ' authors (306 of 502) '
    """
    lines = ["| setting | metric | MAE (final) | MAE (best epoch) | paper | Kendall tau | Spearman rho | split (val. rows) | recipe |",
             "|---|---|---|---|---|---|---|---|---|"]
    for setting, metrics in document.items():
        for metric, r in metrics.items():
            paper = _num(r["paper_mae"]) if r.get("paper_mae") is not None else ""
            lines.append(f"| {setting} | {metric} | {_num(r['mae'])} | {_num(r['mae_best_epoch'])} | {paper} | "
                         f"{_num(r['kendall_tau'])} | {_num(r['spearman_rho'])} | {r['split']} ({_rows(r)}) | {_recipe(r)} |")
    return lines


def _metrics(values: dict[str, Any] | None) -> str:
    if not values:
        return "n/a"
    return ", ".join(f"{m} {_num(v, 2)}" for m, v in values.items())


def _per_setting(result: dict[str, Any], key: str) -> dict[str, Any]:
    """{setting: value} for a result of one or several settings."""
    value = result.get(key)
    settings = result["settings"]
    return {settings[0]: value} if len(settings) == 1 else (value or {})


def mr_summary(result: dict[str, Any], out: str, store: str) -> list[str]:
    """The closing lines of a NAS-Bench-MR search on the store at ``store``."""
    lines = [f"found {result['code']}  ({result['strategy']}, lambda {result['lambda']}, "
             f"{result['codes_evaluated']} codes evaluated in {result['search_seconds']:.2f} s)",
             f"  exact cost: {result['gflops']:.3f} GFLOPs, {result['params_m']:.3f} M params"]
    predicted, true, nearest = (_per_setting(result, k) for k in ("predicted", "true", "nearest"))
    ranks = _per_setting(result, "rank")
    for setting in result["settings"]:
        main = get_setting(setting).main_metric
        lines.append(f"  {setting}: predicted {_metrics(predicted.get(setting))}")
        if result["in_store"] and ranks.get(setting) is not None:
            lines.append(f"  {setting}: IN THE STORE, true {_metrics(true.get(setting))}, rank {ranks.get(setting)}")
        else:
            near = nearest[setting]
            where = (f"in the store, {main} not measured" if result["in_store"]
                     else "not in the store (true value unknown until trained)")
            lines.append(f"  {setting}: {where}; nearest measured "
                         f"{near['code']} at distance {near['distance']:.2f}: true {main} {_num(near['true'].get(main), 2)}, "
                         f"rank {near.get('rank')}/{near.get('of')}")
    tasks = " ; ".join(f"python launch/run.py task={s} store={store} sweep=file sweep.codes_file={out}/found_codes.txt"
                       for s in result["settings"])
    lines.append(f"  wrote {out}/result.json and {out}/found_codes.txt; to train what was found: {tasks}")
    return lines


def nb201_summary(result: dict[str, Any], out: str) -> list[str]:
    """The closing lines of a NAS-Bench-201 search."""
    p = result["predicted"]
    lines = [f"found NAS-Bench-201 cell {result['code']} (op index per edge), lambda {result['lambda']}, "
             f"{result['iterations']} iterations in {result['search_seconds']:.2f} s",
             f"  predicted Acc {p['Acc']:.2f}% at {p['mflops']:.1f} MFLOPs"]
    t, near = result["true"], result["nearest"]
    if t is not None and t["Acc"] is not None:
        lines.append(f"  IN THE TABLE: true Acc {t['Acc']:.2f}% at {_num(t['mflops'], 2)} MFLOPs, rank {result['rank']}")
    else:
        where = "in the imported table, its accuracy not measured" if t is not None else "not in the imported table"
        lines.append(f"  {where}: true accuracy unknown here; nearest measured cell {near['code']} "
                     f"(distance {near['distance']:.2f}): {near['true']['Acc']:.2f}% at {_num(near['mflops'], 1)} MFLOPs")
    best = result["table_best_measured"]
    lines.append(f"  table best: {best['true']['Acc']:.2f}% at {_num(best['mflops'], 1)} MFLOPs; wrote {out}/result.json")
    return lines
