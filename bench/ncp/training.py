"""Training loop of the predictor networks: the authors' schedule, whole tensors, no DataLoader.

Per member: Adam (lr, weight decay), a one-cycle schedule stepped every batch (max lr =
lr, ``pct_start``, ``div_factor``, Adam's beta1 cycled ``max_momentum -> base_momentum ->
max_momentum``), a fresh shuffle every epoch, batches of ``batch_size`` (a final batch
of one row is dropped: BatchNorm cannot train on it). The loss (smooth-L1 or L1) is
averaged over the OBSERVED targets only: published tables can lack secondary metrics.

After every epoch the validation rows are predicted in eval mode and kept, so the
caller can report both the final model and the paper's best-epoch protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np
import torch
from torch import nn

from bench.ncp.model import MetricNet
from bench.ncp.recipe import PredictorRecipe

Progress = Callable[[str], None]


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


def train_member(make_net: Callable[[], MetricNet], recipe: PredictorRecipe, data: TrainingData,
                 seed: int) -> tuple[MetricNet, np.ndarray]:
    """Build a network (initialised from torch seed ``seed``; the caller's RNG is untouched) and
    train it; returns it (eval mode, frozen) and its per-epoch validation predictions
    (epochs, n_val, M) in standardised units."""
    train = torch.from_numpy(data.train_rows)
    z, y = data.features[train], data.targets[train]
    observed = torch.isfinite(y).float()
    y = torch.nan_to_num(y)
    z_val = data.features[torch.from_numpy(data.val_rows)]
    n = len(z)
    bounds = [(s, min(s + recipe.batch_size, n)) for s in range(0, n, recipe.batch_size)]
    bounds = [(s, e) for s, e in bounds if e - s > 1]
    history = np.empty((recipe.epochs, len(z_val), y.shape[1]), dtype=np.float32)
    if recipe.loss == "l1":
        loss_fn = nn.functional.l1_loss
    elif recipe.loss == "smooth_l1":
        loss_fn = partial(nn.functional.smooth_l1_loss, beta=recipe.loss_beta)
    else:  # "auto" is resolved by bench.ncp.loss_choice before any member trains
        raise ValueError(f"train_member needs a concrete loss ('l1' or 'smooth_l1'), got {recipe.loss!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = make_net()
        net.input_shift.copy_(data.input_shift)
        net.input_scale.copy_(data.input_scale)
        optimiser = torch.optim.Adam(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimiser, max_lr=recipe.lr, total_steps=recipe.epochs * len(bounds), pct_start=recipe.pct_start,
            div_factor=recipe.div_factor, base_momentum=recipe.base_momentum, max_momentum=recipe.max_momentum,
        )
        for epoch in range(recipe.epochs):
            net.train()
            order = torch.randperm(n)
            zs, ys, os = z[order], y[order], observed[order]
            for start, stop in bounds:
                optimiser.zero_grad(set_to_none=True)
                errors = loss_fn(net(zs[start:stop]), ys[start:stop], reduction="none")
                mask = os[start:stop]
                ((errors * mask).sum() / mask.sum().clamp_min(1.0)).backward()
                optimiser.step()
                schedule.step()
            net.eval()
            with torch.no_grad():
                history[epoch] = net(z_val).numpy()
    for p in net.parameters():
        p.requires_grad_(False)
    return net, history
