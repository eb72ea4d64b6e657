"""Whole networks (backbone + head), one per head kind, behind one registry.

Every network has a ``backbone`` attribute (a :class:`MultiResolutionNet`), so
weights move between tasks through ``net.backbone.state_dict()`` (video_p
starts from the cls_a backbone this way).
"""

from __future__ import annotations

import torch
from torch import nn

from bench.code import ArchCode
from bench.errors import BenchError, check_int
from bench.nn.backbone import FeatureInfo, MultiResolutionNet
from bench.nn.heads import ClassificationHead, FusedMapHead, SegmentationHead, VideoHead
from bench.registry import Registry

HEADS: Registry = Registry("head")
"""Network builders by head name: ``cls``, ``seg``, ``video`` and ``det`` (the fused BEV map)."""


class ClassificationNet(nn.Module):
    """(N, C, H, W) images -> (N, num_classes) logits."""

    default_in_channels = 3
    has_classifier = True

    def __init__(self, code: ArchCode, num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        self.backbone = MultiResolutionNet(code, in_channels)
        self.head = ClassificationHead(self.backbone.feature_info, code.out_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


class SegmentationNet(nn.Module):
    """(N, C, H, W) images -> (N, num_classes, H, W) logits."""

    default_in_channels = 3
    has_classifier = True

    def __init__(self, code: ArchCode, num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        self.backbone = MultiResolutionNet(code, in_channels)
        self.head = SegmentationHead(self.backbone.feature_info, code.out_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x), x.shape[-2:])


class VideoNet(nn.Module):
    """(N, C, T, H, W) clips -> (N, num_classes) logits; frames share the 2D backbone."""

    default_in_channels = 3
    has_classifier = True

    def __init__(self, code: ArchCode, num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        self.backbone = MultiResolutionNet(code, in_channels)
        self.head = VideoHead(self.backbone.feature_info, code.out_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = x.shape[2]
        per_frame = x.transpose(1, 2).flatten(0, 1)  # (N * T, C, H, W)
        return self.head(self.backbone(per_frame), frames)


class FusedMapNet(nn.Module):
    """(N, C, H, W) pseudo-image -> (N, o, H / 4, W / 4) fused map, for dense heads (3D detection)."""

    default_in_channels = 64  # PointPillars' BEV pseudo-image
    has_classifier = False

    def __init__(self, code: ArchCode, in_channels: int) -> None:
        super().__init__()
        self.backbone = MultiResolutionNet(code, in_channels)
        self.head = FusedMapHead(self.backbone.feature_info, code.out_channels)
        self.out_info: FeatureInfo = self.head.out_info

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


HEADS.register("cls")(ClassificationNet)
HEADS.register("seg")(SegmentationNet)
HEADS.register("video")(VideoNet)
HEADS.register("det")(FusedMapNet)

BENCHMARK_CLASSES = 50  # the published cost convention's classifier (SPEC section 3)


def build_network(code: ArchCode | str, head: str = "cls", num_classes: int | None = None,
                  in_channels: int | None = None) -> nn.Module:
    """Build the network of ``code`` with the named head.

    ``num_classes`` is the classifier's width for heads that have one (default: the
    benchmark's 50); ``det`` has none, and giving it a class count is an error rather than
    silently ignored. ``in_channels`` defaults to the head's input (3, or 64 for ``det``).

    Example:
        >>> net = build_network("16_16-1_1_1_16-1_2_1_1_16_16-1_3_1_1_1_16_16_16-1_4_1_1_1_1_16_16_16_16-16", "cls", 10)
        >>> net(torch.zeros(2, 3, 64, 64)).shape
        torch.Size([2, 10])
    """
    network = HEADS.get(head)
    channels = network.default_in_channels if in_channels is None else check_int("in_channels", in_channels, 1)
    if not network.has_classifier:
        if num_classes is not None:
            raise BenchError(f"head {head!r} has no classifier; num_classes={num_classes!r} does not apply to it")
        return network(ArchCode.parse(code), in_channels=channels)
    classes = BENCHMARK_CLASSES if num_classes is None else check_int("num_classes", num_classes, 1)
    return network(ArchCode.parse(code), classes, in_channels=channels)
