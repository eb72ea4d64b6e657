"""The video recipe (``conf/task/video*.yaml``): the common sections plus data, clip and augmentation.

video_p's start from the same code's cls_a checkpoint is the setting's (``Setting.init_from``),
not the recipe's: the engine loads it for any setting that declares one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.cost import CostSpec
from bench.errors import BenchError
from bench.recipe import Recipe
from tasks.video.data import ClipConfig, VideoAugmentConfig


@dataclass(frozen=True)
class VideoDataConfig:
    """``videos_dir``: folder of the class folders, relative to the root ("" = the root itself);
    ``splits_dir``: folder of the official split files; clips shorter than ``min_frames`` are dropped."""

    split: int = 1
    videos_dir: str = ""
    splits_dir: str = "testTrainMulti_7030_splits"
    min_frames: int = 64


@dataclass(frozen=True, kw_only=True)
class VideoRecipe(Recipe):
    """HMDB51 action recognition (top1/top5 in percent), the paper's Video recipes."""

    num_classes: int
    data: VideoDataConfig = field(default_factory=VideoDataConfig)
    clip: ClipConfig = field(default_factory=ClipConfig)
    augment: VideoAugmentConfig = field(default_factory=VideoAugmentConfig)

    def sample_cost(self) -> CostSpec:
        """One training clip (``clip.num_frames`` frames of ``augment.crop_size`` square) through the video network."""
        size = self.augment.crop_size
        return CostSpec("video", (size, size), self.num_classes, frames=self.clip.num_frames)

    def __post_init__(self) -> None:
        if self.clip.span > self.data.min_frames:
            raise BenchError(
                f"a clip of clip.num_frames={self.clip.num_frames} every clip.interval={self.clip.interval} spans "
                f"{self.clip.span} frames, more than data.min_frames={self.data.min_frames} guarantees"
            )
