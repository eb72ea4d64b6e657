"""PointPillars' losses: sigmoid focal classification, smooth-L1 box regression, direction bins.

Normalisation and weights follow OpenPCDet's ``AnchorHeadTemplate``: every loss is divided by
the sample's number of positive anchors, summed, divided by the batch size, and weighted
1.0 (classification), 2.0 (boxes) and 0.2 (direction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tasks.det3d.anchors import limit_period


@dataclass(frozen=True)
class LossWeights:
    classification: float = 1.0
    box: float = 2.0
    direction: float = 0.2
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    smooth_l1_beta: float = 1.0 / 9.0
    direction_offset: float = math.pi / 4  # OpenPCDet's DIR_OFFSET 0.78539


def sigmoid_focal_loss(logits: torch.Tensor, targets: torch.Tensor, alpha: float, gamma: float) -> torch.Tensor:
    """Element-wise focal loss (Lin et al. 2017) on sigmoid outputs."""
    prob = torch.sigmoid(logits)
    alpha_weight = targets * alpha + (1 - targets) * (1 - alpha)
    pt = targets * (1 - prob) + (1 - targets) * prob
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return alpha_weight * pt.pow(gamma) * bce


def direction_target(gt_heading: torch.Tensor, offset: float, bins: int = 2) -> torch.Tensor:
    """Which half-turn the heading lies in (OpenPCDet's two direction bins)."""
    shifted = limit_period(gt_heading - offset, 0.0, 2 * math.pi)
    return torch.floor(shifted / (2 * math.pi / bins)).long().clamp(0, bins - 1)


def detection_losses(cls_logits: torch.Tensor, box_deltas: torch.Tensor, dir_logits: torch.Tensor,
                     labels: torch.Tensor, box_targets: torch.Tensor, gt_heading: torch.Tensor,
                     weights: LossWeights) -> dict[str, torch.Tensor]:
    """Losses for a batch: (B, K, C) class logits, (B, K, 7) box deltas, (B, K, 2) direction logits,
    and the assigned (B, K) labels, (B, K, 7) targets, (B, K) headings. Returns the weighted parts and
    their sum under ``loss``."""
    batch, _, num_classes = cls_logits.shape
    positive = labels > 0
    cared = labels >= 0
    normaliser = positive.sum(dim=1, keepdim=True).float().clamp(min=1.0)
    cls_weight = cared.float() / normaliser
    reg_weight = positive.float() / normaliser

    one_hot = F.one_hot(labels.clamp(min=0), num_classes + 1)[..., 1:].to(cls_logits.dtype)
    cls_loss = (sigmoid_focal_loss(cls_logits, one_hot, weights.focal_alpha, weights.focal_gamma) * cls_weight[..., None]).sum() / batch

    # The heading is regressed through sin(a - b) = sin a cos b - cos a sin b (OpenPCDet's add_sin_difference).
    pred_rot, target_rot = box_deltas[..., 6:7], box_targets[..., 6:7]
    pred = torch.cat([box_deltas[..., :6], torch.sin(pred_rot) * torch.cos(target_rot)], dim=-1)
    target = torch.cat([box_targets[..., :6], torch.cos(pred_rot) * torch.sin(target_rot)], dim=-1)
    box_loss = (F.smooth_l1_loss(pred, target, beta=weights.smooth_l1_beta, reduction="none").sum(dim=-1) * reg_weight).sum() / batch

    dir_target = direction_target(gt_heading, weights.direction_offset)
    dir_ce = F.cross_entropy(dir_logits.reshape(-1, 2), dir_target.reshape(-1), reduction="none").view(batch, -1)
    dir_loss = (dir_ce * reg_weight).sum() / batch

    parts = {
        "loss_cls": cls_loss * weights.classification,
        "loss_box": box_loss * weights.box,
        "loss_dir": dir_loss * weights.direction,
    }
    parts["loss"] = parts["loss_cls"] + parts["loss_box"] + parts["loss_dir"]
    return parts
