"""ImageNet-subset samples: read from disk by loader workers, decoded on the CPU or in batches on the GPU.

Two input paths with the same augmentation (``data.decode``):

- ``gpu``: workers only read the encoded JPEG bytes; the batch is decoded with
  nvJPEG (``torchvision.io.decode_jpeg(device='cuda')``) and cropped/resized on the
  GPU. This is the default on CUDA: CPU decoding cannot feed a GPU (PERF.md:
  ~200 img/s per core against >1,000 img/s per GPU for a median code).
- ``cpu``: workers decode and augment; the fallback when there is no GPU.

An image that cannot be decoded fails the job with its path (the policy: never
train on less data than the manifest names; see docs/training.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset
from torchvision.io import ImageReadMode, decode_image, decode_jpeg

from bench.errors import BenchError, DataError, check_number
from bench.userfiles import read_user_bytes
from tasks.data.files import decoder_reason
from tasks.data.image_ops import (
    center_crop_box,
    check_random_crop,
    normalize,
    random_resized_crop_box,
    resized_crop,
)
from tasks.data.manifest import ManifestEntry


class UnreadableImage(DataError):
    """An image listed in the manifest cannot be read or decoded."""


@dataclass(frozen=True)
class AugmentConfig:
    """Random resized crop + horizontal flip for training; resize-shorter + centre crop for evaluation."""

    crop_size: int = 224
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    hflip: float = 0.5
    eval_resize: int = 256

    def __post_init__(self) -> None:
        check_random_crop("augment", self.scale, self.ratio)
        check_number("recipe key augment.hflip", self.hflip, 0.0, 1.0)
        if self.eval_resize < self.crop_size:
            raise BenchError(f"augment.eval_resize={self.eval_resize} must be >= augment.crop_size={self.crop_size}")


def decode_cpu(data: torch.Tensor, path: str) -> torch.Tensor:
    """Decode any JPEG/PNG bytes to uint8 RGB (some ImageNet "JPEG"s are PNG or CMYK)."""
    try:
        image = decode_image(data, mode=ImageReadMode.RGB)
    except (RuntimeError, ValueError) as exc:
        raise UnreadableImage(
            f"image {path!r} cannot be decoded ({decoder_reason(exc)}); replace the file or rebuild the manifest"
        ) from None
    if image.dtype != torch.uint8:  # a 16-bit PNG: keep the 8 high bits, as an 8-bit export would
        image = (image.to(torch.int32) >> 8).to(torch.uint8)
    return image


def read_encoded(path: Path) -> torch.Tensor:
    """The bytes of an image file as a uint8 tensor; an unreadable or empty file is an error naming it."""
    data = read_user_bytes(path, "image", UnreadableImage, hint="replace the file or rebuild the manifest")
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def augment(image: torch.Tensor, aug_seed: int | None, cfg: AugmentConfig) -> torch.Tensor:
    """Training augmentation when ``aug_seed`` is given, the evaluation transform when it is None."""
    h, w = image.shape[-2:]
    size = (cfg.crop_size, cfg.crop_size)
    if aug_seed is None:
        return resized_crop(image, center_crop_box(h, w, cfg.eval_resize, cfg.crop_size), size)
    generator = torch.Generator().manual_seed(aug_seed)
    out = resized_crop(image, random_resized_crop_box(h, w, cfg.scale, cfg.ratio, generator), size)
    if float(torch.rand(1, generator=generator)) < cfg.hflip:
        out = out.flip(-1)
    return out


class ImageFiles(Dataset):
    """Manifest entries of one split. Index with ``(index, aug_seed)`` to train, with ``index`` to evaluate."""

    def __init__(self, root: str | Path, entries: list[ManifestEntry], cfg: AugmentConfig, decode_on_device: bool) -> None:
        self.root = Path(root)
        self.entries = entries
        self.cfg = cfg
        self.decode_on_device = decode_on_device

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[Any, ...]:
        index, aug_seed = key if isinstance(key, tuple) else (key, None)
        entry = self.entries[index]
        data = read_encoded(self.root / entry.path)
        if self.decode_on_device:
            return data, entry.label, -1 if aug_seed is None else aug_seed, index
        return augment(decode_cpu(data, str(self.root / entry.path)), aug_seed, self.cfg), entry.label


def collate_encoded(samples: list[tuple[Any, ...]]) -> tuple[list[torch.Tensor], torch.Tensor, list[int], list[int]]:
    """Encoded images stay a list (their lengths differ); labels become a tensor."""
    data, labels, seeds, indices = zip(*samples)
    return list(data), torch.tensor(labels), list(seeds), list(indices)


def decode_batch_on_device(
    batch: tuple[list[torch.Tensor], torch.Tensor, list[int], list[int]],
    device: torch.device,
    cfg: AugmentConfig,
    entries: list[ManifestEntry],
) -> torch.Tensor:
    """Decode a batch of JPEGs on ``device`` (nvJPEG on CUDA) and augment each image there."""
    data, _, seeds, indices = batch
    try:
        images = decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
    except RuntimeError:
        # A PNG or CMYK file among the JPEGs: decode this batch one by one, on the CPU where needed.
        images = [decode_cpu(d, entries[i].path).to(device) for d, i in zip(data, indices)]
    out = [augment(image, None if seed < 0 else seed, cfg) for image, seed in zip(images, seeds)]
    return normalize(torch.stack(out))
