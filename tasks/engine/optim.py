"""Optimiser and the per-iteration learning rate (and momentum) from the recipe."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from bench.recipe import OptimConfig, ScheduleConfig


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: OptimConfig) -> torch.optim.Optimizer:
    """The recipe's optimiser over ``params`` (weight decay on every parameter, as the paper's code does)."""
    params = list(params)
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=cfg.nesterov)
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


def _cos(start: float, end: float, fraction: float) -> float:
    """Cosine interpolation from ``start`` (fraction 0) to ``end`` (fraction 1)."""
    return end + (start - end) * (1 + math.cos(math.pi * fraction)) / 2


def lr_at(iteration: int, total_iters: int, base_lr: float, cfg: ScheduleConfig) -> tuple[float, float | None]:
    """(learning rate, momentum or None) for 0-based ``iteration`` of ``total_iters``.

    The momentum is set only by ``onecycle`` (SGD momentum, or Adam's beta1, moving opposite
    to the rate between ``cfg.moms``, as ``torch.optim.lr_scheduler.OneCycleLR`` and
    OpenPCDet's ``adam_onecycle`` do); other policies leave the optimiser's own.

    Example:
        >>> s = ScheduleConfig(unit="iter", length=10, policy="cosine")
        >>> lr_at(0, 10, 0.1, s)[0], round(lr_at(5, 10, 0.1, s)[0], 4), lr_at(10, 10, 0.1, s)[0]
        (0.1, 0.05, 0.0)
        >>> one = ScheduleConfig(unit="epoch", length=1, policy="onecycle", pct_start=0.4)
        >>> [round(lr_at(i, 10, 2e-3, one)[0], 6) for i in (0, 4, 10)]
        [0.0002, 0.002, 0.0]
    """
    if cfg.policy == "onecycle":
        low = base_lr / cfg.div_factor
        end = low / cfg.final_div_factor
        warm = max(1.0, cfg.pct_start * total_iters)
        t = min(iteration, total_iters)
        if t <= warm:
            return _cos(low, base_lr, t / warm), _cos(cfg.moms[0], cfg.moms[1], t / warm)
        fraction = (t - warm) / max(1.0, total_iters - warm)
        return _cos(base_lr, end, fraction), _cos(cfg.moms[1], cfg.moms[0], fraction)
    if iteration < cfg.warmup_iters:
        return base_lr * (iteration + 1) / cfg.warmup_iters, None
    t = min(1.0, iteration / max(1, total_iters))
    if cfg.policy == "constant":
        return base_lr, None
    if cfg.policy == "cosine":
        return _cos(base_lr, cfg.min_lr, t), None
    return (base_lr - cfg.min_lr) * (1.0 - t) ** cfg.power + cfg.min_lr, None


def set_lr(optimizer: torch.optim.Optimizer, lr: float, momentum: float | None = None) -> None:
    """Set every parameter group's rate (and momentum: SGD's ``momentum`` or Adam's beta1)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
        if momentum is None:
            continue
        if "betas" in group:
            group["betas"] = (momentum, group["betas"][1])
        elif "momentum" in group:
            group["momentum"] = momentum
