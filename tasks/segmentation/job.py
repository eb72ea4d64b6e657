"""The segmentation job: Cityscapes fine, 19 classes, mIoU/mAcc/aAcc, the paper's Seg recipes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Subset

from bench.errors import BenchError
from bench.nn import build_network
from tasks.api import JobResult, JobSpec
from tasks.common import check_top_level, file_list_hash, prepare_root
from tasks.data.cityscapes import IGNORE_INDEX, NUM_CLASSES, scan_cityscapes
from tasks.data.image_ops import normalize
from tasks.engine.distributed import DistEnv, all_reduce_sum
from tasks.engine.job import run_job
from tasks.engine.loop import TrainTask
from tasks.engine.recipe import parse_section
from tasks.engine.sampler import shard_indices
from tasks.segmentation.data import CityscapesPairs, SegAugmentConfig
from tasks.segmentation.metrics import confusion, seg_metrics

TASK_KEYS = ("num_classes", "data", "augment")


@dataclass(frozen=True)
class SegDataConfig:
    """``expected_train`` / ``expected_val``: the image counts the dataset must have (Cityscapes fine:
    2975 / 500); a copy with fewer or more is refused rather than silently trained on. null skips the check."""

    kind: str = "real"
    expected_train: int | None = 2975
    expected_val: int | None = 500

    def __post_init__(self) -> None:
        if self.kind not in ("real", "toy"):
            raise BenchError(f"recipe key data.kind={self.kind!r} is invalid; valid values are ['real', 'toy']")


class SegmentationTask(TrainTask):
    metric_names = ("mIoU", "mAcc", "aAcc")

    def __init__(self, spec: JobSpec, env: DistEnv) -> None:
        config = dict(spec.config)
        check_top_level(config, TASK_KEYS)
        if config["num_classes"] != NUM_CLASSES:
            raise BenchError(f"num_classes={config['num_classes']} is invalid for Cityscapes; it has {NUM_CLASSES} classes")
        self.spec = spec
        self.data = parse_section(SegDataConfig, config.get("data"), "data")
        self.augment = parse_section(SegAugmentConfig, config.get("augment"), "augment")
        self.data_info = prepare_root(spec, self.data.kind, str(config.get("dataset", "cityscapes")))
        train_pairs = scan_cityscapes(spec.data_root, "train")
        val_pairs = scan_cityscapes(spec.data_root, "val")
        for split, pairs, expected in (("train", train_pairs, self.data.expected_train), ("val", val_pairs, self.data.expected_val)):
            if expected is not None and len(pairs) != expected:
                raise BenchError(
                    f"Cityscapes {split} under {spec.data_root!r} has {len(pairs)} images, the recipe expects {expected} "
                    f"(data.expected_{split}); refusing to train on a different set (set it to null to accept)"
                )
        self.train_set = CityscapesPairs(spec.data_root, train_pairs, self.augment)
        self.val_set = CityscapesPairs(spec.data_root, val_pairs, self.augment)
        self.data_info.update(
            train_samples=len(train_pairs),
            eval_samples=len(val_pairs),
            dataset_hash=file_list_hash(spec.data_root, [f for p in train_pairs + val_pairs for f in (p.image, p.label)]),
        )

    def build_model(self) -> nn.Module:
        return build_network(self.spec.code, "seg", NUM_CLASSES)

    def prepare_batch(self, batch: Any, device: torch.device, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = batch
        return normalize(images.to(device, non_blocking=True)), labels.to(device, non_blocking=True).long()

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs.float(), targets, ignore_index=IGNORE_INDEX)

    def evaluate(self, model: nn.Module, env: DistEnv, autocast: Callable[[], Any]) -> dict[str, float]:
        runtime = self.spec.config["runtime"]
        loader = DataLoader(
            Subset(self.val_set, shard_indices(len(self.val_set), env.rank, env.world_size)),
            batch_size=self.spec.config["eval"].get("batch_size") or 1,
            num_workers=runtime.get("workers", 0),
        )
        matrix = torch.zeros(NUM_CLASSES, NUM_CLASSES, dtype=torch.int64, device=env.device)
        for batch in loader:
            images, labels = self.prepare_batch(batch, env.device, train=False)
            with autocast():
                logits = model(images)
            matrix += confusion(logits.argmax(1), labels, NUM_CLASSES, IGNORE_INDEX)
        all_reduce_sum(matrix, env)
        return seg_metrics(matrix.cpu())

    def info(self) -> dict[str, Any]:
        return dict(self.data_info)


def make_task(spec: JobSpec, env: DistEnv) -> SegmentationTask:
    return SegmentationTask(spec, env)


def segmentation_job(spec: JobSpec) -> JobResult:
    """The ``JobFn`` of seg and seg_4x."""
    return run_job(spec, make_task)
