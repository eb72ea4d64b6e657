"""The pillar feature net: augmented point features -> linear -> BN -> ReLU -> max over the pillar."""

from __future__ import annotations

import torch
from torch import nn

from tasks.det3d.voxelize import PillarGrid, Pillars

POINT_FEATURES = 9  # x, y, z, r, then offsets to the pillar's point mean (3) and to its x-y centre (2)


class PillarFeatureNet(nn.Module):
    """PointPillars' simplified PointNet (the paper's 9 point features, one 64-channel layer).

    OpenPCDet adds a tenth feature (offset to the pillar's z centre); we keep the paper's nine.
    Padded points are zeroed before the linear layer, as in both reference implementations.
    """

    def __init__(self, grid: PillarGrid, out_channels: int = 64) -> None:
        super().__init__()
        self.grid = grid
        self.linear = nn.Linear(POINT_FEATURES, out_channels, bias=False)
        self.norm = nn.BatchNorm1d(out_channels, eps=1e-3)

    def forward(self, pillars: Pillars) -> torch.Tensor:
        points, counts, coords = pillars.points, pillars.counts, pillars.coords
        max_points = points.shape[1]
        valid = (torch.arange(max_points, device=points.device)[None, :] < counts[:, None]).unsqueeze(-1)
        mean = (points[:, :, :3] * valid).sum(dim=1, keepdim=True) / counts.clamp(min=1).view(-1, 1, 1)
        centre_x = (coords[:, 2].to(points.dtype) + 0.5) * self.grid.pillar_size[0] + self.grid.point_range[0]
        centre_y = (coords[:, 1].to(points.dtype) + 0.5) * self.grid.pillar_size[1] + self.grid.point_range[1]
        offset_centre = points[:, :, :2] - torch.stack([centre_x, centre_y], dim=1).unsqueeze(1)
        features = torch.cat([points[:, :, :4], points[:, :, :3] - mean, offset_centre], dim=2) * valid
        x = self.linear(features)  # (P, T, C)
        x = torch.relu(self.norm(x.transpose(1, 2)))  # BN over channels, treating points as positions
        return x.max(dim=2).values  # (P, C)
