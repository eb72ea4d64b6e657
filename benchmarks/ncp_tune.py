"""Choose the default predictor recipe on the TRAINING rows only (docs/search.md, "Predictor quality").

    python benchmarks/ncp_tune.py STORE_URI [--settings cls_a seg video] [--seeds 0] [--candidates NAME ...]

The validation rows of the authors' split are never read: each setting's table is cut
to the authors' TRAINING rows (2,005 of 2,507), which are split again by arch id
(seed 0, 1,604 train / 401 inner-validation). Every candidate recipe (a named recipe
plus overrides, :data:`CANDIDATES`) is trained on the inner training rows and scored
on the inner validation rows. Prints a Markdown table of inner-validation MAE
(final model) and Kendall tau of the main metric, and the training seconds.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import numpy as np
import torch

from bench.ncp.data import SettingTable
from bench.ncp.predictor import PredictorConfig, train_predictor
from bench.ncp.recipe import recipe_named
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
    "default+100ep": ("default", {"epochs": 100}),
    "default+small": ("default", {"hidden": 128, "branch": 64}),
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
    args = parser.parse_args()
    torch.set_num_threads(1)
    store = Store.open(args.store, create=False)
    tables = {s: inner_table(SettingTable.from_frame(store.load_setting(s).to_pandas(), s)) for s in args.settings}
    rows = len(next(iter(tables.values())))
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, 1 thread; inner split of the "
          f"authors' training rows ({rows - rows // 5:,} / {rows // 5:,}), seeds {args.seeds}\n")
    print("| candidate | " + " | ".join(f"{s} MAE | {s} tau" for s in args.settings) + " | mean MAE | seconds |")
    print("|---|" + "---|---|" * len(args.settings) + "---|---|")
    for name in args.candidates:
        base, overrides = CANDIDATES[name]
        recipe = recipe_named(base, overrides if args.epochs is None else {**overrides, "epochs": args.epochs})
        cells, maes, began = [], [], time.perf_counter()
        for s, table in tables.items():
            n_val = len(table) // 5  # 401 of the authors' 2,005 training rows
            reports = [train_predictor(table, config=PredictorConfig(recipe, seed=seed, n_train=len(table) - n_val,
                                                                     n_val=n_val)).report
                       for seed in args.seeds]
            mae = float(np.mean([r[table.main_metric]["mae"] for r in reports]))
            tau = float(np.mean([r[table.main_metric]["kendall_tau"] for r in reports]))
            cells.append(f"{mae:.3f} | {tau:.3f}")
            maes.append(mae)
        seconds = (time.perf_counter() - began) / len(tables) / len(args.seeds)
        print(f"| {name} | " + " | ".join(cells) + f" | {np.mean(maes):.3f} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
