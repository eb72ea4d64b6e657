"""Image operations shared by the CPU and the GPU input paths.

Both paths call the same functions on uint8 ``(C, H, W)`` tensors, with all
randomness drawn from a per-sample ``torch.Generator`` seeded by the
sample's augmentation seed: the decoded pixels differ by at most
interpolation rounding between devices, and never by the random draws.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F

from bench.errors import BenchError, check_number

# torchvision 0.29 deprecates its codecs for torchcodec (not a dependency); nvJPEG through
# decode_jpeg(device="cuda") is still the GPU input path, so the per-call warning is noise.
warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities", category=DeprecationWarning)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def random_resized_crop_box(
    height: int, width: int, scale: tuple[float, float], ratio: tuple[float, float], generator: torch.Generator
) -> tuple[int, int, int, int]:
    """torchvision's RandomResizedCrop box ``(top, left, h, w)``, drawn from ``generator``.

    Example:
        >>> random_resized_crop_box(100, 100, (1.0, 1.0), (1.0, 1.0), torch.Generator().manual_seed(0))
        (0, 0, 100, 100)
    """
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        u = torch.rand(4, generator=generator).tolist()
        target_area = area * (scale[0] + (scale[1] - scale[0]) * u[0])
        aspect = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * u[1])
        w = round(math.sqrt(target_area * aspect))
        h = round(math.sqrt(target_area / aspect))
        if 0 < w <= width and 0 < h <= height:
            return int(u[2] * (height - h + 1)), int(u[3] * (width - w + 1)), h, w
    # Fallback: the central crop with the ratio clamped into range (as torchvision does).
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        h, w = height, round(height * ratio[1])
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def resized_crop(image: torch.Tensor, box: tuple[int, int, int, int], size: tuple[int, int]) -> torch.Tensor:
    """Crop ``box`` of a uint8 ``(C, H, W)`` image and resize it (bilinear, antialiased) to ``size``."""
    top, left, h, w = box
    patch = image[..., top : top + h, left : left + w].unsqueeze(0).float()
    out = F.interpolate(patch, size=size, mode="bilinear", align_corners=False, antialias=True)
    return out.squeeze(0).round_().clamp_(0, 255).to(torch.uint8)


def center_crop_box(height: int, width: int, resize_shorter: int, crop: int) -> tuple[int, int, int, int]:
    """The box in the ORIGINAL image that "resize the shorter side to ``resize_shorter``, then centre-crop
    ``crop``" keeps; cropping first and resizing once is cheaper and equivalent up to rounding.

    Example:
        >>> center_crop_box(256, 512, 256, 224)
        (16, 144, 224, 224)
    """
    scale = resize_shorter / min(height, width)
    h = min(height, round(crop / scale))
    w = min(width, round(crop / scale))
    return (height - h) // 2, (width - w) // 2, h, w


def normalize(batch: torch.Tensor, mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD) -> torch.Tensor:
    """uint8 ``(N, C, ...)`` -> float, scaled to [0, 1] and standardised per channel."""
    shape = (1, -1) + (1,) * (batch.dim() - 2)
    m = torch.tensor(mean, device=batch.device).view(shape)
    s = torch.tensor(std, device=batch.device).view(shape)
    return (batch.float() / 255.0 - m) / s


def check_random_crop(section: str, scale: tuple[float, float], ratio: tuple[float, float]) -> None:
    """Refuse a random-resized-crop ``scale``/``ratio`` that is not finite and ordered (NaN passes ``<`` tests).

    Example:
        >>> check_random_crop("augment", (0.08, 1.0), (3 / 4, 4 / 3))
    """
    for key, pair, maximum in (("scale", scale, 1.0), ("ratio", ratio, None)):
        low, high = (check_number(f"recipe key {section}.{key}[{i}]", v, 0.0, maximum) for i, v in enumerate(pair))
        if not 0 < low <= high:
            bound = " <= 1" if maximum else ""
            raise BenchError(f"recipe key {section}.{key}={list(pair)} must satisfy 0 < min <= max{bound}")
