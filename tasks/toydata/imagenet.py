"""Toy ImageNet: JPEG class folders, a flat val with a devkit, and the toy manifests.

Class ``k`` of ``K`` is an object of hue ``k / K`` on a noisy background of a dark
tint of the same hue, a disk for even ``k`` and a square for odd ``k``, at a random
place and size: colour survives random-resized crops and flips, so a small
network separates the classes within a few epochs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torchvision.io import encode_jpeg

from tasks.data.imagenet import DEVKIT, GROUND_TRUTH, META, scan_imagenet
from tasks.data.manifest import select_imagenet_subset

NUM_CLASSES = 6
TRAIN_PER_CLASS = 30
VAL_PER_CLASS = 8
SIZE = (40, 48)  # height, width: not square, like real photos
WNIDS = tuple(f"n9000{k:04d}" for k in range(NUM_CLASSES))

TOY_SUBSETS = {
    "toy-cls-a": (6, 24),  # stands in for cls-50-1000
    "toy-cls-b": (6, 8),  # cls-50-100: same classes, fewer images
    "toy-cls-c": (3, 24),  # cls-10-1000: fewer classes
}


def hue_to_rgb(hue: float) -> np.ndarray:
    """A saturated colour of the given hue in [0, 1) (uint8 RGB)."""
    k = (np.array([5.0, 3.0, 1.0]) + hue * 6.0) % 6.0
    return (255 * (1.0 - np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0))).astype(np.uint8)


def draw(label: int, rng: np.random.Generator) -> np.ndarray:
    """One (H, W, 3) uint8 image of class ``label``."""
    h, w = SIZE
    colour = hue_to_rgb(label / NUM_CLASSES).astype(np.int16)
    # The background is a dark tint of the class colour, so that every crop carries the class: the
    # classification head samples the lowest-resolution branch, which sees little of a small object.
    image = np.clip(0.3 * colour + rng.integers(0, 50, size=(h, w, 3)), 0, 255).astype(np.uint8)
    radius = int(rng.integers(8, 15))
    cy, cx = int(rng.integers(radius, h - radius)), int(rng.integers(radius, w - radius))
    yy, xx = np.mgrid[:h, :w]
    if label % 2 == 0:
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    else:
        mask = (abs(yy - cy) <= radius * 0.8) & (abs(xx - cx) <= radius * 0.8)
    image[mask] = np.clip(colour + rng.integers(-25, 26, size=3), 0, 255).astype(np.uint8)
    return image


def _write_jpeg(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = encode_jpeg(torch.from_numpy(image).permute(2, 0, 1).contiguous(), quality=90)
    path.write_bytes(data.numpy().tobytes())


def _write_devkit(root: Path, val_labels: list[int], train_per_class: int) -> None:
    from scipy import io as sio

    devkit = root / DEVKIT
    devkit.mkdir(parents=True, exist_ok=True)
    fields = ["ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children", "wordnet_height", "num_train_images"]
    synsets = np.zeros((NUM_CLASSES + 1,), dtype=[(f, "O") for f in fields])
    for k, wnid in enumerate(WNIDS):
        synsets[k] = (k + 1, wnid, f"toy class {k}", "generated", 0, np.zeros((0,)), 0, train_per_class)
    # A non-leaf synset, as in the real meta.mat: readers must skip it.
    synsets[NUM_CLASSES] = (NUM_CLASSES + 1, "n99999999", "toy root", "generated", NUM_CLASSES, np.arange(1, NUM_CLASSES + 1), 1, 0)
    sio.savemat(str(devkit / META), {"synsets": synsets})
    (devkit / GROUND_TRUTH).write_text("".join(f"{label + 1}\n" for label in val_labels))


def generate(root: Path, scale: int = 1) -> None:
    """Write the toy ImageNet and its manifests under ``root`` (``scale`` times the images per class)."""
    rng = np.random.default_rng(1234)
    for label, wnid in enumerate(WNIDS):
        for i in range(TRAIN_PER_CLASS * scale):
            _write_jpeg(root / "train" / wnid / f"{wnid}_{i}.JPEG", draw(label, rng))
    val_labels = [k for k in range(NUM_CLASSES) for _ in range(VAL_PER_CLASS * scale)]
    rng.shuffle(val_labels)  # the real flat val interleaves classes too
    for i, label in enumerate(val_labels, start=1):
        _write_jpeg(root / "val" / f"ILSVRC2012_val_{i:08d}.JPEG", draw(label, rng))
    _write_devkit(root, [int(v) for v in val_labels], TRAIN_PER_CLASS * scale)
    layout = scan_imagenet(root)
    for name, (classes, per_class) in TOY_SUBSETS.items():
        manifest = select_imagenet_subset(layout, name, classes, per_class * scale, seed=0,
                                          min_class_images=TRAIN_PER_CLASS * scale)
        manifest.write(root / "manifests" / f"{name}.tsv")
