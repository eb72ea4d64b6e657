"""Predictor training cost on one CPU core: E networks trained together (stacked) against one by one.

    python benchmarks/bench_predictor_training.py [--epochs 20] [--members 1 2 5] [--setting cls_a]

Training cost depends on the table's shape (rows, features, metrics), not on what the
rows hold, so this trains on a made-up table of the published size (2,507 rows, the
authors' 2,005 / 502 split sizes) and needs no data. For each E it times
:func:`bench.ncp.training.train_members` with all E seeds at once and E calls of one seed
each (the same networks' work, one after another), ``--epochs`` epochs each, and prints
seconds per epoch, the full recipe's 200 epochs extrapolated, and the ratio. Both are
run in the same process, alternating, so a noisy machine affects both alike.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import numpy as np
import torch

from bench.argtypes import count
from bench.ncp.data import SettingTable
from bench.ncp.features import CodeFeatures
from bench.ncp.predictor import build_net, default_metrics, targets
from bench.ncp.recipe import DEFAULT, recipe_named
from bench.ncp.synthetic import synthetic_frame
from bench.ncp.training import TrainingData, member_seed, train_members

N_ROWS, N_TRAIN = 2507, 2005


def training_data(setting: str, features: CodeFeatures, metrics: tuple[str, ...], table: SettingTable) -> TrainingData:
    raw = features.numpy(table.x).astype(np.float32)
    y = targets(table, metrics)
    y = (y - np.nanmean(y, 0)) / np.nanstd(y, 0)
    return TrainingData(torch.from_numpy(raw), torch.from_numpy(y.astype(np.float32)), np.arange(N_TRAIN),
                        np.arange(N_TRAIN, N_ROWS), torch.from_numpy(raw.mean(0)), torch.from_numpy(raw.std(0) + 1e-6))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=count, default=20)
    parser.add_argument("--members", type=count, nargs="+", default=[1, 2, 5])
    parser.add_argument("--setting", default="cls_a")
    parser.add_argument("--repeats", type=count, default=2, help="timed runs of each way (the fastest is kept)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    table = SettingTable.from_frame(synthetic_frame(N_ROWS, seed=0, setting=args.setting), args.setting)
    recipe = recipe_named("default", {"epochs": args.epochs, "loss": "l1"})
    features = CodeFeatures("nasbench_mr", DEFAULT.features)
    metrics = default_metrics(table, 100, recipe)
    data = training_data(args.setting, features, metrics, table)
    make_net = partial(build_net, recipe, features, metrics)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, 1 thread; {args.setting}-shaped table: "
          f"{N_TRAIN} training rows, {features.width} input features, {len(metrics)} outputs, batch {recipe.batch_size}")
    print("| networks | together, s/epoch | one by one, s/epoch | together, 200 epochs | one by one, 200 epochs | speed-up |")
    print("|---|---|---|---|---|---|")
    train_members(make_net, recipe, data, [0])  # warm-up
    for members in args.members:
        seeds = [member_seed(0, m) for m in range(members)]
        together, alone = [], []
        for _ in range(args.repeats):
            began = time.perf_counter()
            train_members(make_net, recipe, data, seeds)
            together.append((time.perf_counter() - began) / args.epochs)
            began = time.perf_counter()
            for seed in seeds:
                train_members(make_net, recipe, data, [seed])
            alone.append((time.perf_counter() - began) / args.epochs)
        t, a = min(together), min(alone)
        print(f"| {members} | {t:.3f} | {a:.3f} | {200 * t:.0f} s | {200 * a:.0f} s | {a / t:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
