"""Seeding: the model's initial weights come from the job seed alone."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def generator_for(seed: int) -> torch.Generator:
    """A private CPU generator, so augmentation draws never disturb the global stream."""
    return torch.Generator().manual_seed(seed)
