"""A propagation's trajectory as a Parquet table and a figure (like the paper's Fig. 3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.ncp.encoding import CodeEncoding
from bench.ncp.propagate import Propagation


def trajectory_table(propagation: Propagation, encoding: CodeEncoding, head_names: list[str]) -> pa.Table:
    """Long table: one row per (start, iteration): raw dimension values, predictions, GFLOPs.

    ``head_names`` label the prediction columns (``pred_<setting>_<metric>``).
    """
    steps, n, d = propagation.x.shape
    iteration = np.repeat(np.arange(steps), n)
    start = np.tile(np.arange(n), steps)
    columns: dict[str, np.ndarray] = {"iteration": iteration, "start": start}
    flat = propagation.x.reshape(steps * n, d)
    for j, name in enumerate(encoding.names):
        columns[name] = flat[:, j]
    predicted = propagation.predicted.reshape(steps * n, -1)
    for j, name in enumerate(head_names):
        columns[f"pred_{name}"] = predicted[:, j]
    columns["gflops"] = propagation.gflops.reshape(-1)
    return pa.table(columns)


def write_trajectory(table: pa.Table, path: str | Path) -> Path:
    """Write the trajectory table as Parquet."""
    path = Path(path)
    pq.write_table(table, path)
    return path


def plot_trajectory(propagation: Propagation, encoding: CodeEncoding, head_names: list[str], start: int,
                    path: str | Path, title: str = "", flops_head: str | None = None) -> Path:
    """Three panels against iteration for one start: dimensions (scaled to [0, 1]), predictions, FLOPs.

    FLOPs are the closed-form GFLOPs of the continuous code, or, with
    ``flops_head`` (NAS-Bench-201), that head's predicted GFLOPs drawn as MFLOPs.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = propagation.x[:, start, :]
    scaled = (x - encoding.lo) / (encoding.hi - encoding.lo)
    iterations = np.arange(len(x))
    if flops_head is not None:
        flops = propagation.predicted[:, start, head_names.index(flops_head)] * 1e3
        flops_label = "MFLOPs (predicted)"
    else:
        flops, flops_label = propagation.gflops[:, start], "GFLOPs (closed form)"
    has_flops = bool(np.isfinite(flops).any())
    panels = 3 if has_flops else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4), constrained_layout=True)
    cmap = plt.get_cmap("viridis")
    for j, name in enumerate(encoding.names):
        axes[0].plot(iterations, scaled[:, j], color=cmap(j / max(encoding.dim - 1, 1)), lw=1, label=name)
    axes[0].set(xlabel="iteration", ylabel="dimension value (0 = min, 1 = max)", title="code")
    if encoding.dim <= 30:
        axes[0].legend(fontsize=5, ncol=3, loc="best")
    for j, name in enumerate(head_names):
        if name != flops_head:
            axes[1].plot(iterations, propagation.predicted[:, start, j], label=name)
    axes[1].set(xlabel="iteration", ylabel="predicted (metric points)", title="prediction")
    axes[1].legend(fontsize=7)
    if has_flops:
        axes[2].plot(iterations, flops, color="tab:red")
        axes[2].set(xlabel="iteration", ylabel=flops_label, title="FLOPs")
    if title:
        fig.suptitle(title, fontsize=9)
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
