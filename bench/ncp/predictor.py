"""A setting's metric predictor: train (any recipe, any split), predict, report, save and load.

One predictor per setting predicts all its metrics (the main one first), plus the
cost targets ``gflops`` and ``params_m`` when the recipe has them (the authors' third
branch). The network and its training follow the recipe (:mod:`bench.ncp.recipe`);
the input is the code plus the recipe's closed-form features (:mod:`bench.ncp.features`);
``recipe.members`` networks with different seeds are averaged. Quality is reported on
the validation rows under both protocols (:mod:`bench.ncp.quality`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from bench.config import parse
from bench.errors import BenchError, check_int
from bench.ncp.data import SettingTable
from bench.ncp.features import CodeFeatures
from bench.ncp.jsonio import jsonable
from bench.ncp.loss_choice import LossChoice, choose_loss
from bench.ncp.model import MetricNet
from bench.ncp.quality import quality_report
from bench.ncp.recipe import DEFAULT, PredictorRecipe
from bench.ncp.splits import Split, authors_split, split_by_arch_id
from bench.ncp.training import Progress, TrainingData, member_seed, train_members

FORMAT_VERSION = 2
COST_TARGETS = ("gflops", "params_m")
"""Cost columns a predictor may learn as targets (the authors' [flops, params] branch)."""


@dataclass(frozen=True)
class PredictorConfig:
    """What to train and how to split: a recipe, the split, the seed and the row checks.

    ``n_train``/``n_val`` size the ``arch_id`` split (None: :meth:`arch_id_sizes`); the
    ``authors`` split is fixed by the published table and refuses them.
    """

    recipe: PredictorRecipe = DEFAULT
    split: Literal["arch_id", "authors"] = "arch_id"
    seed: int = 0
    n_train: int | None = None
    n_val: int | None = None
    min_rows: int = 100

    def __post_init__(self) -> None:
        if self.split not in ("arch_id", "authors"):
            raise BenchError(f"predictor.split={self.split!r} is invalid; valid splits are ['arch_id', 'authors']")
        check_int("predictor.seed", self.seed, 0)
        check_int("predictor.min_rows", self.min_rows, 1)
        for name in ("n_train", "n_val"):
            if getattr(self, name) is not None:
                check_int(f"predictor.{name}", getattr(self, name), 1)
                if self.split == "authors":
                    raise BenchError(f"predictor.{name} sizes the arch_id split; predictor.split=authors is fixed by "
                                     "the published table (80/20); leave predictor.n_train / n_val unset")

    def arch_id_sizes(self, space: str, rows: int) -> tuple[int, int]:
        """(training, validation) ids the ``arch_id`` split asks for on ``rows`` usable rows of ``space``.

        ``n_train``/``n_val`` when set. Otherwise, on NAS-Bench-MR, the paper's 2,000 / 500 (SPEC
        section 5); on NAS-Bench-201, whose table can be a 2,000-cell sample or all 15,625 cells, 80 / 20
        of the rows, the ratio the released code splits any table by: the search learns from the whole
        table it is given (12,500 training cells on the full one) instead of a 2,000-cell draw of it.
        """
        if self.n_train is not None or self.n_val is not None or space != "nb201":
            return self.n_train or 2000, self.n_val or 500
        n_val = max(1, round(rows * 0.2))
        return rows - n_val, n_val


@dataclass
class Predictor:
    """A trained predictor and everything needed to reuse it.

    ``members`` map raw features (``features``) to standardised targets; :meth:`predict`
    averages them and returns metric points. ``report`` is :func:`quality_report` on the
    validation rows of ``split``. ``loss_choice`` says which loss trained the members when
    the recipe's is ``auto`` (None otherwise).
    """

    setting: str
    space: str
    metrics: tuple[str, ...]
    members: tuple[MetricNet, ...]
    features: CodeFeatures
    target_mean: np.ndarray
    target_std: np.ndarray
    split: Split
    recipe: PredictorRecipe
    seed: int = 0
    report: dict[str, dict[str, float]] = field(default_factory=dict)
    loss_choice: LossChoice | None = None

    @property
    def loss(self) -> str:
        """The loss the members were trained with (``auto`` resolved)."""
        return self.loss_choice.loss if self.loss_choice else self.recipe.loss

    def standardised(self, x: torch.Tensor) -> torch.Tensor:
        """Raw codes (N, D) -> (N, M) standardised predictions, member average; differentiable in x."""
        r = self.features(x.to(torch.float64)).float()
        return torch.stack([net(r) for net in self.members]).mean(0)

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Raw codes (N, D) -> {metric: (N,) predictions in metric points}."""
        for net in self.members:
            net.eval()
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        out = self.standardised(torch.from_numpy(x)).double().numpy() * self.target_std + self.target_mean
        return {m: out[:, i] for i, m in enumerate(self.metrics)}

    def metric_index(self, metric: str) -> int:
        if metric not in self.metrics:
            raise BenchError(f"predictor of {self.setting!r} has no metric {metric!r}; it predicts {list(self.metrics)}")
        return self.metrics.index(metric)

    def save(self, directory: str | Path) -> Path:
        """Write ``<setting>.pt`` (every member's state dict) and ``<setting>.json`` (everything else)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        torch.save({f"member{i}": net.state_dict() for i, net in enumerate(self.members)}, directory / f"{self.setting}.pt")
        meta = {
            "format_version": FORMAT_VERSION, "setting": self.setting, "space": self.space, "metrics": list(self.metrics),
            "features": list(self.features.features), "recipe": asdict(self.recipe),
            "seed": self.seed, "target_mean": self.target_mean.tolist(), "target_std": self.target_std.tolist(),
            "split": {"kind": self.split.kind, "seed": self.split.seed, "train_ids": list(self.split.train_ids),
                      "val_ids": list(self.split.val_ids)},
            "report": self.report, "loss_choice": asdict(self.loss_choice) if self.loss_choice else None,
        }
        path = directory / f"{self.setting}.json"
        path.write_text(json.dumps(jsonable(meta), indent=1, allow_nan=False))
        return path

    @classmethod
    def load(cls, directory: str | Path, setting: str) -> Predictor:
        """Load what :meth:`save` wrote (weights through ``torch.load(weights_only=True)``)."""
        directory = Path(directory)
        meta_path, weights_path = directory / f"{setting}.json", directory / f"{setting}.pt"
        if not meta_path.exists() or not weights_path.exists():
            raise BenchError(f"no saved predictor for {setting!r} in {str(directory)!r} (need {meta_path.name} and {weights_path.name})")
        meta = json.loads(meta_path.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise BenchError(f"{meta_path} has format_version {meta.get('format_version')!r}; this code reads "
                             f"{FORMAT_VERSION} (retrain: leave predictor.load_dir unset)")
        recipe = parse(PredictorRecipe, {"space": meta["space"], **meta["recipe"]}, f"{meta_path.name} recipe")
        features = CodeFeatures(meta["space"], tuple(meta["features"]))
        states = torch.load(weights_path, weights_only=True)
        members = []
        for i in range(len(states)):
            net = build_net(recipe, features, tuple(meta["metrics"]))
            net.load_state_dict(states[f"member{i}"])
            members.append(net.eval().requires_grad_(False))
        split = meta["split"]
        choice = meta.get("loss_choice")
        return cls(meta["setting"], meta["space"], tuple(meta["metrics"]), tuple(members), features,
                   np.asarray(meta["target_mean"]), np.asarray(meta["target_std"]),
                   Split(split["kind"], split["seed"], tuple(split["train_ids"]), tuple(split["val_ids"])),
                   recipe, meta["seed"], meta["report"], LossChoice(**choice) if choice else None)


def targets(table: SettingTable, metrics: tuple[str, ...]) -> np.ndarray:
    """(N, M) float64 target columns of ``table`` (NaN where not measured)."""
    columns = []
    for m in metrics:
        if m in COST_TARGETS:
            columns.append(table.gflops if m == "gflops" else table.params_m)
        elif m in table.metrics:
            columns.append(table.metrics[m])
        else:
            raise BenchError(f"setting {table.setting!r} has no metric {m!r}; it has {sorted(table.metrics)} (and {list(COST_TARGETS)})")
    return np.stack(columns, axis=1).astype(np.float64)


def default_metrics(table: SettingTable, min_rows: int, recipe: PredictorRecipe) -> tuple[str, ...]:
    """The main metric, every other metric measured on >= ``min_rows`` rows, then the cost targets if the recipe has them."""
    others = [m for m, v in table.metrics.items() if m != table.main_metric and np.isfinite(v).sum() >= min_rows]
    cost = [m for m in COST_TARGETS if recipe.cost_targets and np.isfinite(targets(table, (m,))).sum() >= min_rows]
    return (table.main_metric, *others, *cost)


GROUP_KINDS = ("main", "others", "cost")
"""Metric groups, one branch each, as the authors' configs: [main metric], [other metrics], [flops, params]."""


def metric_groups(metrics: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """(kind, size) of each branch for ``metrics`` (main first, cost targets last; empty groups dropped).

    Example:
        >>> metric_groups(("mIoU", "mAcc", "aAcc", "gflops", "params_m"))
        (('main', 1), ('others', 2), ('cost', 2))
    """
    if metrics[0] in COST_TARGETS:
        raise BenchError(f"the first (main) metric cannot be a cost target; got {list(metrics)}")
    cost = [m in COST_TARGETS for m in metrics]
    if cost != sorted(cost):
        raise BenchError(f"cost targets {list(COST_TARGETS)} must come last; got {list(metrics)}")
    sizes = (1, len(metrics) - 1 - sum(cost), sum(cost))
    return tuple((kind, k) for kind, k in zip(GROUP_KINDS, sizes) if k)


def build_net(recipe: PredictorRecipe, features: CodeFeatures, metrics: tuple[str, ...]) -> MetricNet:
    """An untrained network for ``metrics`` (branch dropout per group kind from the recipe)."""
    groups = metric_groups(metrics)
    dropout = dict(zip(GROUP_KINDS, recipe.branch_dropout))
    return MetricNet(features.width, tuple(k for _, k in groups), tuple(dropout[kind] for kind, _ in groups), recipe)


def make_split(table: SettingTable, usable: np.ndarray, config: PredictorConfig) -> Split:
    """The configured split of the usable rows of ``table``."""
    if config.split == "authors":
        return authors_split(table.official_index, table.arch_ids, table.setting)
    return split_by_arch_id(table.arch_ids[usable], config.seed, *config.arch_id_sizes(table.space, int(usable.sum())))


def train_predictor(table: SettingTable, metrics: tuple[str, ...] | None = None,
                    config: PredictorConfig = PredictorConfig(), progress: Progress | None = None,
                    split: Split | None = None) -> Predictor:
    """Train a predictor of ``table``'s metrics with ``config`` and report on its validation rows.

    ``split`` given (a fold of :func:`bench.ncp.splits.arch_id_folds`, say) replaces the
    configured one; its ids missing from ``table`` are ignored.

    ``metrics`` defaults to :func:`default_metrics`. A row takes part when any of its metrics is
    measured (the cost targets always are); a missing value, of the main metric too, is masked
    out of the loss and of the report. A metric measured on fewer than ``config.min_rows`` rows
    is an error. ``progress`` receives a line per training (the loss choice, the members).

    Example:
        >>> from bench.ncp.synthetic import synthetic_frame
        >>> from bench.ncp.recipe import recipe_named
        >>> table = SettingTable.from_frame(synthetic_frame(300, seed=1), "cls_a")
        >>> config = PredictorConfig(recipe_named("default", {"epochs": 3, "members": 2}), n_train=240, n_val=60)
        >>> p = train_predictor(table, config=config)
        >>> p.metrics, len(p.members), sorted(p.report["top1"])[:3]
        (('top1', 'top5', 'gflops', 'params_m'), 2, ['best_epoch', 'kendall_tau', 'mae'])
    """
    recipe = config.recipe.for_space(table.space)
    metrics = tuple(metrics or default_metrics(table, config.min_rows, recipe))
    y_all = targets(table, metrics)
    usable = np.isfinite(y_all).any(1)
    measured = np.isfinite(y_all).sum(0)
    if measured.min() < config.min_rows:
        counts = {m: int(c) for m, c in zip(metrics, measured)}
        raise BenchError(
            f"setting {table.setting!r} has too few measured rows to train a predictor of {list(metrics)}: "
            f"{counts} of {len(y_all)} rows per metric; training needs at least {config.min_rows} per metric "
            "(predictor.min_rows)"
        )
    if split is None:
        split = make_split(table, usable, config)
        asked = config.arch_id_sizes(table.space, int(usable.sum()))
        got = (len(split.train_ids), len(split.val_ids))
        if split.kind == "arch_id" and got != asked and progress is not None:
            progress(f"{table.setting}: {int(usable.sum())} usable rows, fewer than n_train + n_val = {asked[0]} + {asked[1]}; "
                     f"split arch_id keeps their ratio: {got[0]} training / {got[1]} validation rows")
    train_rows, val_rows = split.rows(table.arch_ids)
    train_rows, val_rows = train_rows[usable[train_rows]], val_rows[usable[val_rows]]
    features = CodeFeatures(table.space, recipe.features)
    raw = features.numpy(table.x)
    stat_rows = np.flatnonzero(usable) if recipe.stats == "all" else train_rows
    mean, std = np.nanmean(y_all[stat_rows], 0), np.nanstd(y_all[stat_rows], 0)
    std = np.where(std > 0, std, 1.0)  # a constant target would divide by zero
    in_mean, in_std = raw[stat_rows].mean(0), raw[stat_rows].std(0)
    data = TrainingData(
        features=torch.from_numpy(raw.astype(np.float32)), targets=torch.from_numpy(((y_all - mean) / std).astype(np.float32)),
        train_rows=train_rows, val_rows=val_rows, input_shift=torch.from_numpy(in_mean.astype(np.float32)),
        input_scale=torch.from_numpy(np.where(in_std > 0, in_std, 1.0).astype(np.float32)),
    )
    make_net = partial(build_net, recipe, features, metrics)
    choice, trained = None, recipe
    if recipe.loss == "auto":
        began = time.perf_counter()
        choice = choose_loss(make_net, recipe, data, table.arch_ids, float(std[0]), config.seed)
        trained = replace(recipe, loss=choice.loss)
        if progress is not None:
            progress(f"{table.setting}: loss=auto chose {choice.loss} (inner-validation {metrics[0]} MAE {choice.describe()} on "
                     f"{choice.n_inner_val} of the {len(train_rows)} training rows) in {time.perf_counter() - began:.1f} s")
    began = time.perf_counter()
    seeds = [member_seed(config.seed, m) for m in range(recipe.members)]
    heartbeat = None if progress is None else (lambda line: progress(f"{table.setting}: {line}"))
    members, history = train_members(make_net, trained, data, seeds, trained.member_losses(), heartbeat)
    if progress is not None:
        progress(f"{table.setting}: trained {recipe.members} member(s) of the {recipe.name!r} predictor together "
                 f"({recipe.epochs} epochs on {len(train_rows)} rows) in {time.perf_counter() - began:.1f} s")
    predictor = Predictor(table.setting, table.space, metrics, tuple(members), features, mean, std, split,
                          recipe, config.seed, loss_choice=choice)
    final = np.stack([predictor.predict(table.x[val_rows])[m] for m in metrics], axis=1)
    history = history.mean(0) * std + mean  # (epochs, n_val, M), member average, metric points
    predictor.report = quality_report(metrics, final, history, y_all[val_rows], recipe.batch_size)
    for metric, n_train in zip(metrics, np.isfinite(y_all[train_rows]).sum(0)):
        predictor.report[metric]["n_train"] = int(n_train)
    return predictor
