"""The paper's metric predictor: training, validation report, save and load.

Architecture (SPEC section 5): BatchNorm on the standardised code, one shared
256-unit layer with dropout 0.5, then one 128-unit branch per metric ending
in a linear output. Inputs are the space's standardised code
(:mod:`bench.ncp.encoding`); targets are standardised with the training
split's mean and std. Adam (wd 1e-7), lr 0.01 with a one-cycle schedule,
batch 128, 200 epochs, smooth-L1.

Training runs on whole tensors (no DataLoader): 2,000 rows x 200 epochs of
this MLP take a couple of seconds on one CPU core.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from torch import nn

from bench.errors import BenchError, check_int
from bench.ncp.data import SettingTable, Split, split_by_arch_id
from bench.ncp.encoding import encoding_for

FORMAT_VERSION = 1


@dataclass(frozen=True)
class PredictorConfig:
    """Model and training recipe; defaults are the paper's."""

    hidden: int = 256
    branch: int = 128
    dropout: float = 0.5
    epochs: int = 200
    batch_size: int = 128
    lr: float = 0.01
    weight_decay: float = 1e-7
    n_train: int = 2000
    n_val: int = 500
    seed: int = 0
    min_rows: int = 100

    def __post_init__(self) -> None:
        for name in ("hidden", "branch", "epochs", "batch_size", "n_train", "n_val", "min_rows"):
            check_int(f"predictor {name}", getattr(self, name), 1)
        if not 0 <= self.dropout < 1:
            raise BenchError(f"predictor dropout={self.dropout!r} is invalid; valid is 0 <= dropout < 1")
        if self.lr <= 0 or self.weight_decay < 0:
            raise BenchError(f"predictor lr={self.lr!r} / weight_decay={self.weight_decay!r} invalid; need lr > 0, wd >= 0")


class BitDropout(nn.Module):
    """Dropout that draws one random BIT per unit when p = 0.5 (the paper's rate).

    ``torch.bernoulli`` costs a float draw per unit, about a quarter of a
    training step of this small MLP; eight units per random byte makes
    training ~30% faster. Other rates fall back to ``nn.functional.dropout``.
    """

    _SHIFTS = torch.arange(8, dtype=torch.uint8)

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.p != 0.5:
            return nn.functional.dropout(x, self.p, training=True)
        n = x.numel()
        random_bytes = torch.randint(0, 256, ((n + 7) // 8,), dtype=torch.uint8)
        keep = ((random_bytes[:, None] >> self._SHIFTS) & 1).reshape(-1)[:n].view_as(x)
        return x * keep * 2.0


class MetricMLP(nn.Module):
    """BatchNorm -> shared Linear+ReLU+Dropout -> one Linear+ReLU+Linear branch per output."""

    def __init__(self, in_dim: int, outputs: int, hidden: int, branch: int, dropout: float) -> None:
        super().__init__()
        self.input_norm = nn.BatchNorm1d(in_dim)
        self.shared = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), BitDropout(dropout))
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden, branch), nn.ReLU(), nn.Linear(branch, 1)) for _ in range(outputs)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.shared(self.input_norm(z))
        return torch.cat([b(h) for b in self.branches], dim=1)


@dataclass
class Predictor:
    """A trained predictor of one setting's metrics, with everything needed to reuse it.

    ``module`` maps the standardised code to standardised targets;
    :meth:`predict` returns metric points. ``report`` holds the validation
    MAE / Kendall tau / Spearman rho per metric.
    """

    setting: str
    space: str
    metrics: tuple[str, ...]
    module: MetricMLP
    target_mean: np.ndarray
    target_std: np.ndarray
    split: Split
    config: PredictorConfig
    report: dict[str, dict[str, float]] = field(default_factory=dict)

    def standardised(self, z: torch.Tensor) -> torch.Tensor:
        """(N, D) standardised codes -> (N, M) standardised predictions (differentiable)."""
        return self.module(z)

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Raw codes (N, D) -> {metric: (N,) predictions in metric points}."""
        self.module.eval()
        z = torch.from_numpy(encoding_for(self.space).standardise(np.atleast_2d(x)))
        out = self.module(z).double().numpy() * self.target_std + self.target_mean
        return {m: out[:, i] for i, m in enumerate(self.metrics)}

    def metric_index(self, metric: str) -> int:
        if metric not in self.metrics:
            raise BenchError(f"predictor of {self.setting!r} has no metric {metric!r}; it predicts {list(self.metrics)}")
        return self.metrics.index(metric)

    # ------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> Path:
        """Write ``<setting>.pt`` (state dict) and ``<setting>.json`` (everything else)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        torch.save(self.module.state_dict(), directory / f"{self.setting}.pt")
        meta = {
            "format_version": FORMAT_VERSION,
            "setting": self.setting,
            "space": self.space,
            "metrics": list(self.metrics),
            "in_dim": self.module.input_norm.num_features,
            "target_mean": self.target_mean.tolist(),
            "target_std": self.target_std.tolist(),
            "config": asdict(self.config),
            "split": {"seed": self.split.seed, "train_ids": list(self.split.train_ids), "val_ids": list(self.split.val_ids)},
            "report": self.report,
        }
        path = directory / f"{self.setting}.json"
        path.write_text(json.dumps(meta, indent=1))
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
            raise BenchError(f"{meta_path} has format_version {meta.get('format_version')!r}; this code reads {FORMAT_VERSION}")
        config = PredictorConfig(**meta["config"])
        module = MetricMLP(meta["in_dim"], len(meta["metrics"]), config.hidden, config.branch, config.dropout)
        module.load_state_dict(torch.load(weights_path, weights_only=True))
        module.eval()
        split = meta["split"]
        return cls(
            setting=meta["setting"],
            space=meta["space"],
            metrics=tuple(meta["metrics"]),
            module=module,
            target_mean=np.asarray(meta["target_mean"]),
            target_std=np.asarray(meta["target_std"]),
            split=Split(split["seed"], tuple(split["train_ids"]), tuple(split["val_ids"])),
            config=config,
            report=meta["report"],
        )


def _targets(table: SettingTable, metrics: tuple[str, ...]) -> np.ndarray:
    columns = []
    for m in metrics:
        if m == "gflops":
            columns.append(table.gflops)
        elif m in table.metrics:
            columns.append(table.metrics[m])
        else:
            raise BenchError(f"setting {table.setting!r} has no metric {m!r}; it has {sorted(table.metrics)} (and 'gflops')")
    return np.stack(columns, axis=1).astype(np.float64)


def default_metrics(table: SettingTable, min_rows: int) -> tuple[str, ...]:
    """The main metric first, then every other metric of the table measured on at least ``min_rows`` rows."""
    others = [m for m, v in table.metrics.items() if m != table.main_metric and np.isfinite(v).sum() >= min_rows]
    return (table.main_metric, *others)


def train_predictor(
    table: SettingTable, metrics: tuple[str, ...] | None = None, config: PredictorConfig = PredictorConfig()
) -> Predictor:
    """Train the paper's predictor on a setting's table and report on its validation split.

    ``metrics`` defaults to :func:`default_metrics`. Rows take part when the
    FIRST metric is measured; a missing value of another metric is masked out
    of the loss (published tables can lack secondary metrics on some rows).
    Fewer than ``config.min_rows`` usable rows is an error.

    Example:
        >>> from bench.ncp.synthetic import synthetic_frame
        >>> table = SettingTable.from_frame(synthetic_frame(300, seed=1), "cls_a")
        >>> p = train_predictor(table, config=PredictorConfig(epochs=5, n_train=240, n_val=60))
        >>> p.metrics, sorted(p.report["top1"])
        (('top1', 'top5'), ['kendall_tau', 'mae', 'n', 'spearman_rho'])
    """
    metrics = tuple(metrics or default_metrics(table, config.min_rows))
    y_all = _targets(table, metrics)
    usable = np.isfinite(y_all[:, 0])
    measured = np.isfinite(y_all[usable]).sum(0)
    if usable.sum() < config.min_rows or measured.min() < config.min_rows:
        counts = {m: int(c) for m, c in zip(metrics, measured)}
        raise BenchError(
            f"setting {table.setting!r} has too few measured rows to train a predictor of {list(metrics)}: "
            f"{int(usable.sum())} rows with {metrics[0]!r} measured ({counts} per metric); "
            f"training needs at least {config.min_rows} (predictor.min_rows)"
        )
    split = split_by_arch_id(table.arch_ids[usable], config.seed, config.n_train, config.n_val)
    train_mask, val_mask = split.masks(table.arch_ids)
    train_mask &= usable
    val_mask &= usable
    encoding = encoding_for(table.space)
    z = torch.from_numpy(encoding.standardise(table.x))
    mean, std = np.nanmean(y_all[train_mask], 0), np.nanstd(y_all[train_mask], 0)
    std = np.where(std > 0, std, 1.0)  # a constant target would divide by zero
    standardised = (y_all - mean) / std
    observed = torch.from_numpy(np.isfinite(standardised).astype(np.float32))
    y = torch.from_numpy(np.nan_to_num(standardised).astype(np.float32))

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        module = MetricMLP(z.shape[1], len(metrics), config.hidden, config.branch, config.dropout)
        rows = torch.from_numpy(train_mask)
        _fit(module, z[rows], y[rows], observed[rows], config)
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    predictor = Predictor(table.setting, table.space, metrics, module, mean, std, split, config)
    predictor.report = validation_report(predictor, table, val_mask)
    return predictor


def _fit(module: MetricMLP, z: torch.Tensor, y: torch.Tensor, observed: torch.Tensor, config: PredictorConfig) -> None:
    n = len(z)
    # BatchNorm cannot train on a batch of one: drop a final batch of size 1.
    batches = [(s, min(s + config.batch_size, n)) for s in range(0, n, config.batch_size) if min(s + config.batch_size, n) - s > 1]
    optimiser = torch.optim.Adam(module.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=config.lr, total_steps=config.epochs * len(batches))
    module.train()
    for _ in range(config.epochs):
        order = torch.randperm(n)
        zs, ys, os = z[order], y[order], observed[order]
        for start, stop in batches:
            optimiser.zero_grad(set_to_none=True)
            errors = nn.functional.smooth_l1_loss(module(zs[start:stop]), ys[start:stop], reduction="none")
            mask = os[start:stop]
            ((errors * mask).sum() / mask.sum().clamp_min(1.0)).backward()  # smooth-L1 over observed targets
            optimiser.step()
            schedule.step()


def validation_report(predictor: Predictor, table: SettingTable, mask: np.ndarray) -> dict[str, dict[str, float]]:
    """{metric: {mae (metric points), kendall_tau, spearman_rho, n}} over the masked rows where measured."""
    predicted = predictor.predict(table.x[mask])
    truth = _targets(table, predictor.metrics)[mask]
    report = {}
    for i, m in enumerate(predictor.metrics):
        seen = np.isfinite(truth[:, i])
        p, t = predicted[m][seen], truth[seen, i]
        report[m] = {
            "mae": float(np.abs(p - t).mean()),
            "kendall_tau": float(stats.kendalltau(p, t).statistic),
            "spearman_rho": float(stats.spearmanr(p, t).statistic),
            "n": int(seen.sum()),
        }
    return report
