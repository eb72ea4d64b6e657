"""NCP quality against the paper on the settings of a store (docs/search.md, "Quality").

    python benchmarks/ncp_quality.py STORE_URI [--settings cls_a seg video] [--seeds 0 1 2]

For each setting: the predictor's validation MAE / Kendall tau / Spearman rho
(paper recipe), then every search method at several lambdas: the found code's
predicted main metric and exact GFLOPs, the nearest measured architecture's
rank, and the best MEASURED architecture overall and at no more FLOPs than the
found one. On an nb201 table: the found architecture against the table's best.
Prints Markdown.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bench.ncp.data import SettingTable
from bench.ncp.predictor import PredictorConfig, train_predictor
from bench.ncp.report import find_row, nearest
from bench.ncp.search import SearchRequest, exact_cost, search_mr, search_nb201
from bench.store import Store

PAPER_MAE = {"cls_a": 0.56, "cls_b": 1.07, "cls_c": 0.83, "cls_10c": 1.05, "seg": 0.75, "seg_4x": 0.88,
             "det3d": 0.85, "video": 1.07, "video_p": 1.26}


def best_within(table: SettingTable, gflops: float) -> tuple[float, float]:
    """Best true main metric among stored architectures with at most ``gflops``, and its GFLOPs."""
    truth = table.metrics[table.main_metric]
    ok = (table.gflops <= gflops + 1e-12) & np.isfinite(truth)
    if not ok.any():
        return float("nan"), float("nan")
    i = np.flatnonzero(ok)[np.argmax(truth[ok])]
    return float(truth[i]), float(table.gflops[i])


def mr_section(table: SettingTable, seeds: list[int]) -> None:
    main = table.main_metric
    truth = table.metrics[main]
    best = int(np.nanargmax(truth))
    print(f"\n### {table.setting} (main metric {main}; best measured {truth[best]:.2f} at {table.gflops[best]:.2f} GFLOPs)\n")
    predictors = []
    for seed in seeds:
        began = time.perf_counter()
        predictors.append(train_predictor(table, None, PredictorConfig(seed=seed)))
        r = predictors[-1].report[main]
        print(f"- predictor seed {seed}: MAE {r['mae']:.3f} (paper {PAPER_MAE.get(table.setting, float('nan'))}), "
              f"Kendall tau {r['kendall_tau']:.3f}, Spearman rho {r['spearman_rho']:.3f}, "
              f"trained in {time.perf_counter() - began:.1f} s")
    print("\n| method | lambda | seed | found predicted | found GFLOPs | nearest: distance, true, rank | best measured at <= found GFLOPs | search ms |")
    print("|---|---|---|---|---|---|---|---|")
    runs = [("continuous", lam) for lam in (0.1, 0.3, 0.5, 0.7)] + [
        ("wta", 0.5), ("netadapt", 0.5), ("random", 0.5), ("neural_predictor", 0.5)]
    for seed, predictor in zip(seeds, predictors):
        for strategy, lam in runs:
            outcome = search_mr([predictor], SearchRequest(strategy=strategy, lam=lam, seed=seed))
            x = outcome.found[0]
            predicted = predictor.predict(x[None])[main][0]
            gflops = exact_cost(x)["gflops"]
            near = nearest(table, x)
            row = find_row(table, x)
            stored = "" if row is None else f" (in store: true {truth[row]:.2f})"
            within, within_gflops = best_within(table, gflops)
            print(f"| {strategy} | {lam} | {seed} | {predicted:.2f}{stored} | {gflops:.3f} | {near['distance']:.2f}, "
                  f"{near['true'][main]:.2f}, {near['rank']}/{near['of']} | {within:.2f} @ {within_gflops:.3f} | "
                  f"{outcome.seconds * 1e3:.1f} |")


def nb201_section(table: SettingTable, seeds: list[int], lam: float) -> None:
    truth = table.metrics["Acc"]
    best = int(np.nanargmax(truth))
    print(f"\n### nb201 (table of {len(table)}; best {truth[best]:.2f}% at {table.gflops[best] * 1e3:.2f} MFLOPs; "
          "paper: found 46.8% at 90.36 MFLOPs, space best 47.33%)\n")
    print("| seed | predictor MAE | found ops | predicted Acc, MFLOPs | true (if in table) | nearest: distance, Acc, rank |")
    print("|---|---|---|---|---|---|")
    for seed in seeds:
        predictor = train_predictor(table, ("Acc", "gflops"), PredictorConfig(seed=seed))
        found, _, _ = search_nb201(predictor, lam)
        p = predictor.predict(found[None])
        row = find_row(table, found)
        near = nearest(table, found)
        true = "not in table" if row is None else f"{truth[row]:.2f}% at {table.gflops[row] * 1e3:.2f}"
        ops = "_".join(map(str, found.reshape(6, 5).argmax(1)))
        print(f"| {seed} | {predictor.report['Acc']['mae']:.3f} | {ops} | {p['Acc'][0]:.2f}%, {p['gflops'][0] * 1e3:.1f} | "
              f"{true} | {near['distance']:.2f}, {near['true']['Acc']:.2f}, {near['rank']}/{near['of']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store")
    parser.add_argument("--settings", nargs="+", default=["cls_a", "seg", "video"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--nb201-lambda", type=float, default=0.2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    store = Store.open(args.store, create=False)
    for setting in args.settings:
        mr_section(SettingTable.from_frame(store.load_setting(setting).to_pandas(), setting), args.seeds)
    if "nb201" in store.settings():
        nb201_section(SettingTable.from_frame(store.load_setting("nb201").to_pandas(), "nb201"), args.seeds,
                      args.nb201_lambda)


if __name__ == "__main__":
    main()
