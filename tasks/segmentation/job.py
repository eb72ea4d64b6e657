"""The segmentation job: Cityscapes fine, 19 classes, mIoU/mAcc/aAcc, the paper's Seg recipes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Subset

from bench.errors import BenchError
from bench.job import JobResult, JobSpec, TaskType
from bench.nn import build_network
from tasks.common import check_identity, file_list_hash, prepare_root, toy_identity
from tasks.data.cityscapes import IGNORE_INDEX, NUM_CLASSES, SegPair, scan_cityscapes
from tasks.data.image_ops import normalize
from tasks.engine.distributed import DistEnv, all_reduce_sum
from tasks.engine.job import run_job
from tasks.engine.loop import TrainTask
from tasks.engine.sampler import shard_indices
from tasks.segmentation.data import CityscapesPairs
from tasks.segmentation.metrics import confusion, seg_metrics
from tasks.segmentation.recipe import SegmentationRecipe


def _files_identity(root: str, pairs: list[SegPair]) -> str:
    return f"files:{file_list_hash(root, [f for p in pairs for f in (p.image, p.label)])}"


def data_identity(recipe: SegmentationRecipe, kind: str, root: str) -> str:
    """``files:<sha256 of every image and label path and size>`` (toy data: the generator's marker)."""
    if kind == "toy":
        return toy_identity(recipe.dataset, root)
    return _files_identity(root, scan_cityscapes(root, "train") + scan_cityscapes(root, "val"))


class SegmentationTask(TrainTask):
    def __init__(self, spec: JobSpec, env: DistEnv) -> None:
        self.spec = spec
        recipe: SegmentationRecipe = spec.recipe
        self.recipe = recipe
        self.data_info = prepare_root(spec)
        train_pairs = scan_cityscapes(spec.data.root, "train")
        val_pairs = scan_cityscapes(spec.data.root, "val")
        check_identity(spec, _files_identity(spec.data.root, train_pairs + val_pairs))
        for split, pairs, expected in (("train", train_pairs, recipe.data.expected_train),
                                       ("val", val_pairs, recipe.data.expected_val)):
            if expected is not None and len(pairs) != expected:
                raise BenchError(
                    f"Cityscapes {split} under {spec.data.root!r} has {len(pairs)} images, the recipe expects {expected} "
                    f"(data.expected_{split}); refusing to train on a different set (set it to null to accept)"
                )
        self.train_set = CityscapesPairs(spec.data.root, train_pairs, recipe.augment)
        self.val_set = CityscapesPairs(spec.data.root, val_pairs, recipe.augment)
        self.data_info.update(train_samples=len(train_pairs), eval_samples=len(val_pairs))

    def build_model(self) -> nn.Module:
        return build_network(self.spec.code, "seg", NUM_CLASSES)

    def prepare_batch(self, batch: Any, device: torch.device, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = batch
        return normalize(images.to(device, non_blocking=True)), labels.to(device, non_blocking=True).long()

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs.float(), targets, ignore_index=IGNORE_INDEX)

    def evaluate(self, model: nn.Module, env: DistEnv, autocast: Callable[[], Any]) -> dict[str, float]:
        loader = DataLoader(
            Subset(self.val_set, shard_indices(len(self.val_set), env.rank, env.world_size)),
            batch_size=self.recipe.eval.batch_size or 1,  # whole images of one size per batch
            num_workers=self.recipe.runtime.workers,
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
    """The job of every segmentation setting (seg, seg_4x)."""
    return run_job(spec, make_task)


TASK = TaskType("seg", SegmentationRecipe, segmentation_job, data_identity)
