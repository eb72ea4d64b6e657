"""Toy Cityscapes: ``leftImg8bit`` / ``gtFine`` PNG pairs with real label ids.

Each scene is sky over buildings over road, with a sidewalk strip, vegetation,
cars and people as rectangles, and a few void (id 0, ignored) patches. Every
class is drawn in its Cityscapes palette colour plus noise, so the per-pixel
colour tells the class and a small network learns it in a few epochs.
``cityscapes_4x`` is the same kind of scene at half the size in each side, standing
in for the set pre-resized to 256x512.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torchvision.io import encode_png

from tasks.data.cityscapes import IMAGE_SUFFIX, LABEL_SUFFIX

PALETTE = {  # label id -> RGB (cityscapesScripts colours)
    0: (0, 0, 0), 7: (128, 64, 128), 8: (244, 35, 232), 11: (70, 70, 70), 21: (107, 142, 35),
    23: (70, 130, 180), 24: (220, 20, 60), 26: (0, 0, 142),
}
SPLITS = {"train": ("aachen", "bochum"), "val": ("frankfurt",)}
PER_CITY = {"train": 6, "val": 4}
FULL_SIZE = (64, 128)
SMALL_SIZE = (32, 64)


def scene(size: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One (image (H, W, 3) uint8, label ids (H, W) uint8) pair."""
    h, w = size
    ids = np.full((h, w), 7, dtype=np.uint8)  # road
    sky = int(h * rng.uniform(0.2, 0.35))
    horizon = int(h * rng.uniform(0.5, 0.6))
    ids[:sky] = 23
    ids[sky:horizon] = 11
    ids[horizon : horizon + max(1, h // 12)] = 8
    for _ in range(int(rng.integers(1, 3))):  # trees
        x0 = int(rng.integers(0, w - w // 6))
        ids[sky - h // 10 : horizon, x0 : x0 + w // 8] = 21
    for _ in range(int(rng.integers(1, 4))):  # cars
        cy, cx = int(rng.integers(horizon + h // 8, h - h // 10)), int(rng.integers(0, w - w // 5))
        ids[cy - h // 10 : cy + h // 12, cx : cx + w // 6] = 26
    for _ in range(int(rng.integers(1, 3))):  # people
        cy, cx = int(rng.integers(horizon, h - h // 6)), int(rng.integers(0, w - w // 20))
        ids[cy - h // 8 : cy + h // 10, cx : cx + max(2, w // 24)] = 24
    for _ in range(2):  # void patches (ignored)
        cy, cx = int(rng.integers(0, h - 3)), int(rng.integers(0, w - 3))
        ids[cy : cy + 3, cx : cx + 3] = 0
    image = np.zeros((h, w, 3), dtype=np.int16)
    for label_id, colour in PALETTE.items():
        image[ids == label_id] = colour
    image += rng.integers(-20, 21, size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), ids


def _write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tensor = torch.from_numpy(array)
    tensor = tensor.permute(2, 0, 1) if tensor.dim() == 3 else tensor[None]
    path.write_bytes(encode_png(tensor.contiguous()).numpy().tobytes())


def generate(root: Path, size: tuple[int, int], seed: int, scale: int = 1) -> None:
    rng = np.random.default_rng(seed)
    for split, cities in SPLITS.items():
        for city in cities:
            for i in range(PER_CITY[split] * scale):
                stem = f"{city}_{i:06d}_000019"
                image, ids = scene(size, rng)
                _write_png(root / "leftImg8bit" / split / city / f"{stem}{IMAGE_SUFFIX}", image)
                _write_png(root / "gtFine" / split / city / f"{stem}{LABEL_SUFFIX}", ids)


def generate_full(root: Path, scale: int = 1) -> None:
    generate(root, FULL_SIZE, seed=2024, scale=scale)


def generate_4x(root: Path, scale: int = 1) -> None:
    generate(root, SMALL_SIZE, seed=2025, scale=scale)


def split_sizes(scale: int = 1) -> dict[str, int]:
    """Images per split of the toy set at ``scale`` (what ``data.expected_train`` / ``expected_val`` must say)."""
    return {split: PER_CITY[split] * scale * len(cities) for split, cities in SPLITS.items()}
