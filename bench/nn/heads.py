"""Task heads. Each reads the backbone's declared outputs (``feature_info``).

The "transform" of SPEC section 2 is one CBR(1, 1) from the concatenated
branches (sum of their channels) to the code's output width ``o``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bench.nn.backbone import FeatureInfo
from bench.nn.layers import ConvBNReLU


def concat_at(branches: Sequence[torch.Tensor], index: int) -> torch.Tensor:
    """Resize every branch (bilinear) to branch ``index``'s size and concatenate on channels."""
    size = branches[index].shape[-2:]
    resized = [
        x if x.shape[-2:] == size else F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        for x in branches
    ]
    return torch.cat(resized, dim=1)


class ClassificationHead(nn.Module):
    """Concatenate at the lowest resolution, transform, global average pool, 1x1 conv with bias."""

    def __init__(self, features: Sequence[FeatureInfo], out_channels: int, num_classes: int) -> None:
        super().__init__()
        self.transform = ConvBNReLU(sum(f.channels for f in features), out_channels, 1)
        self.classifier = nn.Conv2d(out_channels, num_classes, 1, bias=True)

    def forward(self, branches: list[torch.Tensor]) -> torch.Tensor:
        x = self.transform(concat_at(branches, len(branches) - 1))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.classifier(x).flatten(1)


class FusedMapHead(nn.Module):
    """Concatenate at the highest resolution and transform: the fused map that dense heads read."""

    def __init__(self, features: Sequence[FeatureInfo], out_channels: int) -> None:
        super().__init__()
        self.transform = ConvBNReLU(sum(f.channels for f in features), out_channels, 1)
        self.out_info = FeatureInfo(out_channels, features[0].stride)

    def forward(self, branches: list[torch.Tensor]) -> torch.Tensor:
        return self.transform(concat_at(branches, 0))


class SegmentationHead(nn.Module):
    """Fused map, 1x1 conv (with bias) to the classes, upsampled to the input size."""

    def __init__(self, features: Sequence[FeatureInfo], out_channels: int, num_classes: int) -> None:
        super().__init__()
        self.fuse = FusedMapHead(features, out_channels)
        self.classifier = nn.Conv2d(out_channels, num_classes, 1, bias=True)

    def forward(self, branches: list[torch.Tensor], output_size: Sequence[int]) -> torch.Tensor:
        logits = self.classifier(self.fuse(branches))
        return F.interpolate(logits, size=tuple(output_size), mode="bilinear", align_corners=False)


class VideoHead(nn.Module):
    """Per-frame branches concatenated at the lowest resolution, then a 3x3x3 Conv3d-BN3d-ReLU
    over (time, height, width), global pooling and a linear classifier."""

    def __init__(self, features: Sequence[FeatureInfo], out_channels: int, num_classes: int) -> None:
        super().__init__()
        in_channels = sum(f.channels for f in features)
        self.transform = nn.Sequential(
            nn.Conv3d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm3d(out_channels),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(out_channels, num_classes)

    def forward(self, branches: list[torch.Tensor], frames: int) -> torch.Tensor:
        x = concat_at(branches, len(branches) - 1)  # (N * T, C, h, w)
        x = x.unflatten(0, (-1, frames)).transpose(1, 2)  # (N, C, T, h, w)
        x = self.transform(x)
        return self.classifier(F.adaptive_avg_pool3d(x, 1).flatten(1))
