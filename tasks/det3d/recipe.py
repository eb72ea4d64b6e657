"""The det3d recipe (``conf/task/det3d.yaml``): the common sections plus the detector, data and augmentation.

PointPillars' schedule is the engine's ``onecycle`` policy with AdamW (beta1 cycling between
``schedule.moms``) and gradient-norm clipping (``optim.grad_clip``), OpenPCDet's recipe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.cost import CostSpec
from bench.recipe import Recipe
from tasks.det3d.anchors import AnchorSpec
from tasks.det3d.augment import AugmentConfig
from tasks.det3d.detector import DetectorConfig


@dataclass(frozen=True)
class Det3dData:
    """The KITTI ``ImageSets`` lists to train and evaluate on (3,712 / 3,769 frames)."""

    train_split: str = "train"
    val_split: str = "val"


@dataclass(frozen=True, kw_only=True)
class Det3dRecipe(Recipe):
    """KITTI 3D detection with the code's network as PointPillars' BEV backbone (docs/det3d.md)."""

    model: DetectorConfig
    data: Det3dData = field(default_factory=Det3dData)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def sample_cost(self) -> CostSpec:
        """One frame's BEV pseudo-image (the pillar grid, ``pillar_channels`` deep) through the fused-map network;
        the pillar encoder and the detection head are not counted (the throughput calibration absorbs them)."""
        grid = self.model.grid
        return CostSpec("det", (grid.ny, grid.nx), in_channels=self.model.pillar_channels)


def toy_detector_config() -> DetectorConfig:
    """A small model for tests and benchmarks: a 25.6 m x 25.6 m range in 0.32 m pillars (80 x 80), standard anchors
    (the toy smoke recipe, conf/smoke/toy_det3d.yaml, uses coarser pillars to train in minutes on a CPU)."""
    return DetectorConfig(
        point_range=(0.0, -12.8, -3.0, 25.6, 12.8, 1.0), pillar_size=(0.32, 0.32), max_pillars_train=4000,
        max_pillars_test=4000, max_points=32, head_stride=2,
        anchors=(
            AnchorSpec("Car", (3.9, 1.6, 1.56), -1.78, 0.6, 0.45),
            AnchorSpec("Pedestrian", (0.8, 0.6, 1.73), -0.6, 0.5, 0.35),
            AnchorSpec("Cyclist", (1.76, 0.6, 1.73), -0.6, 0.5, 0.35),
        ),
    )
