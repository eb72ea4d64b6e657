"""Analyses of the benchmark the paper reports: rank correlation between settings (Fig. 4), statistics (Table 6)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from bench.errors import BenchError
from bench.settings import get_setting
from bench.store.store import Store

MIN_SHARED = 3  # fewer shared architectures than this give no meaningful rank correlation


def _chosen(store: Store, settings: Iterable[str] | None) -> list[str]:
    chosen = list(settings) if settings is not None else store.settings()
    if not chosen:
        raise BenchError(f"store {store.uri} holds no results (nothing imported or run); import the published "
                         "benchmark (python launch/export.py import-official SRC --store ...) or run jobs first")
    return chosen


def main_metrics(store: Store, settings: Iterable[str] | None = None, data: str = "benchmark") -> pd.DataFrame:
    """Main metric per setting as columns, indexed by arch_id (NAS-Bench-MR settings only)."""
    chosen = [s for s in _chosen(store, settings) if get_setting(s).space == "nasbench_mr"]
    series = {}
    for setting in chosen:
        metric = get_setting(setting).main_metric
        table = store.load_setting(setting, columns=["arch_id", metric], data=data).to_pandas()
        series[setting] = table.set_index("arch_id")[metric]
    return pd.DataFrame(series)


def correlate(store: Store, settings: Iterable[str] | None = None,
              data: str = "benchmark") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Spearman rank correlation of the main metric between every pair of settings.

    Each pair uses the architectures both settings have a value for. Returns
    (correlation matrix, shared-architecture counts); pairs with fewer than
    ``MIN_SHARED`` shared architectures are NaN.
    """
    wide = main_metrics(store, settings, data)
    if wide.shape[1] < 2:
        raise BenchError(f"correlation needs at least two NAS-Bench-MR settings in the store; it has {list(wide.columns)}")
    names = list(wide.columns)
    corr = pd.DataFrame(np.nan, index=names, columns=names)
    counts = pd.DataFrame(0, index=names, columns=names)
    for i, a in enumerate(names):
        for b in names[i:]:
            pair = wide[[a, b]].dropna() if a != b else wide[[a]].dropna()
            counts.loc[a, b] = counts.loc[b, a] = len(pair)
            if len(pair) >= MIN_SHARED:
                rho = 1.0 if a == b else spearmanr(pair[a], pair[b]).statistic
                corr.loc[a, b] = corr.loc[b, a] = rho
    return corr, counts


def plot_heatmap(corr: pd.DataFrame, path: str | Path) -> None:
    """The correlation matrix as an annotated heatmap (PNG or any matplotlib format)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3.0 + 0.8 * len(corr), 2.2 + 0.7 * len(corr)))
    image = ax.imshow(corr.to_numpy(dtype=float), vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(corr)), corr.columns, rotation=45, ha="right")
    ax.set_yticks(range(len(corr)), corr.index)
    for i in range(len(corr)):
        for j in range(len(corr)):
            value = corr.iat[i, j]
            colour = "white" if not np.isnan(value) and abs(value) > 0.6 else "black"
            ax.text(j, i, "-" if np.isnan(value) else f"{value:.2f}", ha="center", va="center", fontsize=8, color=colour)
    fig.colorbar(image, ax=ax, label="Spearman rho, main metric")
    ax.set_title("Rank correlation between settings", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def stats(store: Store, settings: Iterable[str] | None = None, data: str = "benchmark") -> pd.DataFrame:
    """Per setting: count, mean, std, min and max of the main metric (the paper's Table 6), of view ``data``."""
    rows = []
    for setting in _chosen(store, settings):
        metric = get_setting(setting).main_metric
        values = store.load_setting(setting, columns=[metric], data=data)[metric].to_numpy(zero_copy_only=False)
        values = values[~np.isnan(values.astype(float))].astype(float)
        rows.append({"setting": setting, "metric": metric, "count": len(values),
                     "mean": values.mean() if len(values) else np.nan,
                     "std": values.std(ddof=1) if len(values) > 1 else np.nan,
                     "min": values.min() if len(values) else np.nan,
                     "max": values.max() if len(values) else np.nan})
    return pd.DataFrame(rows, columns=["setting", "metric", "count", "mean", "std", "min", "max"])
