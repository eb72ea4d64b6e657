"""HMDB51 clips decoded with PyAV in the loader workers, with one set of augmentation draws per clip.

A clip is ``num_frames`` frames ``interval`` apart: a random window for
training, the centre window for evaluation (single view). Frames are resized so
the shorter side is ``resize_shorter``; training then applies one random
resized crop, flip, colour jitter and random grayscale to all frames alike,
evaluation a centre crop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from torchvision.transforms import v2

from bench.errors import BenchError, check_number
from tasks.data.hmdb51 import AV_ERRORS, Clip, UnreadableVideo, open_video
from tasks.data.image_ops import center_crop_box, check_random_crop, random_resized_crop_box


@dataclass(frozen=True)
class ClipConfig:
    num_frames: int = 8
    interval: int = 8

    @property
    def span(self) -> int:
        return (self.num_frames - 1) * self.interval + 1


@dataclass(frozen=True)
class VideoAugmentConfig:
    resize_shorter: int = 128
    crop_size: int = 112
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    hflip: float = 0.5
    brightness: float = 0.5
    contrast: float = 0.5
    saturation: float = 0.5
    hue: float = 0.25
    grayscale: float = 0.3

    def __post_init__(self) -> None:
        check_random_crop("augment", self.scale, self.ratio)
        for key, maximum in (("hflip", 1.0), ("brightness", None), ("contrast", None), ("saturation", None),
                             ("hue", 0.5), ("grayscale", 1.0)):
            check_number(f"recipe key augment.{key}", getattr(self, key), 0.0, maximum)
        if self.crop_size > self.resize_shorter:
            raise BenchError(f"augment.crop_size={self.crop_size} must be <= augment.resize_shorter={self.resize_shorter}")


def decode_frames(path: Path, indices: list[int], recorded: int | None = None) -> torch.Tensor:
    """The frames at ``indices`` (sorted, distinct) as uint8 (T, 3, H, W); ``recorded`` is the manifest's
    decodable-frame count, quoted when the file no longer delivers what the manifest promised."""
    wanted = set(indices)
    last = max(indices)
    frames = []
    decoded_count = 0
    with open_video(path) as (_, decoded):
        try:
            for frame in decoded:
                if decoded_count in wanted:
                    frames.append(torch.from_numpy(frame.to_ndarray(format="rgb24")))
                decoded_count += 1
                if decoded_count > last:
                    break
        except AV_ERRORS as exc:
            if len(frames) != len(indices):
                raise UnreadableVideo(
                    f"video {str(path)!r} cannot be decoded after frame {decoded_count} ({' '.join(str(exc).split())})"
                ) from None
    if len(frames) != len(indices):
        since = f", but the manifest records {recorded} decodable frames: the file changed since" if recorded else ""
        raise UnreadableVideo(
            f"video {str(path)!r} decodes {len(frames)} of the {len(indices)} frames needed (frames {indices[0]}.."
            f"{last}){since}; recreate the manifest with `python -m tasks.manifest hmdb51`"
        )
    return torch.stack(frames).permute(0, 3, 1, 2)


def _resize_shorter(frames: torch.Tensor, shorter: int) -> torch.Tensor:
    h, w = frames.shape[-2:]
    scale = shorter / min(h, w)
    size = (max(shorter, round(h * scale)), max(shorter, round(w * scale)))
    out = F.interpolate(frames.float(), size=size, mode="bilinear", align_corners=False, antialias=True)
    return out.round_().clamp_(0, 255).to(torch.uint8)


class VideoClips(Dataset):
    """Index with ``(index, aug_seed)`` to train, ``index`` to evaluate; returns ``(uint8 (3, T, H, W), label)``."""

    def __init__(self, root: str | Path, clips: tuple[Clip, ...], clip: ClipConfig, cfg: VideoAugmentConfig) -> None:
        short = [c for c in clips if c.frames < clip.span]
        if short:
            # Windows are drawn within the decodable frames only; a shorter clip would fail at a random epoch.
            raise BenchError(
                f"{len(short)} clip(s) have fewer decodable frames than the {clip.span} a clip of "
                f"clip.num_frames={clip.num_frames} every clip.interval={clip.interval} spans, e.g. "
                f"{short[0].path} ({short[0].frames}); drop them with data.min_frames >= {clip.span}"
            )
        self.root = Path(root)
        self.clips = clips
        self.clip = clip
        self.cfg = cfg
        self.jitter = v2.Compose(
            [
                v2.ColorJitter(cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue),
                v2.RandomGrayscale(cfg.grayscale),
            ]
        )

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        index, aug_seed = key if isinstance(key, tuple) else (key, None)
        clip = self.clips[index]
        g = torch.Generator().manual_seed(aug_seed) if aug_seed is not None else None
        room = clip.frames - self.clip.span
        start = int(float(torch.rand(1, generator=g)) * (room + 1)) if g is not None else room // 2
        indices = [start + i * self.clip.interval for i in range(self.clip.num_frames)]
        frames = _resize_shorter(decode_frames(self.root / clip.path, indices, clip.frames), self.cfg.resize_shorter)
        h, w = frames.shape[-2:]
        size = (self.cfg.crop_size, self.cfg.crop_size)
        if g is None:
            top, left, ch, cw = center_crop_box(h, w, self.cfg.resize_shorter, self.cfg.crop_size)
            frames = frames[..., top : top + ch, left : left + cw]
        else:
            top, left, ch, cw = random_resized_crop_box(h, w, self.cfg.scale, self.cfg.ratio, g)
            frames = F.interpolate(frames[..., top : top + ch, left : left + cw].float(), size=size, mode="bilinear",
                                   align_corners=False, antialias=True).round_().clamp_(0, 255).to(torch.uint8)
            if float(torch.rand(1, generator=g)) < self.cfg.hflip:
                frames = frames.flip(-1)
            # v2 transforms draw from the global RNG: fork it so the draws come from this clip's seed only.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=g)))
                frames = self.jitter(frames)  # one set of parameters for all T frames
        return frames.permute(1, 0, 2, 3).contiguous(), clip.label
