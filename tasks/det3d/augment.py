"""Global training augmentation of a point cloud and its boxes (lidar frame), seeded per sample.

PointPillars' KITTI recipe: random flip about the x axis, global rotation, global scaling and
global translation (the paper's N(0, 0.2) m on x, y, z; OpenPCDet's pointpillar.yaml has no
translation). Ground-truth sampling (pasting objects from other scenes) is not implemented.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.errors import BenchError


@dataclass(frozen=True)
class AugmentConfig:
    """The ``augment`` block of the recipe."""

    flip: bool = True
    rotation: float = np.pi / 4  # uniform in [-rotation, rotation] radians
    scaling: tuple[float, float] = (0.95, 1.05)
    translation_std: float = 0.2  # metres, each of x, y, z

    def __post_init__(self) -> None:
        if self.rotation < 0 or self.translation_std < 0:
            raise BenchError(f"augment.rotation={self.rotation} and augment.translation_std={self.translation_std} must be >= 0")
        if not 0 < self.scaling[0] <= self.scaling[1]:
            raise BenchError(f"augment.scaling={self.scaling} must be (low, high) with 0 < low <= high")


def augment(points: np.ndarray, boxes: np.ndarray, config: AugmentConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return augmented copies of (N, 4) ``points`` and (G, 7) lidar ``boxes``.

    Example:
        >>> pts, bxs = augment(np.ones((3, 4)), np.ones((1, 7)), AugmentConfig(), seed=0)
        >>> pts.shape, bxs.shape
        ((3, 4), (1, 7))
    """
    rng = np.random.default_rng(seed)
    points, boxes = points.copy(), boxes.copy()
    if config.flip and rng.random() < 0.5:
        points[:, 1] = -points[:, 1]
        boxes[:, 1] = -boxes[:, 1]
        boxes[:, 6] = -boxes[:, 6]
    angle = rng.uniform(-config.rotation, config.rotation)
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    points[:, :2] = points[:, :2] @ rot.T
    boxes[:, :2] = boxes[:, :2] @ rot.T
    boxes[:, 6] += angle
    scale = rng.uniform(*config.scaling)
    points[:, :3] *= scale
    boxes[:, :6] *= scale
    shift = rng.normal(0.0, config.translation_std, size=3)
    points[:, :3] += shift
    boxes[:, :3] += shift
    return points.astype(np.float32), boxes
