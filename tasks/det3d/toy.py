"""A tiny KITTI-format dataset of synthetic scenes, learnable in a short CPU run.

Each scene: a flat ground plane 1.73 m below the lidar (KITTI's mounting height), 4-8 boxes
of Car / Pedestrian / Cyclist at 4.5-19 m (exactly the anchor sizes, headings exactly a multiple
of pi/2, by default) whose surfaces carry points, and clutter (scattered points, thin poles,
small crates). Frames are written as ``velodyne/*.bin`` (points in random order, as a scan
would not group them by object), ``label_2/*.txt`` (with 2D boxes projected through the
calibration, plus one DontCare region), ``calib/*.txt`` (KITTI-like matrices) and blank
1242x375 ``image_2/*.png`` files, with ``ImageSets/train.txt`` and ``val.txt``.

Point density (25 per m^2 of surface) is chosen with the smoke recipe's 0.32 m pillars of at
most 16 points: pillars are rarely over-full, so training (which shuffles points) and evaluation
see the same pillar contents (docs/det3d.md, "Learning on the toy set").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tasks.det3d.boxes import alpha_of, image_boxes, lidar_to_camera, points_in_fov
from tasks.det3d.kitti import Calibration, Objects, write_calib, write_labels

IMAGE_HW = (375, 1242)
GROUND_Z = -1.73
SIZES = {"Car": (3.9, 1.6, 1.56), "Pedestrian": (0.8, 0.6, 1.73), "Cyclist": (1.76, 0.6, 1.73)}
POINTS_PER_M2 = 25.0  # on object surfaces
GROUND_POINTS = 1000  # per scene, uniform over the world
TOY_RANGE_X = (4.5, 19.0)  # inside the toy recipe's 20.48 m range, close enough for > 40 px boxes
TOY_VERSION = "kitti v4"  # v4: 20 m world, exact sizes and headings, 128 / 24 frames (docs/det3d.md)


def toy_calibration() -> Calibration:
    """KITTI-like camera 2 intrinsics and the usual lidar -> camera axis swap (x fwd -> z, y left -> -x, z up -> -y)."""
    p2 = np.array([[721.5, 0.0, 609.6, 44.9], [0.0, 721.5, 172.9, 0.2], [0.0, 0.0, 1.0, 0.003]])
    v2c = np.array([[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, -0.08], [1.0, 0.0, 0.0, -0.27]])
    return Calibration(p2, np.eye(3), v2c)


def _surface_points(box: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Points on the four sides and the top of a lidar box (x, y, z centre, dx, dy, dz, heading)."""
    dx, dy, dz = box[3:6]
    faces = [("x", dy * dz), ("x", dy * dz), ("y", dx * dz), ("y", dx * dz), ("top", dx * dy)]
    parts = []
    for i, (kind, area) in enumerate(faces):
        n = max(4, int(area * POINTS_PER_M2))
        u, v = rng.uniform(-0.5, 0.5, n), rng.uniform(-0.5, 0.5, n)
        if kind == "x":
            local = np.stack([np.full(n, 0.5 if i == 0 else -0.5) * dx, u * dy, v * dz], axis=1)
        elif kind == "y":
            local = np.stack([u * dx, np.full(n, 0.5 if i == 2 else -0.5) * dy, v * dz], axis=1)
        else:
            local = np.stack([u * dx, v * dy, np.full(n, 0.5) * dz], axis=1)
        parts.append(local)
    local = np.concatenate(parts) + rng.normal(0, 0.02, (sum(len(p) for p in parts), 3))
    c, s = np.cos(box[6]), np.sin(box[6])
    xy = local[:, :2] @ np.array([[c, -s], [s, c]]).T
    return np.concatenate([xy + box[:2], local[:, 2:3] + box[2]], axis=1)


def _scene(rng: np.random.Generator, calib: Calibration, class_mix: tuple[float, float, float],
           objects: tuple[int, int], heading_jitter: float, size_jitter: float) -> tuple[np.ndarray, Objects]:
    boxes, names = [], []
    for _ in range(rng.integers(objects[0], objects[1] + 1)):
        name = str(rng.choice(list(SIZES), p=np.asarray(class_mix) / sum(class_mix)))
        size = np.array(SIZES[name]) * rng.uniform(1 - size_jitter, 1 + size_jitter, 3)
        for _attempt in range(20):
            x = rng.uniform(*TOY_RANGE_X)
            y = rng.uniform(-0.6, 0.6) * x * 0.75  # within the camera's field of view
            if all(np.hypot(x - b[0], y - b[1]) > 4.5 for b in boxes):
                # Headings near the anchors' (multiples of pi/2) keep the toy learnable in a few steps.
                heading = rng.integers(0, 4) * np.pi / 2 + rng.uniform(-heading_jitter, heading_jitter)
                boxes.append(np.array([x, y, GROUND_Z + size[2] / 2, *size, heading]))
                names.append(name)
                break
    boxes_arr = np.array(boxes).reshape(-1, 7)
    x_far, y_half = TOY_RANGE_X[1] + 2.0, TOY_RANGE_X[1] / 2 + 1.0
    n = GROUND_POINTS
    ground = np.stack([rng.uniform(0, x_far, n), rng.uniform(-y_half, y_half, n), GROUND_Z + rng.normal(0, 0.02, n)], axis=1)
    clutter = [np.stack([rng.uniform(0, x_far, 300), rng.uniform(-y_half, y_half, 300), rng.uniform(-1.7, 1.0, 300)], axis=1)]
    for _ in range(rng.integers(2, 6)):  # poles and small crates: things that are not objects
        x, y = rng.uniform(4, x_far - 1), rng.uniform(-y_half + 1, y_half - 1)
        if rng.random() < 0.5:
            clutter.append(np.stack([x + rng.normal(0, 0.05, 40), y + rng.normal(0, 0.05, 40), rng.uniform(GROUND_Z, 1.0, 40)], axis=1))
        else:
            clutter.append(_surface_points(np.array([x, y, GROUND_Z + 0.25, 0.5, 0.5, 0.5, 0.0]), rng))
    objects = [_surface_points(b, rng) for b in boxes_arr]
    xyz = np.concatenate([ground, *clutter, *objects])
    points = np.concatenate([xyz, rng.uniform(0, 1, (len(xyz), 1))], axis=1).astype(np.float32)

    cam = lidar_to_camera(boxes_arr, calib)
    bbox = image_boxes(cam, calib, IMAGE_HW)
    n = len(cam)
    dontcare = np.array([[rng.uniform(0, 1100), rng.uniform(150, 200)]])
    dontcare_bbox = np.concatenate([dontcare, dontcare + [60.0, 30.0]], axis=1)
    labels = Objects(
        names=np.array(names + ["DontCare"], dtype="<U16"),
        truncated=np.zeros(n + 1),
        occluded=np.concatenate([rng.integers(0, 2, n), [-1]]),
        alpha=np.concatenate([alpha_of(cam), [-10.0]]),
        bbox=np.concatenate([bbox, dontcare_bbox]),
        boxes=np.concatenate([cam, [[-1000.0, -1000.0, -1000.0, -1.0, -1.0, -1.0, -10.0]]]),
        score=np.ones(n + 1),
    )
    points = points[points_in_fov(points, calib, IMAGE_HW) | (rng.random(len(points)) < 0.05)]
    # Shuffled on disk: a pillar keeps its first max_points points, and training shuffles clouds
    # (OpenPCDet's shuffle_points) while evaluation does not. Written grouped by object, evaluation
    # would see other points per pillar than training did (v3 did: car pillars over-full of one face).
    return points[rng.permutation(len(points))], labels


def generate(root: str | Path, train_frames: int = 128, val_frames: int = 24, seed: int = 0,
             class_mix: tuple[float, float, float] = (0.6, 0.2, 0.2), objects: tuple[int, int] = (4, 8),
             heading_jitter: float = 0.0, size_jitter: float = 0.0) -> Path:
    """Write a toy KITTI object dataset under ``root`` (deterministic in ``seed``); return ``root``.

    ``class_mix`` weighs how often each object is a Car, Pedestrian or Cyclist; each scene holds
    ``objects`` (low, high, inclusive) objects; sizes vary by +-``size_jitter`` (a fraction) and
    headings by +-``heading_jitter`` (radians) around the anchors'. The defaults give the 24 val
    frames ~80 cars: the devkit's 40-point AP needs about 41 objects of a class to score well.

    Example:
        >>> import tempfile
        >>> root = generate(tempfile.mkdtemp(), train_frames=2, val_frames=1)
        >>> sorted(p.name for p in (root / "training").iterdir())
        ['calib', 'image_2', 'label_2', 'velodyne']
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    calib = toy_calibration()
    for folder in ("velodyne", "label_2", "calib", "image_2"):
        (root / "training" / folder).mkdir(parents=True, exist_ok=True)
    (root / "ImageSets").mkdir(parents=True, exist_ok=True)
    blank = Image.new("L", (IMAGE_HW[1], IMAGE_HW[0]))
    ids = [f"{i:06d}" for i in range(train_frames + val_frames)]
    for frame_id in ids:
        points, labels = _scene(rng, calib, class_mix, objects, heading_jitter, size_jitter)
        points.tofile(root / "training" / "velodyne" / f"{frame_id}.bin")
        write_labels(root / "training" / "label_2" / f"{frame_id}.txt", labels)
        write_calib(root / "training" / "calib" / f"{frame_id}.txt", calib)
        blank.save(root / "training" / "image_2" / f"{frame_id}.png")
    (root / "ImageSets" / "train.txt").write_text("\n".join(ids[:train_frames]) + "\n")
    (root / "ImageSets" / "val.txt").write_text("\n".join(ids[train_frames:]) + "\n")
    return root


def ensure_toy_kitti(root: str | Path) -> Path:
    """Generate the toy set under ``root`` unless its completion marker names this ``TOY_VERSION``."""
    root = Path(root)
    marker = root / ".toy-complete"
    if marker.exists() and marker.read_text().strip() == TOY_VERSION:
        return root
    generate(root)  # absent or an older toy version: (re)write every frame and split list
    marker.write_text(TOY_VERSION + "\n")
    return root
