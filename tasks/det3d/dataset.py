"""The KITTI training / validation sets as torch datasets, and detections back in KITTI terms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from tasks.det3d.augment import AugmentConfig, augment
from tasks.det3d.boxes import alpha_of, camera_to_lidar, image_boxes, lidar_to_camera, points_in_fov
from tasks.det3d.kitti import KittiFrame, Objects, read_split


class KittiDetectionSet(Dataset):
    """Frames of one split: ``set[i]`` (evaluation) or ``set[(i, aug_seed)]`` (training, augmented).

    A sample is a dict with ``points`` (N, 4) float32, ``gt_boxes`` (G, 7) lidar boxes,
    ``gt_classes`` (G,) 0-based indices into ``classes`` and ``index``. Points outside the
    camera's field of view are dropped (KITTI labels only objects seen by the camera),
    and so are boxes whose centre leaves the range after augmentation.
    """

    def __init__(self, root: str | Path, split: str, classes: tuple[str, ...], point_range: tuple[float, ...],
                 augment_config: AugmentConfig | None) -> None:
        self.root = Path(root)
        self.ids = read_split(self.root, split)
        self.classes = classes
        self.point_range = point_range
        self.augment_config = augment_config

    def __len__(self) -> int:
        return len(self.ids)

    def frame(self, index: int) -> KittiFrame:
        return KittiFrame(self.root, self.ids[index])

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, Any]:
        index, seed = item if isinstance(item, tuple) else (item, None)
        frame = self.frame(index)
        calib, image_hw = frame.calib(), frame.image_size()
        points = frame.points()
        points = points[points_in_fov(points, calib, image_hw)]
        labels = frame.labels()
        keep = np.isin(labels.names, self.classes)
        boxes = camera_to_lidar(labels.boxes[keep], calib)
        classes = np.array([self.classes.index(n) for n in labels.names[keep]], dtype=np.int64)
        if seed is not None and self.augment_config is not None:
            points, boxes = augment(points, boxes, self.augment_config, seed)
            lo, hi = np.array(self.point_range[:2]), np.array(self.point_range[3:5])
            inside = ((boxes[:, :2] >= lo) & (boxes[:, :2] <= hi)).all(axis=1)
            boxes, classes = boxes[inside], classes[inside]
            points = points[np.random.default_rng(seed + 1).permutation(len(points))]  # random pillar cap
        return {
            "points": torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32)),
            "gt_boxes": torch.from_numpy(boxes.astype(np.float32)),
            "gt_classes": torch.from_numpy(classes),
            "index": index,
        }


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Clouds and boxes differ in size: keep them as lists."""
    return {key: [s[key] for s in samples] for key in samples[0]}


def to_kitti_objects(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, classes: tuple[str, ...],
                     frame: KittiFrame) -> Objects:
    """(N, 7) lidar-frame detections with (N,) scores and class ids -> KITTI detection objects:
    camera boxes, image boxes (projected corners clipped to the image) and alpha (:func:`boxes.alpha_of`,
    the label convention, so AOS compares like with like)."""
    calib, image_hw = frame.calib(), frame.image_size()
    cam = lidar_to_camera(boxes.astype(np.float64), calib)
    n = len(cam)
    return Objects(
        names=np.array([classes[int(i)] for i in labels], dtype="<U16"),
        truncated=np.zeros(n),
        occluded=np.zeros(n, dtype=np.int64),
        alpha=alpha_of(cam),
        bbox=image_boxes(cam, calib, image_hw),
        boxes=cam,
        score=scores.astype(np.float64),
    )
