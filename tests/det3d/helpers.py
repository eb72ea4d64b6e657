"""Shared helpers for the det3d tests: KITTI objects built by hand."""

from __future__ import annotations

import numpy as np

from tasks.det3d.kitti import Objects


def objects(names, boxes, bbox=None, score=None, truncated=None, occluded=None, alpha=None) -> Objects:
    """Objects from camera boxes (x, y, z, l, h, w, ry); image boxes default to a tall box per object."""
    n = len(names)
    boxes = np.asarray(boxes, dtype=float).reshape(n, 7)
    if bbox is None:
        bbox = np.array([[100.0 * i, 100.0, 100.0 * i + 50.0, 200.0] for i in range(n)]).reshape(n, 4)
    return Objects(
        names=np.array(names, dtype="<U16"),
        truncated=np.zeros(n) if truncated is None else np.asarray(truncated, float),
        occluded=np.zeros(n, dtype=np.int64) if occluded is None else np.asarray(occluded, np.int64),
        alpha=np.zeros(n) if alpha is None else np.asarray(alpha, float),
        bbox=np.asarray(bbox, float).reshape(n, 4),
        boxes=boxes,
        score=np.ones(n) if score is None else np.asarray(score, float),
    )


def car_row(i: int, n: int = 40) -> list[float]:
    """A car box spread along x so that no two overlap."""
    return [10.0 * i, 1.5, 20.0, 4.0, 1.5, 1.6, 0.0]
