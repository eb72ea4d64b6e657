"""Rotated IoU against shapely; voxelization and scatter against slow references; anchors and targets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
import torch

from tasks.det3d.anchors import AnchorSpec, assign_targets, decode, encode, make_anchors
from tasks.det3d.rotated_iou import bev_corners, bev_iou, camera_3d_iou
from tasks.det3d.voxelize import PillarGrid, scatter_to_bev, voxelize


def test_rotated_iou_matches_shapely_on_random_boxes():
    rng = np.random.default_rng(0)
    n = 120
    a = np.c_[rng.uniform(-3, 3, (n, 2)), rng.uniform(0.3, 4, (n, 2)), rng.uniform(-4, 4, n)]
    b = np.c_[rng.uniform(-3, 3, (n, 2)), rng.uniform(0.3, 4, (n, 2)), rng.uniform(-4, 4, n)]
    b[:10] = a[:10]  # identical boxes
    b[10:20] = a[10:20] + [0, 0, 0, 0, math.pi / 2]  # turned a quarter
    pa = shapely.polygons(bev_corners(a[:, :2], a[:, 2:4], a[:, 4]))
    pb = shapely.polygons(bev_corners(b[:, :2], b[:, 2:4], b[:, 4]))
    inter = shapely.area(shapely.intersection(pa[:, None], pb[None, :]))
    expected = inter / (shapely.area(pa)[:, None] + shapely.area(pb)[None, :] - inter)
    assert (expected > 0).sum() > 1000
    np.testing.assert_allclose(bev_iou(a, b), expected, atol=1e-9)


def test_3d_iou_of_half_height_overlap():
    box = np.array([[0.0, 2.0, 10.0, 4.0, 2.0, 2.0, 0.3]])
    lifted = box.copy()
    lifted[0, 1] -= 1.0  # half the height overlaps: 1/2 / (2 - 1/2) = 1/3
    assert camera_3d_iou(box, lifted)[0, 0] == pytest.approx(1 / 3)


def _slow_voxelize(points, grid, max_pillars, max_points):
    pillars = {}
    for p in points.tolist():
        if not all(grid.point_range[k] <= p[k] < grid.point_range[k + 3] for k in range(3)):
            continue
        key = (int((p[1] - grid.point_range[1]) // grid.pillar_size[1]), int((p[0] - grid.point_range[0]) // grid.pillar_size[0]))
        if key not in pillars:
            if len(pillars) == max_pillars:
                continue
            pillars[key] = []
        if len(pillars[key]) < max_points:
            pillars[key].append(p)
    return pillars


@pytest.mark.parametrize("seed", [0, 1])
def test_voxelization_and_scatter_match_a_slow_reference(seed):
    gen = torch.Generator().manual_seed(seed)
    grid = PillarGrid((0.0, -4.0, -3.0, 8.0, 4.0, 1.0), (0.5, 0.5))
    points = torch.rand(3000, 4, generator=gen) * torch.tensor([9.0, 9.0, 5.0, 1.0]) - torch.tensor([0.5, 4.5, 3.5, 0.0])
    out = voxelize(points, grid, max_pillars=150, max_points=5)
    ref = _slow_voxelize(points, grid, 150, 5)
    assert len(out.counts) == len(ref) == 150  # the cap binds: the first-seen pillars are kept
    for i in range(len(out.counts)):
        key = (int(out.coords[i, 1]), int(out.coords[i, 2]))
        expected = torch.tensor(ref[key])
        assert int(out.counts[i]) == len(expected)
        torch.testing.assert_close(out.points[i, : len(expected)], expected)
        assert bool((out.points[i, len(expected):] == 0).all())
    features = torch.randn(len(out.counts), 3)
    image = scatter_to_bev(features, out.coords, 1, grid)
    assert image.shape == (1, 3, grid.ny, grid.nx)
    for i in range(len(out.counts)):
        torch.testing.assert_close(image[0, :, out.coords[i, 1], out.coords[i, 2]], features[i])
    assert int((image.abs().sum(dim=1) > 0).sum()) == len(out.counts)


def test_anchors_and_target_assignment_on_a_constructed_scene():
    specs = (AnchorSpec("Car", (4.0, 2.0, 1.5), -1.78, 0.6, 0.45), AnchorSpec("Pedestrian", (0.8, 0.6, 1.7), -0.6, 0.5, 0.35))
    anchors = make_anchors(specs, (0.0, -4.0, -3.0, 16.0, 4.0, 1.0), (4, 8))  # 2 m cells
    assert anchors.shape == (4, 8, 4, 7)
    assert anchors[0, 0, 0, :2].tolist() == [1.0, -3.0] and anchors[0, 0, 1, 6] == pytest.approx(math.pi / 2)
    flat = anchors.reshape(-1, 7)
    anchor_class = torch.tensor([0, 0, 1, 1]).repeat(32)
    car = torch.tensor([[5.5, -1.0, -1.0, 4.0, 2.0, 1.5, 0.1]])  # IoU 7/9 with the anchor at (5, -1), 5/11 at (7, -1)
    targets = assign_targets(flat, anchor_class, specs, car, torch.tensor([0]))
    positive = torch.nonzero(targets.labels == 1).squeeze(1)
    assert positive.tolist() == [(1 * 8 + 2) * 4 + 0]  # only the unrotated car anchor at that cell
    assert (targets.labels[anchor_class == 1] == 0).all()  # no pedestrians: all pedestrian anchors background
    assert targets.labels[(1 * 8 + 3) * 4].item() == -1  # IoU 0.4545: between 0.45 and 0.6, ignored
    torch.testing.assert_close(decode(targets.box_targets[positive], flat[positive]), car)
    torch.testing.assert_close(decode(encode(car, flat[:1]), flat[:1]), car)
