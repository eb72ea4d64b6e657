"""Choose the default predictor recipe on the TRAINING rows only (docs/search.md, "Predictor quality").

    python benchmarks/ncp_tune.py STORE_URI [--settings cls_a seg video] [--seeds 0] [--candidates NAME ...] [--jobs 2]

The validation rows of the authors' split are never read: each setting's table is cut
to the authors' TRAINING rows (2,005 of 2,507), which are split again by arch id
(seed 0, 1,604 train / 401 inner-validation). Every candidate recipe (a named recipe
plus overrides, :data:`CANDIDATES`) is trained on the inner training rows and scored
on the inner validation rows. Prints a Markdown table of inner-validation MAE
(final model) and Kendall tau of the main metric (means over seeds), the training seconds
per (setting, seed), and the loss each setting trained with (per seed; ``auto`` resolved).
Training is deterministic (seeded, one thread), so ``--jobs`` changes the seconds only.
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import numpy as np
import torch

from bench.ncp.data import SettingTable
from bench.ncp.predictor import PredictorConfig, train_predictor
from bench.ncp.recipe import PredictorRecipe, recipe_named
from bench.ncp.splits import authors_split
from bench.store import Store

COST = ("code", "log_flops", "log_params", "stage_sums")
CANDIDATES = {
    "authors": ("authors", {}),
    "authors+l1": ("authors", {"loss": "l1"}),
    "authors+cost": ("authors", {"features": COST}),
    "authors+cost+l1": ("authors", {"features": COST, "loss": "l1"}),
    "cost+l1+train_stats": ("authors", {"features": COST, "loss": "l1", "stats": "train"}),
    "cost+l1+no_cost_targets": ("authors", {"features": COST, "loss": "l1", "cost_targets": False}),
    "cost+l1+dropout0.2": ("authors", {"features": COST, "loss": "l1", "dropout": 0.2, "branch_dropout": (0.2, 0.2, 0.0)}),
    "cost+l1+relu": ("authors", {"features": COST, "loss": "l1", "activation": "relu"}),
    "cost+l1+300ep": ("authors", {"features": COST, "loss": "l1", "epochs": 300}),
    "cost+l1+100ep": ("authors", {"features": COST, "loss": "l1", "epochs": 100}),
    "cost+l1+lr0.003": ("authors", {"features": COST, "loss": "l1", "lr": 0.003}),
    "cost+l1+wd1e-4": ("authors", {"features": COST, "loss": "l1", "weight_decay": 1e-4}),
    "cost+l1+x3": ("authors", {"features": COST, "loss": "l1", "members": 3}),
    "cost+l1+x5": ("authors", {"features": COST, "loss": "l1", "members": 5}),
    "default": ("default", {}),
    "default+l1": ("default", {"loss": "l1"}),  # the default before loss=auto
    "default+l1+100ep": ("default", {"loss": "l1", "epochs": 100}),
    "default+l1+small": ("default", {"loss": "l1", "hidden": 128, "branch": 64}),
    "default+smooth_l1": ("default", {"loss": "smooth_l1"}),
    "cost+train+huber0.1": ("authors", {"features": COST, "stats": "train", "loss_beta": 0.1}),
    "cost+train+huber0.3": ("authors", {"features": COST, "stats": "train", "loss_beta": 0.3}),
    "cost+train+huber0.5": ("authors", {"features": COST, "stats": "train", "loss_beta": 0.5}),
    "default+huber0.3": ("default", {"loss": "smooth_l1", "loss_beta": 0.3}),
    "cost+l1+bs64": ("authors", {"features": COST, "loss": "l1", "stats": "train", "batch_size": 64}),
    "cost+l1+train+300ep": ("authors", {"features": COST, "loss": "l1", "stats": "train", "epochs": 300}),
    "cost+l1+train+wd1e-4": ("authors", {"features": COST, "loss": "l1", "stats": "train", "weight_decay": 1e-4}),
    "cost+l1+train+lr0.003": ("authors", {"features": COST, "loss": "l1", "stats": "train", "lr": 0.003}),
}


def inner_table(table: SettingTable) -> SettingTable:
    """The authors' TRAINING rows only: nothing of their validation rows reaches tuning."""
    split = authors_split(table.official_index, table.arch_ids, table.setting)
    rows, _ = split.rows(table.arch_ids)
    return table.subset(np.sort(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store")
    parser.add_argument("--settings", nargs="+", default=["cls_a", "seg", "video"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--epochs", type=int, default=None, help="override every candidate's epochs (a quick check)")
    parser.add_argument("--jobs", type=int, default=1, help="processes, one (candidate, setting, seed) each, 1 thread each")
    args = parser.parse_args()
    torch.set_num_threads(1)
    store = Store.open(args.store, create=False)
    tables = {s: inner_table(SettingTable.from_frame(store.load_setting(s).to_pandas(), s)) for s in args.settings}
    rows = len(next(iter(tables.values())))
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, 1 thread per process, {args.jobs} "
          f"process(es); inner split of the authors' training rows ({rows - rows // 5:,} / {rows // 5:,}), seeds {args.seeds}\n")
    print("| candidate | " + " | ".join(f"{s} MAE | {s} tau" for s in args.settings) + " | mean MAE | seconds | loss |")
    print("|---|" + "---|---|" * len(args.settings) + "---|---|---|")
    recipes = {name: recipe_named(CANDIDATES[name][0], CANDIDATES[name][1] if args.epochs is None
                                  else {**CANDIDATES[name][1], "epochs": args.epochs}) for name in args.candidates}
    work = [(name, s, seed) for name in args.candidates for s in args.settings for seed in args.seeds]
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("fork")) if args.jobs > 1 else nullcontext() as pool:
        columns = zip(*[(tables[s], recipes[name], seed) for name, s, seed in work])
        results = dict(zip(work, (pool.map if pool else map)(score, *columns)))
    for name in args.candidates:
        cells, maes, seconds, losses = [], [], [], []
        for s in args.settings:
            scored = [results[name, s, seed] for seed in args.seeds]
            mae, tau = float(np.mean([r[0] for r in scored])), float(np.mean([r[1] for r in scored]))
            cells.append(f"{mae:.3f} | {tau:.3f}")
            maes.append(mae)
            seconds += [r[2] for r in scored]
            losses.append(f"{s} " + "/".join(r[3] for r in scored))
        print(f"| {name} | " + " | ".join(cells) + f" | {np.mean(maes):.3f} | {np.mean(seconds):.0f} | {', '.join(losses)} |",
              flush=True)


def score(table: SettingTable, recipe: PredictorRecipe, seed: int) -> tuple[float, float, float, str]:
    """Inner-validation MAE and Kendall tau of the main metric, training seconds, and the loss used."""
    torch.set_num_threads(1)
    n_val = len(table) // 5  # 401 of the authors' 2,005 training rows
    began = time.perf_counter()
    p = train_predictor(table, config=PredictorConfig(recipe, seed=seed, n_train=len(table) - n_val, n_val=n_val))
    report = p.report[table.main_metric]
    return report["mae"], report["kendall_tau"], time.perf_counter() - began, p.loss


if __name__ == "__main__":
    main()
