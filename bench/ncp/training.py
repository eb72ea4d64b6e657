"""Training loop of the predictor networks: the authors' schedule, whole tensors, no DataLoader.

Per member: Adam (lr, weight decay), a one-cycle schedule stepped every batch (max lr =
lr, ``pct_start``, ``div_factor``, Adam's beta1 cycled ``max_momentum -> base_momentum ->
max_momentum``), a fresh shuffle every epoch, batches of ``batch_size`` (a final batch
of one row is dropped: BatchNorm cannot train on it). The loss (smooth-L1 or L1) is
averaged over the OBSERVED targets only: published tables can lack secondary metrics.

After every epoch the validation rows are predicted in eval mode and kept, so the
caller can report both the final model and the paper's best-epoch protocol.

The members of one call train together as stacked tensors (:mod:`bench.ncp.stacked`):
each keeps its own initialisation, shuffles, dropout masks and loss, at a fraction of
the cost of training them one after another (``benchmarks/bench_predictor_training.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from bench.ncp.model import MetricNet
from bench.ncp.recipe import PredictorRecipe
from bench.ncp.stacked import StackedNets

Progress = Callable[[str], None]
HEARTBEAT_S = 20.0
"""Seconds between two progress lines of one training."""


@dataclass(frozen=True)
class TrainingData:
    """Standardised inputs for one setting: features (N, R), targets (N, M) with NaN where unobserved."""

    features: torch.Tensor
    targets: torch.Tensor
    train_rows: np.ndarray
    val_rows: np.ndarray
    input_shift: torch.Tensor
    input_scale: torch.Tensor


def member_seed(seed: int, member: int) -> int:
    """Torch seed of ensemble member ``member`` of a predictor with ``seed`` (distinct across seeds)."""
    return 1000 * seed + member


def train_members(make_net: Callable[[], MetricNet], recipe: PredictorRecipe, data: TrainingData,
                  seeds: Sequence[int], losses: Sequence[str] | None = None,
                  progress: Progress | None = None) -> tuple[list[MetricNet], np.ndarray]:
    """Build one network per seed (member ``e`` initialised from torch seed ``seeds[e]``) and train
    them together on ``data.train_rows``; the shuffles and dropout masks, distinct per member,
    are drawn from torch seed ``seeds[0]``. The caller's RNG is untouched.

    ``losses`` gives each member's loss (``'l1'`` or ``'smooth_l1'``; default: the recipe's).
    ``progress`` hears the epoch reached every :data:`HEARTBEAT_S` seconds of a long training
    (12,500 NAS-Bench-201 cells take about two minutes), so that it does not look hung.
    Returns the networks (eval mode, frozen) and their per-epoch validation predictions
    (E, epochs, n_val, M) in standardised units.

    Raises:
        ValueError: not one ``'l1'`` / ``'smooth_l1'`` per seed (``'auto'`` is resolved by
            :mod:`bench.ncp.loss_choice`, ``'mix'`` by :meth:`PredictorRecipe.member_losses`).
    """
    losses = list(losses or [recipe.loss] * len(seeds))
    bad = sorted(set(losses) - {"l1", "smooth_l1"})
    if bad or len(losses) != len(seeds):
        raise ValueError(f"train_members needs one concrete loss ('l1' or 'smooth_l1') per seed, got {losses} for {len(seeds)} seeds")
    train = torch.from_numpy(data.train_rows)
    z, y = data.features[train], data.targets[train]
    observed = torch.isfinite(y).float()
    y = torch.nan_to_num(y)
    members = len(seeds)
    z_val = data.features[torch.from_numpy(data.val_rows)].expand(members, -1, -1)
    n = len(z)
    bounds = [(s, min(s + recipe.batch_size, n)) for s in range(0, n, recipe.batch_size)]
    bounds = [(s, e) for s, e in bounds if e - s > 1]
    history = np.empty((members, recipe.epochs, z_val.shape[1], y.shape[1]), dtype=np.float32)
    uses_l1 = torch.tensor([loss == "l1" for loss in losses])[:, None, None]
    with torch.random.fork_rng(devices=[]):
        nets = []
        for seed in seeds:
            torch.manual_seed(seed)
            net = make_net()
            net.input_shift.copy_(data.input_shift)
            net.input_scale.copy_(data.input_scale)
            nets.append(net)
        torch.manual_seed(seeds[0])
        stacked = StackedNets(nets)
        optimiser = torch.optim.Adam(stacked.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay, fused=True)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimiser, max_lr=recipe.lr, total_steps=recipe.epochs * len(bounds), pct_start=recipe.pct_start,
            div_factor=recipe.div_factor, base_momentum=recipe.base_momentum, max_momentum=recipe.max_momentum,
        )
        began = last = time.perf_counter()
        for epoch in range(recipe.epochs):
            if progress is not None and epoch and time.perf_counter() - last >= HEARTBEAT_S:
                last = time.perf_counter()
                progress(f"epoch {epoch}/{recipe.epochs} after {last - began:.0f} s")
            order = torch.argsort(torch.rand(members, n), dim=1)  # each member its own shuffle
            zs, ys, os = z[order], y[order], observed[order]
            for start, stop in bounds:
                optimiser.zero_grad(set_to_none=True)
                out = stacked.forward(zs[:, start:stop], training=True)
                errors = _errors(out, ys[:, start:stop], uses_l1, recipe.loss_beta)
                mask = os[:, start:stop]
                ((errors * mask).sum((1, 2)) / mask.sum((1, 2)).clamp_min(1.0)).sum().backward()
                optimiser.step()
                schedule.step()
            with torch.no_grad():
                history[:, epoch] = stacked.forward(z_val, training=False).numpy()
    stacked.unstack(nets)
    for net in nets:
        net.eval().requires_grad_(False)
    return nets, history


def _errors(out: torch.Tensor, target: torch.Tensor, uses_l1: torch.Tensor, beta: float) -> torch.Tensor:
    """Elementwise L1 or smooth-L1 (``beta``) per member (``uses_l1`` (E, 1, 1))."""
    if bool(uses_l1.all()):
        return nn.functional.l1_loss(out, target, reduction="none")
    smooth = nn.functional.smooth_l1_loss(out, target, reduction="none", beta=beta)
    if not bool(uses_l1.any()):
        return smooth
    return torch.where(uses_l1, nn.functional.l1_loss(out, target, reduction="none"), smooth)
