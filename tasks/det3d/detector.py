"""PointPillars with the architecture code's multi-resolution network as its 2D backbone and neck.

points -> pillars -> pillar feature net (64 ch) -> scatter to the BEV pseudo-image ->
``FusedMapNet`` (stride 4) -> [learned x2 deconvolution when the head runs at stride 2] ->
1x1 convolutions for classes, boxes and direction bins on every anchor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torchvision
from torch import nn

from bench.code import ArchCode
from bench.errors import BenchError
from bench.nn import build_network
from tasks.det3d.anchors import (
    AnchorSpec,
    anchor_class_index,
    assign_targets,
    decode,
    limit_period,
    make_anchors,
    nearest_bev,
)
from tasks.det3d.losses import LossWeights, detection_losses
from tasks.det3d.pillar_net import PillarFeatureNet
from tasks.det3d.voxelize import PillarGrid, scatter_to_bev, voxelize_batch

BACKBONE_STRIDE = 4  # the network's stem halves the resolution twice


@dataclass(frozen=True)
class DetectorConfig:
    """Model and post-processing settings (the ``model`` block of ``conf/task/det3d.yaml``)."""

    point_range: tuple[float, float, float, float, float, float]
    pillar_size: tuple[float, float]
    max_pillars_train: int
    max_pillars_test: int
    max_points: int
    anchors: tuple[AnchorSpec, ...]
    head_stride: int = 2
    pillar_channels: int = 64
    score_threshold: float = 0.1
    nms_iou: float = 0.5
    nms_pre_max: int = 4096
    max_detections: int = 100
    losses: LossWeights = LossWeights()

    def __post_init__(self) -> None:
        if self.head_stride not in (2, 4):
            raise BenchError(f"head_stride={self.head_stride!r} is invalid; valid are 2 (x2 deconvolution) or 4")
        grid = PillarGrid(self.point_range, self.pillar_size)
        if grid.nx % BACKBONE_STRIDE or grid.ny % BACKBONE_STRIDE:
            raise BenchError(f"the pillar grid {grid.ny}x{grid.nx} must be divisible by the backbone stride {BACKBONE_STRIDE}")

    @property
    def grid(self) -> PillarGrid:
        return PillarGrid(self.point_range, self.pillar_size)

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.anchors)


@dataclass(frozen=True)
class Detections:
    """Detections of one frame in the lidar frame: (N, 7) boxes, (N,) scores, (N,) 0-based class ids."""

    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor


class PointPillars(nn.Module):
    """The detector. ``forward(clouds)`` returns raw head outputs; :meth:`loss` and :meth:`detect` use them.

    Example:
        >>> from tasks.det3d.recipe import toy_detector_config
        >>> model = PointPillars("16_16-1_1_1_16-1_2_1_1_16_16-1_3_1_1_1_16_16_16-1_4_1_1_1_1_16_16_16_16-16", toy_detector_config())
        >>> out = model([torch.rand(500, 4) * torch.tensor([20.0, 20, 2, 1]) - torch.tensor([0.0, 10, 2, 0])])
        >>> out["cls"].shape[-1]
        3
    """

    def __init__(self, code: ArchCode | str, config: DetectorConfig) -> None:
        super().__init__()
        self.config = config
        grid = config.grid
        self.pillar_net = PillarFeatureNet(grid, config.pillar_channels)
        self.backbone = build_network(code, "det", in_channels=config.pillar_channels)
        channels = self.backbone.out_info.channels
        if config.head_stride == 2:
            # Standard PointPillars predicts at stride 2 (0.32 m anchor spacing, 248 x 216 on KITTI);
            # one learned x2 deconvolution, like PointPillars' own upsampling neck, gets there from stride 4.
            self.neck = nn.Sequential(
                nn.ConvTranspose2d(channels, channels, 2, stride=2, bias=False),
                nn.BatchNorm2d(channels, eps=1e-3),
                nn.ReLU(),
            )
        else:
            self.neck = nn.Identity()
        num_classes = len(config.anchors)
        self.anchors_per_location = sum(len(a.rotations) for a in config.anchors)
        self.conv_cls = nn.Conv2d(channels, self.anchors_per_location * num_classes, 1)
        self.conv_box = nn.Conv2d(channels, self.anchors_per_location * 7, 1)
        self.conv_dir = nn.Conv2d(channels, self.anchors_per_location * 2, 1)
        nn.init.constant_(self.conv_cls.bias, -math.log((1 - 0.01) / 0.01))  # prior probability 0.01
        nn.init.normal_(self.conv_box.weight, std=0.001)
        nn.init.zeros_(self.conv_box.bias)
        feature_hw = (grid.ny // config.head_stride, grid.nx // config.head_stride)
        anchors = make_anchors(config.anchors, config.point_range, feature_hw)
        self.register_buffer("anchors", anchors.reshape(-1, 7), persistent=False)
        self.register_buffer("anchor_class", anchor_class_index(config.anchors).repeat(feature_hw[0] * feature_hw[1]), persistent=False)

    def forward(self, clouds: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Head outputs for a batch of (N_i, 4) clouds: ``cls`` (B, K, C), ``box`` (B, K, 7), ``dir`` (B, K, 2)."""
        cfg = self.config
        cap = cfg.max_pillars_train if self.training else cfg.max_pillars_test
        pillars = voxelize_batch(clouds, cfg.grid, cap, cfg.max_points)
        pseudo_image = scatter_to_bev(self.pillar_net(pillars), pillars.coords, len(clouds), cfg.grid)
        features = self.neck(self.backbone(pseudo_image))
        batch = len(clouds)

        def per_anchor(x: torch.Tensor, width: int) -> torch.Tensor:
            return x.permute(0, 2, 3, 1).reshape(batch, -1, width)  # (B, H * W * A, width), anchor order

        return {
            "cls": per_anchor(self.conv_cls(features), len(cfg.anchors)),
            "box": per_anchor(self.conv_box(features), 7),
            "dir": per_anchor(self.conv_dir(features), 2),
        }

    def loss(self, outputs: dict[str, torch.Tensor], gt_boxes: list[torch.Tensor], gt_classes: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Assign targets to every anchor and return the weighted losses (``loss`` is their sum)."""
        targets = [assign_targets(self.anchors, self.anchor_class, self.config.anchors, b, c) for b, c in zip(gt_boxes, gt_classes)]
        return detection_losses(
            outputs["cls"], outputs["box"], outputs["dir"],
            torch.stack([t.labels for t in targets]),
            torch.stack([t.box_targets for t in targets]),
            torch.stack([t.gt_heading for t in targets]),
            self.config.losses,
        )

    @torch.no_grad()
    def detect(self, outputs: dict[str, torch.Tensor]) -> list[Detections]:
        """Decode boxes, fix their direction, threshold scores and run axis-aligned BEV NMS (class-agnostic)."""
        cfg = self.config
        results = []
        for cls_logits, deltas, dir_logits in zip(outputs["cls"], outputs["box"], outputs["dir"]):
            scores, labels = torch.sigmoid(cls_logits.float()).max(dim=1)
            keep = torch.nonzero(scores > cfg.score_threshold).squeeze(1)
            if len(keep) > cfg.nms_pre_max:
                keep = keep[scores[keep].topk(cfg.nms_pre_max).indices]
            boxes = decode(deltas[keep].float(), self.anchors[keep])
            period = math.pi  # two direction bins
            offset = cfg.losses.direction_offset
            rot = limit_period(boxes[:, 6] - offset, 0.0, period)
            boxes[:, 6] = limit_period(rot + offset + period * dir_logits[keep].argmax(dim=1).to(boxes.dtype))
            kept = torchvision.ops.nms(nearest_bev(boxes), scores[keep], cfg.nms_iou)[: cfg.max_detections]
            results.append(Detections(boxes[kept], scores[keep][kept], labels[keep][kept]))
        return results
