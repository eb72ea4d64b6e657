"""Pillar voxelization and the scatter back to a bird's-eye-view pseudo-image, in plain torch.

A pillar is a column of the x-y grid (no split in z). As in OpenPCDet's voxel generator,
pillars are kept in the order their first point appears (points are shuffled during
training, so the cap drops random pillars), and each pillar keeps its first
``max_points`` points.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PillarGrid:
    """The point cloud range and pillar size; ``nx`` x ``ny`` pillars.

    Example:
        >>> grid = PillarGrid((0, -39.68, -3, 69.12, 39.68, 1), (0.16, 0.16))
        >>> (grid.ny, grid.nx)
        (496, 432)
    """

    point_range: tuple[float, float, float, float, float, float]  # x_min, y_min, z_min, x_max, y_max, z_max
    pillar_size: tuple[float, float]  # metres in x, y

    @property
    def nx(self) -> int:
        return int(round((self.point_range[3] - self.point_range[0]) / self.pillar_size[0]))

    @property
    def ny(self) -> int:
        return int(round((self.point_range[4] - self.point_range[1]) / self.pillar_size[1]))


@dataclass(frozen=True)
class Pillars:
    """Voxelized points of one or more clouds.

    ``points`` (P, max_points, 4) zero-padded, ``counts`` (P,) valid points per pillar,
    ``coords`` (P, 3) as (sample index, y index, x index).
    """

    points: torch.Tensor
    counts: torch.Tensor
    coords: torch.Tensor


def in_range(points: torch.Tensor, grid: PillarGrid) -> torch.Tensor:
    """Mask of points inside the point cloud range (max edges excluded)."""
    lo = torch.tensor(grid.point_range[:3], dtype=points.dtype, device=points.device)
    hi = torch.tensor(grid.point_range[3:], dtype=points.dtype, device=points.device)
    return ((points[:, :3] >= lo) & (points[:, :3] < hi)).all(dim=1)


def voxelize(points: torch.Tensor, grid: PillarGrid, max_pillars: int, max_points: int) -> Pillars:
    """(N, 4) points of one cloud -> :class:`Pillars` (sample index 0)."""
    points = points[in_range(points, grid)]
    ix = ((points[:, 0] - grid.point_range[0]) / grid.pillar_size[0]).floor().long().clamp_(0, grid.nx - 1)
    iy = ((points[:, 1] - grid.point_range[1]) / grid.pillar_size[1]).floor().long().clamp_(0, grid.ny - 1)
    keys = iy * grid.nx + ix
    unique, inverse = torch.unique(keys, return_inverse=True)
    n = len(points)
    order_in_cloud = torch.arange(n, device=points.device)
    first_seen = torch.full((len(unique),), n, dtype=torch.long, device=points.device)
    first_seen.scatter_reduce_(0, inverse, order_in_cloud, reduce="amin")
    pillar_order = torch.argsort(first_seen)[:max_pillars]  # unique slot -> rank by first appearance
    rank_of_slot = torch.full((len(unique),), -1, dtype=torch.long, device=points.device)
    rank_of_slot[pillar_order] = torch.arange(len(pillar_order), device=points.device)
    pillar_of_point = rank_of_slot[inverse]

    # Position of each point within its pillar: stable sort by pillar, then subtract group starts.
    by_pillar = torch.sort(inverse, stable=True)
    sorted_slots = by_pillar.values
    group_start = torch.searchsorted(sorted_slots, sorted_slots, right=False)
    slot_position = torch.empty(n, dtype=torch.long, device=points.device)
    slot_position[by_pillar.indices] = torch.arange(n, device=points.device) - group_start

    keep = (pillar_of_point >= 0) & (slot_position < max_points)
    out = points.new_zeros((len(pillar_order), max_points, points.shape[1]))
    out[pillar_of_point[keep], slot_position[keep]] = points[keep]
    counts = torch.bincount(pillar_of_point[keep], minlength=len(pillar_order))
    kept_keys = unique[pillar_order]
    coords = torch.stack([torch.zeros_like(kept_keys), kept_keys // grid.nx, kept_keys % grid.nx], dim=1)
    return Pillars(out, counts, coords)


def voxelize_batch(clouds: list[torch.Tensor], grid: PillarGrid, max_pillars: int, max_points: int) -> Pillars:
    """Voxelize each cloud and concatenate, with the cloud's index in ``coords[:, 0]``."""
    parts = [voxelize(c, grid, max_pillars, max_points) for c in clouds]
    coords = []
    for i, p in enumerate(parts):
        c = p.coords.clone()
        c[:, 0] = i
        coords.append(c)
    return Pillars(torch.cat([p.points for p in parts]), torch.cat([p.counts for p in parts]), torch.cat(coords))


def scatter_to_bev(features: torch.Tensor, coords: torch.Tensor, batch_size: int, grid: PillarGrid) -> torch.Tensor:
    """(P, C) pillar features at ``coords`` (P, 3) -> (batch, C, ny, nx) pseudo-image (zeros elsewhere)."""
    channels = features.shape[1]
    canvas = features.new_zeros((batch_size * grid.ny * grid.nx, channels))
    flat = (coords[:, 0] * grid.ny + coords[:, 1]) * grid.nx + coords[:, 2]
    canvas = canvas.index_copy(0, flat, features)
    return canvas.view(batch_size, grid.ny, grid.nx, channels).permute(0, 3, 1, 2).contiguous()
