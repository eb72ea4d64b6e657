"""Box conventions and conversions between the lidar frame, the camera frame and the image.

Lidar boxes (what the network predicts, OpenPCDet's convention) are (N, 7):
x, y, z of the CENTRE, dx (length, along the heading), dy (width), dz (height), heading
(counter-clockwise from +x about +z). Camera boxes (the label files) are x, y, z of the
BOTTOM centre in rectified camera coordinates, l, h, w, rotation_y (see ``kitti.Objects``).
"""

from __future__ import annotations

import numpy as np

from tasks.det3d.kitti import Calibration


def limit_period(angle: np.ndarray, offset: float = 0.5, period: float = 2 * np.pi) -> np.ndarray:
    """Wrap ``angle`` into [-offset * period, (1 - offset) * period)."""
    return angle - np.floor(angle / period + offset) * period


def lidar_to_camera(boxes: np.ndarray, calib: Calibration) -> np.ndarray:
    """(N, 7) lidar boxes -> (N, 7) camera boxes (x, y, z bottom centre, l, h, w, ry)."""
    bottom = boxes[:, :3] - np.stack([0 * boxes[:, 5], 0 * boxes[:, 5], boxes[:, 5] / 2], axis=1)
    xyz = calib.lidar_to_rect(bottom)
    ry = limit_period(-boxes[:, 6] - np.pi / 2)
    return np.concatenate([xyz, boxes[:, 3:4], boxes[:, 5:6], boxes[:, 4:5], ry[:, None]], axis=1)


def camera_to_lidar(boxes: np.ndarray, calib: Calibration) -> np.ndarray:
    """(N, 7) camera boxes -> (N, 7) lidar boxes (centre, dx, dy, dz, heading)."""
    xyz = calib.rect_to_lidar(boxes[:, :3])
    l, h, w, ry = boxes[:, 3], boxes[:, 4], boxes[:, 5], boxes[:, 6]
    xyz[:, 2] += h / 2
    return np.concatenate([xyz, np.stack([l, w, h, limit_period(-ry - np.pi / 2)], axis=1)], axis=1)


def camera_corners(boxes: np.ndarray) -> np.ndarray:
    """(N, 7) camera boxes -> (N, 8, 3) corners in rectified camera coordinates."""
    l, h, w, ry = boxes[:, 3:4], boxes[:, 4:5], boxes[:, 5:6], boxes[:, 6:7]
    x = np.concatenate([l, l, -l, -l, l, l, -l, -l], axis=1) / 2
    y = np.concatenate([0 * h] * 4 + [-h] * 4, axis=1)  # camera y points down; the box sits on its bottom
    z = np.concatenate([w, -w, -w, w, w, -w, -w, w], axis=1) / 2
    c, s = np.cos(ry), np.sin(ry)
    rx = c * x + s * z
    rz = -s * x + c * z
    return np.stack([rx, y, rz], axis=2) + boxes[:, None, :3]


def image_boxes(boxes: np.ndarray, calib: Calibration, image_hw: tuple[int, int]) -> np.ndarray:
    """(N, 7) camera boxes -> (N, 4) 2D boxes x1, y1, x2, y2: projected corners, clipped to the image.

    As in OpenPCDet, the box of the projected corners is clipped to [0, W - 1] x [0, H - 1].
    """
    if len(boxes) == 0:
        return np.zeros((0, 4))
    corners = camera_corners(boxes).reshape(-1, 3)
    uv, _ = calib.rect_to_image(corners)
    uv = uv.reshape(-1, 8, 2)
    out = np.concatenate([uv.min(axis=1), uv.max(axis=1)], axis=1)
    height, width = image_hw
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, width - 1)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, height - 1)
    return out


def alpha_of(boxes: np.ndarray) -> np.ndarray:
    """(N, 7) camera boxes -> (N,) observation angle alpha in [-pi, pi) radians (a label's 4th field).

    alpha = rotation_y - atan2(x, z): the heading seen from the camera, KITTI's label convention
    (OpenPCDet writes -atan2(-y, x) + rotation_y from the lidar-frame centre, the same angle up
    to the small lidar-camera offset). AOS compares it between detection and ground truth.

    Example (the pedestrian of KITTI training label 000000: ry 0.01 at x 1.84, z 8.41; the file
    says alpha -0.20, computed by the annotation tool from a slightly different centre):
        >>> round(float(alpha_of(np.array([[1.84, 1.47, 8.41, 1.2, 1.89, 0.48, 0.01]]))[0]), 3)
        -0.205
    """
    return limit_period(boxes[:, 6] - np.arctan2(boxes[:, 0], boxes[:, 2]))


def points_in_fov(points: np.ndarray, calib: Calibration, image_hw: tuple[int, int]) -> np.ndarray:
    """Mask of lidar points in front of camera 2 that project inside the image (OpenPCDet's FOV crop)."""
    uv, depth = calib.rect_to_image(calib.lidar_to_rect(points[:, :3]))
    height, width = image_hw
    return (depth > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (uv[:, 1] < height)
