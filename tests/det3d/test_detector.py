"""The detector end to end without training: shapes, gradients, and decoding of perfect head outputs."""

from __future__ import annotations

import math

import torch

from tasks.det3d.anchors import assign_targets, limit_period
from tasks.det3d.detector import PointPillars
from tasks.det3d.losses import direction_target
from tasks.det3d.recipe import toy_detector_config

CODE = "8_8-1_1_1_8-1_2_1_1_8_8-1_3_1_1_1_8_8_8-1_4_1_1_1_1_8_8_8_8-8"


def _scene():
    boxes = torch.tensor([[10.0, 2.0, -0.95, 3.9, 1.6, 1.56, 2.5], [18.0, -5.0, -0.9, 0.8, 0.6, 1.73, -1.2]])
    return boxes, torch.tensor([0, 1])


def test_forward_loss_and_backward():
    torch.manual_seed(0)
    model = PointPillars(CODE, toy_detector_config())
    clouds = [torch.rand(800, 4) * torch.tensor([25.0, 25.0, 3.0, 1.0]) - torch.tensor([0.0, 12.5, 2.5, 0.0]) for _ in range(2)]
    out = model(clouds)
    assert out["cls"].shape == (2, 40 * 40 * 6, 3) and out["box"].shape[-1] == 7 and out["dir"].shape[-1] == 2
    boxes, classes = _scene()
    losses = model.loss(out, [boxes, boxes[:0]], [classes, classes[:0]])
    losses["loss"].backward()
    assert all(torch.isfinite(v) for v in losses.values())
    assert model.pillar_net.linear.weight.grad.abs().sum() > 0  # gradients reach the points
    assert all(p.grad is not None for p in model.backbone.parameters())


def test_perfect_head_outputs_decode_to_the_ground_truth():
    model = PointPillars(CODE, toy_detector_config()).eval()
    boxes, classes = _scene()
    targets = assign_targets(model.anchors, model.anchor_class, model.config.anchors, boxes, classes)
    positive = targets.labels > 0
    cls = torch.full((1, len(model.anchors), 3), -10.0)
    cls[0, positive, targets.labels[positive] - 1] = 5.0
    direction = torch.zeros(1, len(model.anchors), 2)
    bins = direction_target(targets.gt_heading, model.config.losses.direction_offset)
    direction[0, torch.arange(len(bins)), bins] = 5.0
    found = model.detect({"cls": cls, "box": targets.box_targets[None], "dir": direction})[0]
    assert len(found.boxes) == 2  # NMS folds the duplicate positives of each object
    order = torch.argsort(found.labels)
    torch.testing.assert_close(found.boxes[order][:, :6], boxes[:, :6], atol=1e-4, rtol=0)
    heading_error = limit_period(found.boxes[order][:, 6] - boxes[:, 6])
    assert heading_error.abs().max() < 1e-4
    assert found.labels[order].tolist() == [0, 1]
    assert math.isclose(float(found.scores.min()), 1 / (1 + math.exp(-5.0)), rel_tol=1e-5)
