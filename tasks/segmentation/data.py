"""Cityscapes samples with mmsegmentation's training pipeline, run in the loader workers.

Training: random rescale (ratio in ``ratio_range`` of ``base_size``, aspect kept),
random crop (retried up to 10 times while one class covers more than
``cat_max_ratio`` of it), padding to the crop size (image 0, label 255),
horizontal flip, photometric distortion. Evaluation: the whole image at its
own size (single scale).

The crop is chosen in the rescaled image's coordinates but only its source
region is resized, which is what rescaling everything and cropping gives (up to
interpolation at the border) at a fraction of the cost for 2x upscaled
1024x2048 frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset
from torchvision.io import ImageReadMode, decode_png
from torchvision.transforms.v2 import functional as TF

from bench.errors import BenchError, DataError, check_number
from bench.userfiles import read_user_bytes
from tasks.data.cityscapes import IGNORE_INDEX, SegPair, train_id_lut
from tasks.data.files import decoder_reason


class UnreadableImage(DataError):
    """An image or label file cannot be read or decoded, or is not what its name says."""


@dataclass(frozen=True)
class SegAugmentConfig:
    """The mmsegmentation Cityscapes pipeline's parameters (sizes as (height, width))."""

    base_size: tuple[int, int] = (1024, 2048)
    ratio_range: tuple[float, float] = (0.5, 2.0)
    crop_size: tuple[int, int] = (512, 1024)
    cat_max_ratio: float = 0.75
    hflip: float = 0.5
    photometric: bool = True

    def __post_init__(self) -> None:
        low, high = (check_number(f"recipe key augment.ratio_range[{i}]", v, 0.0)
                     for i, v in enumerate(self.ratio_range))
        if not 0 < low <= high:
            raise BenchError(f"recipe key augment.ratio_range={list(self.ratio_range)} must satisfy 0 < min <= max")
        check_number("recipe key augment.cat_max_ratio", self.cat_max_ratio, 0.0, 1.0)
        check_number("recipe key augment.hflip", self.hflip, 0.0, 1.0)


def read_png(path: Path, mode: ImageReadMode) -> torch.Tensor:
    """A PNG photo as uint8 ``(C, H, W)`` in ``mode`` (RGB for the frames; a 16-bit PNG keeps its high 8 bits)."""
    data = read_user_bytes(path, "file", UnreadableImage)
    try:
        image = decode_png(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=mode)
    except (RuntimeError, ValueError) as exc:
        raise UnreadableImage(f"file {str(path)!r} cannot be read as a PNG ({decoder_reason(exc)})") from None
    return image if image.dtype == torch.uint8 else (image.to(torch.int32) >> 8).to(torch.uint8)


# PIL modes that store one index per pixel: grey (L), palette (P: the index, not its colour), 16/32-bit
# grey. A colour mode has no single index per pixel: converting it to grey invents ids.
LABEL_MODES = ("L", "P", "I;16", "I;16B", "I;16L", "I")


def read_label_png(path: Path) -> torch.Tensor:
    """A label-id PNG as the ids it STORES, uint8 ``(H, W)``, whatever the mode it was saved in.

    A palette ('P') image gives its indices (a colour-to-grey conversion would turn the ids into
    luminances); an RGB/RGBA image, a non-PNG file or ids above 255 are errors naming the file.

    Example:
        >>> import tempfile, numpy as np
        >>> from PIL import Image
        >>> f = Path(tempfile.mkdtemp()) / "x_gtFine_labelIds.png"
        >>> image = Image.fromarray(np.array([[7, 26]], dtype=np.uint8), mode="P")
        >>> image.putpalette([0, 0, 0] * 7 + [128, 64, 128] + [0, 0, 0] * 18 + [0, 0, 142] + [0, 0, 0] * 229)
        >>> image.save(f)
        >>> read_label_png(f).tolist()
        [[7, 26]]
    """
    try:
        with Image.open(path) as image:
            image_format, mode = image.format, image.mode
            if image_format == "PNG" and mode in LABEL_MODES:
                ids = np.asarray(image)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise UnreadableImage(f"label file {str(path)!r} cannot be read as a PNG ({decoder_reason(exc)})") from None
    if image_format != "PNG":
        raise UnreadableImage(f"label file {str(path)!r} is a {image_format} file, not a PNG; label ids must be "
                              "stored losslessly as PNG")
    if mode not in LABEL_MODES:
        raise UnreadableImage(
            f"label file {str(path)!r} is a {mode} image; label ids must be stored one per pixel (PIL modes "
            f"{', '.join(LABEL_MODES)}), not as colours: save the labelIds image, not a colour rendering"
        )
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) > 255):
        raise UnreadableImage(f"label file {str(path)!r} holds ids from {int(ids.min())} to {int(ids.max())}; "
                              "valid label ids are 0..255")
    return torch.from_numpy(ids.astype(np.uint8))


def _resize(x: torch.Tensor, size: tuple[int, int], nearest: bool) -> torch.Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    if nearest:
        return F.interpolate(x[None].float(), size=size, mode="nearest")[0].to(x.dtype)
    out = F.interpolate(x[None].float(), size=size, mode="bilinear", align_corners=False)[0]
    return out.round_().clamp_(0, 255).to(torch.uint8)


def photometric_distortion(image: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """mmseg's PhotoMetricDistortion: additive brightness, contrast, saturation, hue, each with p=0.5."""
    u = torch.rand(9, generator=g).tolist()
    x = image.float()
    if u[0] < 0.5:
        x = x + (u[1] * 64 - 32)
    contrast_first = u[2] < 0.5
    alpha = 0.5 + u[4]
    if contrast_first and u[3] < 0.5:
        x = x * alpha
    x = x.clamp(0, 255).to(torch.uint8)
    if u[5] < 0.5:
        x = TF.adjust_saturation(x, 0.5 + u[6])
    if u[7] < 0.5:
        x = TF.adjust_hue(x, (u[8] * 36 - 18) / 180.0)
    if not contrast_first and u[3] < 0.5:
        x = (x.float() * alpha).clamp(0, 255).to(torch.uint8)
    return x


class CityscapesPairs(Dataset):
    """Index with ``(index, aug_seed)`` for a training sample, with ``index`` for an evaluation one.

    Returns ``(image uint8 (3, H, W), label uint8 (H, W) of train ids)``.
    """

    def __init__(self, root: str | Path, pairs: list[SegPair], cfg: SegAugmentConfig) -> None:
        self.root = Path(root)
        self.pairs = pairs
        self.cfg = cfg
        self.lut = train_id_lut()

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, aug_seed = key if isinstance(key, tuple) else (key, None)
        pair = self.pairs[index]
        image = read_png(self.root / pair.image, ImageReadMode.RGB)
        label_ids = read_label_png(self.root / pair.label)
        if label_ids.shape != image.shape[-2:]:
            raise UnreadableImage(f"label {str(self.root / pair.label)!r} is {tuple(label_ids.shape)} (H, W) but its "
                                  f"image {pair.image!r} is {tuple(image.shape[-2:])}; they must have one size")
        label = self.lut[label_ids.long()]
        if aug_seed is None:
            return image, label
        return self._augment(image, label, torch.Generator().manual_seed(aug_seed))

    def _augment(self, image: torch.Tensor, label: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.cfg
        h, w = image.shape[-2:]
        lo, hi = cfg.ratio_range
        ratio = lo + (hi - lo) * float(torch.rand(1, generator=g))
        base_long, base_short = max(cfg.base_size), min(cfg.base_size)
        factor = ratio * min(base_long / max(h, w), base_short / min(h, w))
        sh, sw = max(1, int(h * factor + 0.5)), max(1, int(w * factor + 0.5))
        ch, cw = min(cfg.crop_size[0], sh), min(cfg.crop_size[1], sw)
        for _ in range(10):
            top = int(float(torch.rand(1, generator=g)) * (sh - ch + 1))
            left = int(float(torch.rand(1, generator=g)) * (sw - cw + 1))
            y0, y1 = math.floor(top / factor), max(math.floor(top / factor) + 1, min(h, math.ceil((top + ch) / factor)))
            x0, x1 = math.floor(left / factor), max(math.floor(left / factor) + 1, min(w, math.ceil((left + cw) / factor)))
            region = label[y0:y1, x0:x1]
            counts = torch.bincount(region[region != IGNORE_INDEX].long().flatten())
            if len(counts) > 1 and counts.max() < cfg.cat_max_ratio * counts.sum():
                break
        image = _resize(image[:, y0:y1, x0:x1], (ch, cw), nearest=False)
        label = _resize(label[None, y0:y1, x0:x1], (ch, cw), nearest=True)[0]
        if (ch, cw) != tuple(cfg.crop_size):
            pad = (0, cfg.crop_size[1] - cw, 0, cfg.crop_size[0] - ch)
            image = F.pad(image, pad, value=0)
            label = F.pad(label, pad, value=IGNORE_INDEX)
        if float(torch.rand(1, generator=g)) < cfg.hflip:
            image, label = image.flip(-1), label.flip(-1)
        if cfg.photometric:
            image = photometric_distortion(image, g)
        return image.contiguous(), label.contiguous()
