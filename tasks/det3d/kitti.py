"""KITTI object data in its own on-disk layout: point clouds, labels, calibration, image sizes, splits.

Layout under the data root (the one the KITTI devkit and OpenPCDet use)::

    ImageSets/train.txt, ImageSets/val.txt      one frame id per line ("000000")
    training/velodyne/<id>.bin                  float32 x, y, z, reflectance (lidar frame)
    training/label_2/<id>.txt                   one object per line (camera frame)
    training/calib/<id>.txt                     P0..P3, R0_rect, Tr_velo_to_cam, Tr_imu_to_velo
    training/image_2/<id>.png                   only its header is read (for the image size)

Every parse error names the file and the line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from bench.errors import BenchError

LABEL_FIELDS = 15  # type, truncated, occluded, alpha, bbox(4), h, w, l, x, y, z, ry (+ optional score)


class KittiFormatError(BenchError):
    """A KITTI file is missing or malformed; the message names the file and line."""


@dataclass(frozen=True)
class Calibration:
    """The three matrices 3D detection needs (camera 2 projection, rectification, lidar -> camera).

    Example:
        >>> calib = Calibration(np.eye(3, 4), np.eye(3), np.eye(3, 4))
        >>> calib.lidar_to_rect(np.ones((1, 3))).shape
        (1, 3)
    """

    P2: np.ndarray  # (3, 4)
    R0: np.ndarray  # (3, 3)
    V2C: np.ndarray  # (3, 4) lidar -> reference camera

    def lidar_to_rect(self, pts: np.ndarray) -> np.ndarray:
        """(N, 3) lidar points -> (N, 3) rectified camera coordinates."""
        hom = np.concatenate([pts, np.ones((len(pts), 1))], axis=1)
        return (hom @ self.V2C.T) @ self.R0.T

    def rect_to_lidar(self, pts: np.ndarray) -> np.ndarray:
        """(N, 3) rectified camera points -> (N, 3) lidar coordinates."""
        ref = pts @ np.linalg.inv(self.R0).T
        v2c = np.vstack([self.V2C, [0.0, 0.0, 0.0, 1.0]])
        hom = np.concatenate([ref, np.ones((len(pts), 1))], axis=1)
        return (hom @ np.linalg.inv(v2c).T)[:, :3]

    def rect_to_image(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) rectified points -> ((N, 2) pixel coordinates, (N,) depth in front of camera 2)."""
        hom = np.concatenate([pts, np.ones((len(pts), 1))], axis=1) @ self.P2.T
        depth = hom[:, 2]
        return hom[:, :2] / np.where(np.abs(depth) < 1e-9, 1e-9, depth)[:, None], depth


@dataclass(frozen=True)
class Objects:
    """The objects of one frame, in the label file's camera-frame terms (arrays of equal length).

    ``boxes`` is (N, 7): x, y, z of the BOTTOM centre in rectified camera coordinates, then
    l, h, w (metres) and rotation_y, the order OpenPCDet's evaluation uses.
    """

    names: np.ndarray  # (N,) str, e.g. "Car", "DontCare"
    truncated: np.ndarray  # (N,) float
    occluded: np.ndarray  # (N,) int
    alpha: np.ndarray  # (N,) float
    bbox: np.ndarray  # (N, 4) image box x1, y1, x2, y2
    boxes: np.ndarray  # (N, 7) x, y, z, l, h, w, ry
    score: np.ndarray  # (N,) float; 1 for ground truth

    def __len__(self) -> int:
        return len(self.names)

    def select(self, mask: np.ndarray) -> "Objects":
        """The objects where ``mask`` (bool or index array) holds."""
        return Objects(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))

    @staticmethod
    def empty() -> "Objects":
        return Objects(np.zeros(0, dtype="<U16"), np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0),
                       np.zeros((0, 4)), np.zeros((0, 7)), np.zeros(0))


def read_labels(path: str | Path) -> Objects:
    """Parse a ``label_2`` file (or a detection file with the 16th score column)."""
    path = Path(path)
    rows = []
    for lineno, line in enumerate(_read_text(path).splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) not in (LABEL_FIELDS, LABEL_FIELDS + 1):
            raise KittiFormatError(f"{path}:{lineno}: expected {LABEL_FIELDS} or {LABEL_FIELDS + 1} fields, got {len(fields)}: {line!r}")
        try:
            values = [float(v) for v in fields[1:]]
        except ValueError as err:
            raise KittiFormatError(f"{path}:{lineno}: non-numeric field ({err}): {line!r}") from None
        rows.append((fields[0], values))
    if not rows:
        return Objects.empty()
    names = np.array([r[0] for r in rows])
    v = np.array([r[1] + [1.0] * (LABEL_FIELDS - len(r[1])) for r in rows])
    h, w, l = v[:, 7], v[:, 8], v[:, 9]
    boxes = np.stack([v[:, 10], v[:, 11], v[:, 12], l, h, w, v[:, 13]], axis=1)
    return Objects(names, v[:, 0], v[:, 1].astype(np.int64), v[:, 2], v[:, 3:7], boxes, v[:, 14])


def write_labels(path: str | Path, objects: Objects, with_score: bool = False) -> None:
    """Write ``objects`` in the label_2 format (with a 16th score column if ``with_score``)."""
    lines = []
    for i in range(len(objects)):
        x, y, z, l, h, w, ry = objects.boxes[i]
        b = objects.bbox[i]
        fields = [objects.names[i], f"{objects.truncated[i]:.2f}", str(int(objects.occluded[i])), f"{objects.alpha[i]:.2f}",
                  *(f"{c:.2f}" for c in b), *(f"{c:.2f}" for c in (h, w, l, x, y, z, ry))]
        if with_score:
            fields.append(f"{objects.score[i]:.4f}")
        lines.append(" ".join(fields))
    Path(path).write_text("\n".join(lines) + ("\n" if lines else ""))


def read_calib(path: str | Path) -> Calibration:
    """Parse a ``calib`` file (``key: 12 or 9 numbers`` per line)."""
    path = Path(path)
    mats: dict[str, np.ndarray] = {}
    for lineno, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, rest = line.partition(":")
        if not sep:
            raise KittiFormatError(f"{path}:{lineno}: expected 'key: values', got {line!r}")
        try:
            mats[key.strip()] = np.array([float(x) for x in rest.split()])
        except ValueError as err:
            raise KittiFormatError(f"{path}:{lineno}: non-numeric value ({err})") from None
    shapes = {"P2": (3, 4), "R0_rect": (3, 3), "Tr_velo_to_cam": (3, 4)}
    for key, shape in shapes.items():
        if key not in mats:
            raise KittiFormatError(f"{path}: missing {key!r}; found {sorted(mats)}")
        if mats[key].size != shape[0] * shape[1]:
            raise KittiFormatError(f"{path}: {key} has {mats[key].size} numbers, expected {shape[0] * shape[1]}")
    return Calibration(mats["P2"].reshape(3, 4), mats["R0_rect"].reshape(3, 3), mats["Tr_velo_to_cam"].reshape(3, 4))


def write_calib(path: str | Path, calib: Calibration) -> None:
    """Write ``calib`` in the KITTI format (P0..P3 all set to P2; IMU transform set to identity)."""
    fmt = lambda m: " ".join(f"{x:.12e}" for x in np.asarray(m).ravel())  # noqa: E731
    lines = [f"P{i}: {fmt(calib.P2)}" for i in range(4)]
    lines += [f"R0_rect: {fmt(calib.R0)}", f"Tr_velo_to_cam: {fmt(calib.V2C)}", f"Tr_imu_to_velo: {fmt(np.eye(3, 4))}"]
    Path(path).write_text("\n".join(lines) + "\n")


def read_points(path: str | Path) -> np.ndarray:
    """Read a velodyne ``.bin`` file into (N, 4) float32 x, y, z, reflectance."""
    path = Path(path)
    if not path.is_file():
        raise KittiFormatError(f"{path}: point cloud file not found")
    raw = np.fromfile(path, dtype=np.float32)
    if raw.size % 4:
        raise KittiFormatError(f"{path}: {raw.size} floats is not a multiple of 4 (x, y, z, reflectance)")
    return raw.reshape(-1, 4)


def read_image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of an image, reading only its header."""
    path = Path(path)
    try:
        with Image.open(path) as img:  # PIL parses the header lazily; pixels are never decoded here
            width, height = img.size
    except (OSError, ValueError) as err:
        raise KittiFormatError(f"{path}: cannot read the image header ({err})") from None
    return height, width


def read_split(root: str | Path, split: str) -> list[str]:
    """Frame ids of ``ImageSets/<split>.txt`` (e.g. 3,712 for train, 3,769 for val)."""
    path = Path(root) / "ImageSets" / f"{split}.txt"
    ids = []
    for lineno, line in enumerate(_read_text(path).splitlines(), start=1):
        token = line.strip()
        if not token:
            continue
        if not token.isdigit():
            raise KittiFormatError(f"{path}:{lineno}: frame id must be digits like '000123', got {token!r}")
        ids.append(token)
    if not ids:
        raise KittiFormatError(f"{path}: the split list is empty")
    return ids


@dataclass(frozen=True)
class KittiFrame:
    """Paths of one training frame."""

    root: Path
    frame_id: str

    def _path(self, folder: str, suffix: str) -> Path:
        return self.root / "training" / folder / f"{self.frame_id}{suffix}"

    def points(self) -> np.ndarray:
        return read_points(self._path("velodyne", ".bin"))

    def labels(self) -> Objects:
        return read_labels(self._path("label_2", ".txt"))

    def calib(self) -> Calibration:
        return read_calib(self._path("calib", ".txt"))

    def image_size(self) -> tuple[int, int]:
        return read_image_size(self._path("image_2", ".png"))


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise KittiFormatError(f"{path}: file not found")
    return path.read_text()
