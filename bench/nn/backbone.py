"""The multi-resolution backbone of SPEC section 2: stem, fusion and parallel modules.

The backbone knows nothing of tasks: it returns one feature map per branch
and declares them in :attr:`MultiResolutionNet.feature_info` (channels and
stride of each branch); heads read that declaration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bench.code import ArchCode
from bench.nn.layers import BasicBlock, ConvBNReLU

STEM_STRIDE = 4  # two stride-2 convolutions; branch k lives at 1 / (4 * 2**k)


@dataclass(frozen=True)
class FeatureInfo:
    """What one output of a module is: its channels and its stride w.r.t. the input."""

    channels: int
    stride: int


class Fusion(nn.Module):
    """Fuses neighbouring branches and, at a stage's first block, creates the new branch.

    Output branch i (i < len(in_channels)) is ReLU of the sum over inputs j with
    |i - j| <= 1 of: CBR(3,1) for j == i; CBR(1,1) then upsampling for j == i + 1;
    CBR(3,2) for j == i - 1. A new branch is CBR(3,2) of the last fused branch.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: Sequence[int]) -> None:
        super().__init__()
        m, s = len(in_channels), len(out_channels)
        if not (s == m or s == m + 1):
            raise ValueError(f"a fusion module maps {m} branches to {m} or {m + 1}, not {s}")
        self.sources: list[list[int]] = []
        self.paths = nn.ModuleList()
        for i in range(m):
            sources = [j for j in (i - 1, i, i + 1) if 0 <= j < m]
            self.sources.append(sources)
            self.paths.append(nn.ModuleList(self._path(in_channels[j], out_channels[i], j - i) for j in sources))
        self.new_branch = ConvBNReLU(out_channels[m - 1], out_channels[m], 3, stride=2) if s > m else None

    @staticmethod
    def _path(in_channels: int, out_channels: int, offset: int) -> nn.Module:
        if offset == 0:
            return ConvBNReLU(in_channels, out_channels, 3)
        if offset == 1:  # lower-resolution neighbour: 1x1 at its own size, upsampled in forward
            return ConvBNReLU(in_channels, out_channels, 1)
        return ConvBNReLU(in_channels, out_channels, 3, stride=2)

    def forward(self, branches: list[torch.Tensor]) -> list[torch.Tensor]:
        fused = []
        for i, (sources, paths) in enumerate(zip(self.sources, self.paths)):
            total = None
            for j, path in zip(sources, paths):
                y = path(branches[j])
                if j == i + 1:
                    y = F.interpolate(y, size=branches[i].shape[-2:], mode="nearest")
                total = y if total is None else total + y
            # Not in place: with a single source, ``total`` is a ReLU output that autograd still needs.
            fused.append(torch.relu(total))
        if self.new_branch is not None:
            fused.append(self.new_branch(fused[-1]))
        return fused


class Parallel(nn.Module):
    """Branch k: ``depths[k]`` basic residual units at ``channels[k]``."""

    def __init__(self, depths: Sequence[int], channels: Sequence[int]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(*(BasicBlock(c) for _ in range(n))) for n, c in zip(depths, channels)
        )

    def forward(self, branches: list[torch.Tensor]) -> list[torch.Tensor]:
        return [branch(x) for branch, x in zip(self.branches, branches)]


class MultiResolutionNet(nn.Module):
    """The backbone built from a code; ``forward`` returns the four branches, highest resolution first.

    Example:
        >>> net = MultiResolutionNet(ArchCode.from_string("16_16-1_1_1_16-1_2_1_1_16_16-1_3_1_1_1_16_16_16-1_4_1_1_1_1_16_16_16_16-16"))
        >>> [f.stride for f in net.feature_info]
        [4, 8, 16, 32]
    """

    def __init__(self, code: ArchCode, in_channels: int = 3) -> None:
        super().__init__()
        self.code = code
        i1, i2 = code.stem
        self.stem = nn.Sequential(ConvBNReLU(in_channels, i1, 3, stride=2), ConvBNReLU(i1, i2, 3, stride=2))
        blocks: list[nn.Module] = []
        channels: list[int] = [i2]
        for stage in code.stages:
            for _ in range(stage.blocks):
                blocks.append(Fusion(channels, stage.channels))
                blocks.append(Parallel(stage.depths, stage.channels))
                channels = list(stage.channels)
        self.blocks = nn.Sequential(*blocks)
        self.feature_info = [FeatureInfo(c, STEM_STRIDE * 2**k) for k, c in enumerate(channels)]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.blocks([self.stem(x)])
