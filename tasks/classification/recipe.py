"""The classification recipe (``conf/task/cls_*.yaml``): the common sections plus data and augmentation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bench.cost import CostSpec
from bench.errors import BenchError
from bench.recipe import RUN_ONLY, Recipe
from tasks.classification.data import AugmentConfig


@dataclass(frozen=True)
class ImageNetData:
    """Which samples: ``manifest`` is a manifest name (in ``data_manifests/``, or the toy root's
    ``manifests/``) or a path; ``verify``: ``size`` (every file exists with its size; fast) or
    ``sha256`` (full content); ``decode``: ``auto`` (on the device when it is a GPU), ``device``
    or ``cpu``. ``verify`` and ``decode`` change how a job runs, not what it trains on."""

    manifest: str | None = None
    verify: Literal["size", "sha256"] = field(default="size", metadata=RUN_ONLY)
    decode: Literal["auto", "device", "cpu"] = field(default="auto", metadata=RUN_ONLY)


@dataclass(frozen=True, kw_only=True)
class ClassificationRecipe(Recipe):
    """ImageNet-subset classification (top1/top5 in percent), the paper's Cls recipes."""

    num_classes: int
    data: ImageNetData = field(default_factory=ImageNetData)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def sample_cost(self) -> CostSpec:
        """One training crop (``augment.crop_size`` square) through the classifier."""
        return CostSpec("cls", (self.augment.crop_size, self.augment.crop_size), self.num_classes)

    def __post_init__(self) -> None:
        if self.num_classes < 2:
            raise BenchError(f"recipe key num_classes={self.num_classes} must be >= 2")
