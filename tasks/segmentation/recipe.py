"""The segmentation recipe (``conf/task/seg*.yaml``): the common sections plus data and augmentation."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.cost import CostSpec
from bench.errors import BenchError
from bench.recipe import Recipe
from tasks.data.cityscapes import NUM_CLASSES
from tasks.segmentation.data import SegAugmentConfig


@dataclass(frozen=True)
class SegDataConfig:
    """``expected_train`` / ``expected_val``: the image counts the dataset must have (Cityscapes fine:
    2975 / 500); a copy with fewer or more is refused rather than silently trained on. null skips the check."""

    expected_train: int | None = 2975
    expected_val: int | None = 500


@dataclass(frozen=True, kw_only=True)
class SegmentationRecipe(Recipe):
    """Cityscapes semantic segmentation (mIoU/mAcc/aAcc in percent), the paper's Seg recipes."""

    num_classes: int = NUM_CLASSES
    data: SegDataConfig = field(default_factory=SegDataConfig)
    augment: SegAugmentConfig = field(default_factory=SegAugmentConfig)

    def sample_cost(self) -> CostSpec:
        """One training crop (``augment.crop_size``, height x width) through the segmentation network."""
        return CostSpec("seg", tuple(self.augment.crop_size), self.num_classes)

    def __post_init__(self) -> None:
        if self.num_classes != NUM_CLASSES:
            raise BenchError(f"recipe key num_classes={self.num_classes} is invalid for Cityscapes; it has {NUM_CLASSES}")
