"""Toy HMDB51: AVI clips (MPEG-4, written with PyAV) in class folders, and split-1 files.

Four classes, each an object of its own shape moving its own way over a noisy
background: a square moving right, a disk moving left, a wide bar moving down, a
tall bar moving up. Shape and motion both tell the class, and neither changes
under colour jitter or grayscale. Each class also has a short
clip (6 frames) that the toy recipe's ``min_frames: 8`` must drop, and an unused
(id 0) clip. The split-1 manifest (decodable frame counts) is written to
``<root>/manifests/hmdb51-split1.tsv``, where a ``data=toy`` job finds it.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from tasks.data.hmdb51 import make_hmdb51_manifests, manifest_path

CLASSES = ("move_down", "move_left", "move_right", "move_up")
SIZE = (48, 64)  # height, width (even, for yuv420p)
FRAMES = 16
TRAIN_PER_CLASS = 8
TEST_PER_CLASS = 4
SPLITS_DIR = "testTrainMulti_7030_splits"


def frames_of(label: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """(T, H, W, 3) uint8 frames of class ``label``."""
    h, w = SIZE
    name = CLASSES[label]
    dy, dx = {"move_down": (1, 0), "move_up": (-1, 0), "move_right": (0, 1), "move_left": (0, -1)}[name]
    speed = float(rng.uniform(1.5, 2.5))
    r = 7
    y = float(rng.uniform(r, h - r)) if dy == 0 else (r + 2 if dy > 0 else h - r - 3)
    x = float(rng.uniform(r, w - r)) if dx == 0 else (r + 2 if dx > 0 else w - r - 3)
    colour = rng.integers(150, 256, size=3)
    background = rng.integers(0, 70, size=(h, w, 3))
    yy, xx = np.mgrid[:h, :w]
    out = np.empty((length, h, w, 3), dtype=np.uint8)
    for t in range(length):
        cy, cx = y + dy * speed * t, x + dx * speed * t
        if name == "move_left":
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        elif name == "move_right":
            mask = (abs(yy - cy) <= r) & (abs(xx - cx) <= r)
        elif name == "move_down":  # a wide bar
            mask = (abs(yy - cy) <= r // 2) & (abs(xx - cx) <= r + 3)
        else:  # a tall bar
            mask = (abs(yy - cy) <= r + 3) & (abs(xx - cx) <= r // 2)
        frame = background + rng.integers(-10, 11, size=(h, w, 3))
        frame[mask] = colour
        out[t] = np.clip(frame, 0, 255)
    return out


def write_avi(path: Path, frames: np.ndarray, fps: int = 30) -> None:
    """Encode (T, H, W, 3) uint8 frames as an MPEG-4 AVI."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 2_000_000
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def generate(root: Path, scale: int = 1) -> None:
    """Write the clips, split-1 files and manifest under ``root`` (``scale`` times the train/test clips)."""
    rng = np.random.default_rng(77)
    (root / SPLITS_DIR).mkdir(parents=True, exist_ok=True)
    for label, name in enumerate(CLASSES):
        lines = []
        plan = [("1", FRAMES)] * (TRAIN_PER_CLASS * scale) + [("2", FRAMES)] * (TEST_PER_CLASS * scale)
        plan += [("1", 6), ("0", FRAMES)]
        for i, (split_id, length) in enumerate(plan):
            clip = f"{name}_clip{i:02d}.avi"
            write_avi(root / name / clip, frames_of(label, length, rng))
            lines.append(f"{clip} {split_id} ")  # the official files end lines with a space
        (root / SPLITS_DIR / f"{name}_test_split1.txt").write_text("\n".join(lines) + "\n")
    (manifest,) = make_hmdb51_manifests(root, (1,), "", SPLITS_DIR).manifests
    manifest.write(manifest_path(root, "toy", 1))
