"""Overlaps of rotated boxes on the CPU, vectorised in numpy (no compiled operators).

The intersection of two convex quadrilaterals is the convex polygon whose vertices are the
corners of each box inside the other plus the crossings of their edges; sorting those
candidate points by angle around their mean and applying the shoelace formula gives its
area. Every pair is handled at once with fixed-size arrays (4 + 4 + 16 candidates), and
pairs whose bounding circles do not touch are skipped, so KITTI-val-sized evaluations take
seconds.
"""

from __future__ import annotations

import numpy as np

_CHUNK = 65536  # pairs per vectorised batch: bounds memory at ~50 MB
_EPS = 1e-9


def bev_corners(centers: np.ndarray, sizes: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """(N, 2) centres, (N, 2) sizes (along, across the heading), (N,) angles -> (N, 4, 2) corners, CCW.

    ``angles`` rotate the box's first axis counter-clockwise from the x axis.
    """
    half = sizes[:, None, :] / 2 * np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    c, s = np.cos(angles)[:, None], np.sin(angles)[:, None]
    x = half[..., 0] * c - half[..., 1] * s
    y = half[..., 0] * s + half[..., 1] * c
    return np.stack([x, y], axis=2) + centers[:, None, :]


def _inside(points: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """(P, K, 2) points, (P, 4, 2) CCW quads -> (P, K) whether each point is inside (boundary included)."""
    edges = np.roll(quads, -1, axis=1) - quads  # (P, 4, 2)
    rel = points[:, :, None, :] - quads[:, None, :, :]  # (P, K, 4, 2)
    cross = edges[:, None, :, 0] * rel[..., 1] - edges[:, None, :, 1] * rel[..., 0]
    scale = np.abs(edges).sum(axis=-1)[:, None, :] + 1.0
    return (cross >= -_EPS * scale).all(axis=2)


def _edge_crossings(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crossing points of every edge of ``a`` with every edge of ``b``: ((P, 16, 2), (P, 16) valid)."""
    p, r = a, np.roll(a, -1, axis=1) - a  # edge i of a: p_i + t r_i
    q, s = b, np.roll(b, -1, axis=1) - b
    p, r = p[:, :, None, :], r[:, :, None, :]
    q, s = q[:, None, :, :], s[:, None, :, :]
    denom = r[..., 0] * s[..., 1] - r[..., 1] * s[..., 0]  # (P, 4, 4)
    qp = q - p
    parallel = np.abs(denom) < _EPS
    safe = np.where(parallel, 1.0, denom)
    t = (qp[..., 0] * s[..., 1] - qp[..., 1] * s[..., 0]) / safe
    u = (qp[..., 0] * r[..., 1] - qp[..., 1] * r[..., 0]) / safe
    valid = ~parallel & (t >= -_EPS) & (t <= 1 + _EPS) & (u >= -_EPS) & (u <= 1 + _EPS)
    points = p + t[..., None] * r
    n = len(a)
    return points.reshape(n, 16, 2), valid.reshape(n, 16)


def _intersection_area_chunk(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    crossings, crossing_ok = _edge_crossings(a, b)
    points = np.concatenate([a, b, crossings], axis=1)  # (P, 24, 2)
    valid = np.concatenate([_inside(a, b), _inside(b, a), crossing_ok], axis=1)
    count = valid.sum(axis=1)
    center = (points * valid[..., None]).sum(axis=1) / np.maximum(count, 1)[:, None]
    rel = points - center[:, None, :]
    angle = np.where(valid, np.arctan2(rel[..., 1], rel[..., 0]), np.inf)
    order = np.argsort(angle, axis=1)
    ordered = np.take_along_axis(rel, order[..., None], axis=1)
    ordered_valid = np.take_along_axis(valid, order, axis=1)
    # Invalid candidates sort last; replacing them by the first vertex adds zero-area terms.
    ordered = np.where(ordered_valid[..., None], ordered, ordered[:, :1, :])
    nxt = np.roll(ordered, -1, axis=1)
    area = 0.5 * np.abs((ordered[..., 0] * nxt[..., 1] - ordered[..., 1] * nxt[..., 0]).sum(axis=1))
    return np.where(count >= 3, area, 0.0)


def intersection_area(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Areas of intersection of paired CCW quads ``a[k]`` and ``b[k]`` ((P, 4, 2) each) -> (P,)."""
    out = np.zeros(len(a))
    for start in range(0, len(a), _CHUNK):
        sl = slice(start, start + _CHUNK)
        out[sl] = _intersection_area_chunk(a[sl], b[sl])
    return out


def pairwise_bev_intersection(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """(N, 5) and (M, 5) BEV boxes (cx, cy, size_along, size_across, angle) -> (N, M) intersection areas.

    Example:
        >>> box = np.array([[0.0, 0.0, 2.0, 1.0, 0.3]])
        >>> round(float(pairwise_bev_intersection(box, box)[0, 0]), 9)
        2.0
    """
    out = np.zeros((len(boxes_a), len(boxes_b)))
    if len(boxes_a) == 0 or len(boxes_b) == 0:
        return out
    radius_a = 0.5 * np.hypot(boxes_a[:, 2], boxes_a[:, 3])
    radius_b = 0.5 * np.hypot(boxes_b[:, 2], boxes_b[:, 3])
    dist = np.hypot(boxes_a[:, None, 0] - boxes_b[None, :, 0], boxes_a[:, None, 1] - boxes_b[None, :, 1])
    ia, ib = np.nonzero(dist < radius_a[:, None] + radius_b[None, :])
    if len(ia):
        quads_a = bev_corners(boxes_a[:, :2], boxes_a[:, 2:4], boxes_a[:, 4])
        quads_b = bev_corners(boxes_b[:, :2], boxes_b[:, 2:4], boxes_b[:, 4])
        out[ia, ib] = intersection_area(quads_a[ia], quads_b[ib])
    return out


def paired_bev_intersection(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """(P, 5) and (P, 5) BEV boxes -> (P,) intersection areas of ``boxes_a[k]`` with ``boxes_b[k]``."""
    out = np.zeros(len(boxes_a))
    reach = 0.5 * (np.hypot(boxes_a[:, 2], boxes_a[:, 3]) + np.hypot(boxes_b[:, 2], boxes_b[:, 3]))
    near = np.nonzero(np.hypot(boxes_a[:, 0] - boxes_b[:, 0], boxes_a[:, 1] - boxes_b[:, 1]) < reach)[0]
    if len(near):
        a, b = boxes_a[near], boxes_b[near]
        out[near] = intersection_area(bev_corners(a[:, :2], a[:, 2:4], a[:, 4]), bev_corners(b[:, :2], b[:, 2:4], b[:, 4]))
    return out


def paired_camera_iou(boxes_a: np.ndarray, boxes_b: np.ndarray, view: str) -> np.ndarray:
    """IoU of camera boxes ``boxes_a[k]`` and ``boxes_b[k]`` ((P, 7) each) in ``view`` "bev" or "3d" -> (P,)."""
    inter = paired_bev_intersection(camera_bev(boxes_a), camera_bev(boxes_b))
    if view == "bev":
        size_a = boxes_a[:, 3] * boxes_a[:, 5]
        size_b = boxes_b[:, 3] * boxes_b[:, 5]
    elif view == "3d":
        top = np.maximum(boxes_a[:, 1] - boxes_a[:, 4], boxes_b[:, 1] - boxes_b[:, 4])
        inter = inter * np.clip(np.minimum(boxes_a[:, 1], boxes_b[:, 1]) - top, 0, None)
        size_a = boxes_a[:, 3] * boxes_a[:, 4] * boxes_a[:, 5]
        size_b = boxes_b[:, 3] * boxes_b[:, 4] * boxes_b[:, 5]
    else:
        raise ValueError(f"view must be 'bev' or '3d', got {view!r}")
    union = size_a + size_b - inter
    return np.where(union > 0, inter / np.maximum(union, _EPS), 0.0)


def bev_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """(N, 5), (M, 5) BEV boxes -> (N, M) rotated IoU."""
    inter = pairwise_bev_intersection(boxes_a, boxes_b)
    area_a = boxes_a[:, 2] * boxes_a[:, 3]
    area_b = boxes_b[:, 2] * boxes_b[:, 3]
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, _EPS), 0.0)


def camera_bev(boxes: np.ndarray) -> np.ndarray:
    """Camera boxes (x, y, z, l, h, w, ry) -> BEV boxes on the ground plane (x, z, l, w, angle).

    rotation_y turns about the camera's downward y axis, i.e. clockwise in the (x, z) plane, so
    the polygon angle is -ry (mirrored conventions give equal IoUs anyway).
    """
    return np.stack([boxes[:, 0], boxes[:, 2], boxes[:, 3], boxes[:, 5], -boxes[:, 6]], axis=1)


def camera_bev_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Bird's-eye-view rotated IoU of camera boxes, (N, 7) x (M, 7) -> (N, M)."""
    return bev_iou(camera_bev(boxes_a), camera_bev(boxes_b))


def camera_3d_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """3D IoU of camera boxes (ground-plane rotation only), (N, 7) x (M, 7) -> (N, M).

    The camera y axis points down and y is the box bottom, so a box spans [y - h, y].
    """
    inter_bev = pairwise_bev_intersection(camera_bev(boxes_a), camera_bev(boxes_b))
    top = np.maximum(boxes_a[:, None, 1] - boxes_a[:, None, 4], boxes_b[None, :, 1] - boxes_b[None, :, 4])
    bottom = np.minimum(boxes_a[:, None, 1], boxes_b[None, :, 1])
    inter = inter_bev * np.clip(bottom - top, 0, None)
    vol_a = boxes_a[:, 3] * boxes_a[:, 4] * boxes_a[:, 5]
    vol_b = boxes_b[:, 3] * boxes_b[:, 4] * boxes_b[:, 5]
    union = vol_a[:, None] + vol_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, _EPS), 0.0)


def image_box_overlap(boxes_a: np.ndarray, boxes_b: np.ndarray, over_first: bool = False) -> np.ndarray:
    """(N, 4), (M, 4) image boxes -> (N, M) IoU, or intersection / area of ``a`` if ``over_first``.

    KITTI image boxes are continuous (no +1 pixel), as in the official devkit.
    """
    iw = np.clip(np.minimum(boxes_a[:, None, 2], boxes_b[None, :, 2]) - np.maximum(boxes_a[:, None, 0], boxes_b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(boxes_a[:, None, 3], boxes_b[None, :, 3]) - np.maximum(boxes_a[:, None, 1], boxes_b[None, :, 1]), 0, None)
    inter = iw * ih
    area_a = (boxes_a[:, 2] - boxes_a[:, 0]) * (boxes_a[:, 3] - boxes_a[:, 1])
    area_b = (boxes_b[:, 2] - boxes_b[:, 0]) * (boxes_b[:, 3] - boxes_b[:, 1])
    denom = area_a[:, None] if over_first else area_a[:, None] + area_b[None, :] - inter
    return np.where(denom > 0, inter / np.maximum(denom, _EPS), 0.0)
