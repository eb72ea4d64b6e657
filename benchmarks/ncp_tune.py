"""Choose the default predictor recipe on the TRAINING rows only (docs/search.md, "Predictor quality").

    python benchmarks/ncp_tune.py STORE_URI [--settings cls_a seg video] [--seeds 0] [--folds 5]
        [--candidates NAME ...] [--baseline authors] [--jobs 2] [--cache DIR]

The validation rows of the authors' split are never read: each setting's table is cut
to the authors' TRAINING rows (2,005 of 2,507), which are cross-validated by arch id
(:func:`bench.ncp.splits.arch_id_folds`; ``--folds 5``: five trainings on 1,604 rows,
each scored on the other 401, so every training row is predicted once by a model that
did not see it; ``--folds 1``: one 1,604 / 401 split, the method of the earlier tables
in docs/search.md, scored on the 401 only). Each seed re-deals the folds and re-seeds
the networks. Every candidate recipe (a named recipe plus overrides, :data:`CANDIDATES`, or the average of two:
:data:`AVERAGES`) prints one Markdown row: the out-of-fold MAE and Kendall tau of the
main metric (over all rows, means over seeds), its difference
from ``--baseline``'s MAE with a 95% paired bootstrap interval over the rows (errors
averaged over seeds first), the mean change over settings, the training seconds per
fold, and the loss each setting trained with (per seed and fold; ``auto`` resolved).
Training is deterministic (seeded, one thread), so ``--jobs`` changes the seconds only.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import multiprocessing
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import numpy as np
import torch

from bench.argtypes import count, nonnegative_int
from bench.ncp.data import SettingTable
from bench.ncp.predictor import PredictorConfig, train_predictor
from bench.ncp.quality import paired_mae_difference, rank_agreement
from bench.ncp.recipe import PredictorRecipe, recipe_named
from bench.ncp.splits import Split, arch_id_folds, authors_split, split_by_arch_id
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
    "cost+train": ("authors", {"features": COST, "stats": "train"}),
    "default+x1": ("default", {"loss": "auto", "members": 1}),
    "cost+l1+train+x2": ("authors", {"features": COST, "loss": "l1", "stats": "train", "members": 2}),
    "cost+train+x2": ("authors", {"features": COST, "stats": "train", "members": 2}),
    "default+x2": ("default", {"loss": "auto", "members": 2}),
    "default+mix": ("default", {"loss": "mix", "members": 2}),  # the default from 2026-12-01 until d7a70a1
    "default+mix+x4": ("default", {"loss": "mix", "members": 4}),
    "code+mix": ("default", {"features": ("code",), "members": 2}),  # the default's two networks without cost features
    "default": ("default", {}),  # loss=mix, 4 networks since d7a70a1 (2 before; loss=auto with 5 before 2026-12-01: default+auto)
    "default+auto": ("default", {"loss": "auto", "members": 5}),
    "default+l1": ("default", {"loss": "l1", "members": 5}),  # the default before loss=auto
    "default+l1+100ep": ("default", {"loss": "l1", "members": 5, "epochs": 100}),
    "default+l1+small": ("default", {"loss": "l1", "members": 5, "hidden": 128, "branch": 64}),
    "default+smooth_l1": ("default", {"loss": "smooth_l1", "members": 5}),
    "cost+train+huber0.1": ("authors", {"features": COST, "stats": "train", "loss_beta": 0.1}),
    "cost+train+huber0.3": ("authors", {"features": COST, "stats": "train", "loss_beta": 0.3}),
    "cost+train+huber0.5": ("authors", {"features": COST, "stats": "train", "loss_beta": 0.5}),
    "default+huber0.3": ("default", {"loss": "smooth_l1", "members": 5, "loss_beta": 0.3}),
    "cost+l1+bs64": ("authors", {"features": COST, "loss": "l1", "stats": "train", "batch_size": 64}),
    "cost+l1+train+300ep": ("authors", {"features": COST, "loss": "l1", "stats": "train", "epochs": 300}),
    "cost+l1+train+wd1e-4": ("authors", {"features": COST, "loss": "l1", "stats": "train", "weight_decay": 1e-4}),
    "cost+l1+train+lr0.003": ("authors", {"features": COST, "loss": "l1", "stats": "train", "lr": 0.003}),
}
AVERAGES = {
    # The average of two candidates' predictions: an ensemble of one L1 and one smooth-L1 network,
    # to set beside cost+l1+train+x2 and cost+train+x2 (two networks of one loss).
    "mix(l1,smooth_l1)": ("cost+l1+train_stats", "cost+train"),
    # Four networks, two with the cost features and two on the code alone (each pair one L1, one smooth-L1):
    # the default's size, hedging between inputs; rejected by its rule (docs/search.md, "Two inputs").
    "hybrid": ("default+mix", "code+mix"),
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
    parser.add_argument("--seeds", nargs="+", type=nonnegative_int, default=[0])
    parser.add_argument("--folds", type=count, default=5,
                        help="cross-validation folds; 1: one 80/20 split by arch id (how the earlier tables were made)")
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=[*CANDIDATES, *AVERAGES])
    parser.add_argument("--baseline", default="authors", choices=list(CANDIDATES),
                        help="the candidate every other is compared with (trained too when not listed)")
    parser.add_argument("--epochs", type=count, default=None, help="override every candidate's epochs (a quick check)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="keep each fold's predictions here and reuse them (training is deterministic)")
    parser.add_argument("--jobs", type=count, default=1, help="processes, one (candidate, setting, seed, fold) each, 1 thread each")
    args = parser.parse_args()
    torch.set_num_threads(1)
    store = Store.open(args.store, create=False)
    tables = {s: inner_table(SettingTable.from_frame(store.load_setting(s).to_pandas(), s)) for s in args.settings}
    folds = {(s, seed): arch_id_folds(t.arch_ids, seed, args.folds) if args.folds > 1
             else [split_by_arch_id(t.arch_ids, seed, len(t) - len(t) // 5, len(t) // 5)]
             for s, t in tables.items() for seed in args.seeds}
    names = list(dict.fromkeys([args.baseline, *(n for c in args.candidates for n in AVERAGES.get(c, (c,)))]))
    recipes = {name: recipe_named(CANDIDATES[name][0], CANDIDATES[name][1] if args.epochs is None
                                  else {**CANDIDATES[name][1], "epochs": args.epochs}) for name in names}
    rows = len(next(iter(tables.values())))
    method = (f"{args.folds}-fold cross-validation by arch id" if args.folds > 1
              else f"one split by arch id ({rows - rows // 5:,} / {rows // 5:,})")
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, 1 thread per process, {args.jobs} "
          f"process(es); {method} of the authors' {rows:,} training rows, "
          f"seeds {args.seeds}; difference = candidate minus {args.baseline} MAE, 95% paired bootstrap interval\n")
    print("| candidate | " + " | ".join(f"{s} MAE | {s} tau | {s} difference" for s in args.settings)
          + " | mean change | seconds | loss |")
    print("|---|" + "---|---|---|" * len(args.settings) + "---|---|---|")
    work = [(name, s, seed, f) for name in names for s in args.settings for seed in args.seeds for f in range(args.folds)]
    keys = {w: cache_key(tables[w[1]], recipes[w[0]], w[2], folds[w[1], w[2]][w[3]]) for w in work}
    results = {w: cached(args.cache, keys[w]) for w in work} if args.cache else {}
    todo = [w for w in work if results.get(w) is None]
    parallel = args.jobs > 1 and len(todo) > 1
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("fork")) if parallel else nullcontext() as pool:
        columns = [[tables[s] for _, s, _, _ in todo], [recipes[name] for name, *_ in todo],
                   [seed for _, _, seed, _ in todo], [folds[s, seed][f] for _, s, seed, f in todo]]
        for w, result in zip(todo, (pool.map if pool else map)(score, *columns)):  # in order, as they finish
            results[w] = result
            if args.cache:
                keep(args.cache, keys[w], result)
    predicted = {(name, s): out_of_fold_predictions(tables[s], results, name, args.seeds, args.folds)
                 for name in names for s in args.settings}
    for name in args.candidates:
        cells, changes, seconds, losses = [], [], [], []
        members = AVERAGES.get(name, (name,))
        for s in args.settings:
            truth = tables[s].metrics[tables[s].main_metric]
            guess = np.mean([predicted[m, s] for m in members], axis=0)  # (seeds, rows); NaN: not predicted
            error, base = np.abs(guess - truth), np.abs(predicted[args.baseline, s] - truth)
            seen = np.isfinite(error)  # every row with --folds > 1; each seed's own 20% with --folds 1
            mae = float(np.mean([e[k].mean() for e, k in zip(error, seen)]))
            taus = [rank_agreement(g[k], truth[k])[0] for g, k in zip(guess, seen)]
            changes.append(mae / np.mean([b[k].mean() for b, k in zip(base, seen)]) - 1)
            rows = seen.any(0)  # each row's |error| averaged over the seeds that predicted it
            diff, low, high = ((0.0, 0.0, 0.0) if name == args.baseline else
                               paired_mae_difference(np.nanmean(error[:, rows], 0), np.nanmean(base[:, rows], 0)))
            cells.append(f"{mae:.3f} | {np.mean(taus):.3f} | {diff:+.3f} ({low:+.3f}, {high:+.3f})")
            scored = [results[m, s, seed, f] for m in members for seed in args.seeds for f in range(args.folds)]
            seconds += [r[2] for r in scored]
            losses.append(f"{s} " + "/".join(sorted({r[3] for r in scored})))
        print(f"| {name} | " + " | ".join(cells) + f" | {100 * np.mean(changes):+.1f}% | {np.mean(seconds):.0f} | "
              f"{', '.join(losses)} |", flush=True)


def score(table: SettingTable, recipe: PredictorRecipe, seed: int, split: Split) -> tuple[np.ndarray, np.ndarray, float, str]:
    """One fold: validation row indices, their predicted main metric (points), training seconds
    and the loss used."""
    torch.set_num_threads(1)
    began = time.perf_counter()
    p = train_predictor(table, config=PredictorConfig(recipe, seed=seed), split=split)
    _, val_rows = split.rows(table.arch_ids)
    return val_rows, p.predict(table.x[val_rows])[table.main_metric], time.perf_counter() - began, p.loss


TRAINING_CODE = tuple(f"bench.ncp.{name}" for name in ("features", "flops_poly", "loss_choice", "model", "predictor",
                                                          "stacked", "training")) + ("bench.cost",)
"""Modules whose source decides what a fold's training produces (the cost model and its polynomial make the
cost features)."""


@lru_cache(maxsize=1)
def training_code_digest() -> str:
    """sha256 of the :data:`TRAINING_CODE` modules' source (read once per process)."""
    code = [Path(importlib.import_module(name).__file__).read_bytes() for name in TRAINING_CODE]
    return hashlib.sha256(b"".join(code)).hexdigest()


def cache_key(table: SettingTable, recipe: PredictorRecipe, seed: int, split: Split) -> str:
    """What decides a fold's predictions: the recipe, seed, split, data, the training code and torch's version."""
    parts = (repr(recipe), seed, split.kind, split.train_ids, split.val_ids, table.setting, table.x.tobytes().hex(),
             table.metrics[table.main_metric].tobytes().hex(), torch.__version__, training_code_digest())
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def cached(folder: Path, key: str) -> tuple | None:
    try:
        with np.load(folder / f"{key}.npz") as f:
            return f["val_rows"], f["predicted"], float(f["seconds"]), str(f["loss"])
    except FileNotFoundError:
        return None


def keep(folder: Path, key: str, result: tuple) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    val_rows, predicted, seconds, loss = result
    np.savez(folder / f"{key}.npz", val_rows=val_rows, predicted=predicted, seconds=seconds, loss=loss)


def out_of_fold_predictions(table: SettingTable, results: dict, name: str, seeds: list[int], folds: int) -> np.ndarray:
    """(seeds, rows) main-metric prediction of every row by the fold that did not train on it."""
    predicted = np.full((len(seeds), len(table)), np.nan)
    for i, seed in enumerate(seeds):
        for f in range(folds):
            val_rows, guess, *_ = results[name, table.setting, seed, f]
            predicted[i, val_rows] = guess
    return predicted


if __name__ == "__main__":
    main()
