"""Optimiser and per-iteration learning rate from the recipe."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from tasks.engine.recipe import OptimConfig, ScheduleConfig


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: OptimConfig) -> torch.optim.Optimizer:
    """The recipe's optimiser over ``params`` (weight decay on every parameter, as the paper's code does)."""
    params = list(params)
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=cfg.nesterov)
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


def lr_at(iteration: int, total_iters: int, base_lr: float, cfg: ScheduleConfig) -> float:
    """Learning rate for 0-based ``iteration`` of ``total_iters``.

    Example:
        >>> s = ScheduleConfig(unit="iter", length=10, policy="cosine")
        >>> lr_at(0, 10, 0.1, s), round(lr_at(5, 10, 0.1, s), 4), lr_at(10, 10, 0.1, s)
        (0.1, 0.05, 0.0)
    """
    if iteration < cfg.warmup_iters:
        return base_lr * (iteration + 1) / cfg.warmup_iters
    t = min(1.0, iteration / max(1, total_iters))
    if cfg.policy == "constant":
        return base_lr
    if cfg.policy == "cosine":
        return cfg.min_lr + (base_lr - cfg.min_lr) * 0.5 * (1.0 + math.cos(math.pi * t))
    return (base_lr - cfg.min_lr) * (1.0 - t) ** cfg.power + cfg.min_lr


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
