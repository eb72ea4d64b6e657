"""Anchors, the residual box encoding, and target assignment by bird's-eye-view IoU.

Values are PointPillars' KITTI ones as OpenPCDet ships them (``pointpillar.yaml``): one anchor
size per class, rotations 0 and pi/2, IoU thresholds (matched / unmatched) 0.6 / 0.45 for
cars and 0.5 / 0.35 for pedestrians and cyclists, IoU on axis-aligned ("nearest") BEV boxes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class AnchorSpec:
    """Anchors of one class: size (dx, dy, dz), bottom height, rotations and matching thresholds."""

    name: str
    size: tuple[float, float, float]
    bottom: float
    matched: float
    unmatched: float
    rotations: tuple[float, ...] = (0.0, math.pi / 2)


def make_anchors(specs: tuple[AnchorSpec, ...], point_range: tuple[float, ...], feature_hw: tuple[int, int]) -> torch.Tensor:
    """(H, W, A, 7) anchors at the centres of the feature map's cells, A = classes x rotations.

    OpenPCDet places the first and last anchors on the range's edges (``align_center: False``);
    we centre them in the cells, which keeps anchors symmetric about the range.
    """
    height, width = feature_hw
    step_x = (point_range[3] - point_range[0]) / width
    step_y = (point_range[4] - point_range[1]) / height
    xs = point_range[0] + (torch.arange(width, dtype=torch.float32) + 0.5) * step_x
    ys = point_range[1] + (torch.arange(height, dtype=torch.float32) + 0.5) * step_y
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    per_location = []
    for spec in specs:
        for rot in spec.rotations:
            dx, dy, dz = spec.size
            per_location.append(torch.tensor([0.0, 0.0, spec.bottom + dz / 2, dx, dy, dz, rot]))
    template = torch.stack(per_location)  # (A, 7)
    anchors = template.expand(height, width, -1, -1).clone()
    anchors[..., 0] = grid_x[..., None]
    anchors[..., 1] = grid_y[..., None]
    return anchors


def anchor_class_index(specs: tuple[AnchorSpec, ...]) -> torch.Tensor:
    """(A,) class index (0-based) of each anchor at one location."""
    return torch.tensor([c for c, spec in enumerate(specs) for _ in spec.rotations])


def limit_period(angle: torch.Tensor, offset: float = 0.5, period: float = 2 * math.pi) -> torch.Tensor:
    return angle - torch.floor(angle / period + offset) * period


def nearest_bev(boxes: torch.Tensor) -> torch.Tensor:
    """(N, 7) boxes -> (N, 4) axis-aligned BEV boxes x1, y1, x2, y2 (sizes swapped past 45 degrees)."""
    rot = limit_period(boxes[:, 6], 0.5, math.pi).abs()
    sizes = torch.where((rot < math.pi / 4)[:, None], boxes[:, 3:5], boxes[:, [4, 3]])
    return torch.cat([boxes[:, :2] - sizes / 2, boxes[:, :2] + sizes / 2], dim=1)


def aligned_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, 4), (M, 4) axis-aligned boxes -> (N, M) IoU."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(dim=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(dim=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter).clamp(min=1e-9)


def encode(boxes: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """OpenPCDet's ResidualCoder: centre offsets over the anchor's BEV diagonal (z over its height),
    log size ratios, heading difference."""
    diagonal = torch.sqrt(anchors[:, 3] ** 2 + anchors[:, 4] ** 2)
    return torch.stack([
        (boxes[:, 0] - anchors[:, 0]) / diagonal,
        (boxes[:, 1] - anchors[:, 1]) / diagonal,
        (boxes[:, 2] - anchors[:, 2]) / anchors[:, 5],
        torch.log(boxes[:, 3] / anchors[:, 3]),
        torch.log(boxes[:, 4] / anchors[:, 4]),
        torch.log(boxes[:, 5] / anchors[:, 5]),
        boxes[:, 6] - anchors[:, 6],
    ], dim=1)


def decode(deltas: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`encode` (any leading shape, last dim 7)."""
    diagonal = torch.sqrt(anchors[..., 3] ** 2 + anchors[..., 4] ** 2)
    return torch.stack([
        deltas[..., 0] * diagonal + anchors[..., 0],
        deltas[..., 1] * diagonal + anchors[..., 1],
        deltas[..., 2] * anchors[..., 5] + anchors[..., 2],
        torch.exp(deltas[..., 3]) * anchors[..., 3],
        torch.exp(deltas[..., 4]) * anchors[..., 4],
        torch.exp(deltas[..., 5]) * anchors[..., 5],
        deltas[..., 6] + anchors[..., 6],
    ], dim=-1)


@dataclass(frozen=True)
class Targets:
    """Per-anchor training targets of one sample (anchors flattened to (K,))."""

    labels: torch.Tensor  # (K,) -1 ignore, 0 background, c + 1 for class c
    box_targets: torch.Tensor  # (K, 7) encoded boxes (zeros for non-positives)
    gt_heading: torch.Tensor  # (K,) heading of the matched ground truth (for the direction target)


def assign_targets(anchors: torch.Tensor, anchor_class: torch.Tensor, specs: tuple[AnchorSpec, ...],
                   gt_boxes: torch.Tensor, gt_classes: torch.Tensor) -> Targets:
    """Match (K, 7) anchors to (G, 7) ground truths of their own class, as OpenPCDet's
    ``AxisAlignedTargetAssigner`` does: positive if IoU >= matched, background if < unmatched,
    ignored in between, and each ground truth's best anchor(s) positive whatever the IoU (if > 0).

    ``anchor_class`` (K,) and ``gt_classes`` (G,) hold 0-based class indices.
    """
    k = len(anchors)
    labels = torch.full((k,), -1, dtype=torch.long, device=anchors.device)
    matched_gt = torch.full((k,), -1, dtype=torch.long, device=anchors.device)
    for c, spec in enumerate(specs):
        anchor_idx = torch.nonzero(anchor_class == c).squeeze(1)
        gt_idx = torch.nonzero(gt_classes == c).squeeze(1)
        if len(gt_idx) == 0:
            labels[anchor_idx] = 0
            continue
        iou = aligned_iou(nearest_bev(anchors[anchor_idx]), nearest_bev(gt_boxes[gt_idx]))  # (Ka, Gc)
        best_iou, best_gt = iou.max(dim=1)
        per_gt_best = iou.max(dim=0).values
        per_gt_best = torch.where(per_gt_best == 0, torch.full_like(per_gt_best, -1.0), per_gt_best)
        forced_anchor, forced_gt = torch.nonzero(iou == per_gt_best[None, :], as_tuple=True)
        cls_labels = torch.full((len(anchor_idx),), -1, dtype=torch.long, device=anchors.device)
        cls_gt = best_gt.clone()
        cls_labels[best_iou < spec.unmatched] = 0
        cls_labels[best_iou >= spec.matched] = c + 1
        cls_labels[forced_anchor] = c + 1
        cls_gt[forced_anchor] = forced_gt
        labels[anchor_idx] = cls_labels
        matched_gt[anchor_idx] = torch.where(cls_labels > 0, gt_idx[cls_gt], torch.full_like(cls_gt, -1))
    positive = labels > 0
    box_targets = anchors.new_zeros((k, 7))
    gt_heading = anchors.new_zeros((k,))
    if positive.any():
        matched = gt_boxes[matched_gt[positive]]
        box_targets[positive] = encode(matched, anchors[positive])
        gt_heading[positive] = matched[:, 6]
    return Targets(labels, box_targets, gt_heading)
