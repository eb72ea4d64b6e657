"""The classification job: ImageNet subset, top1/top5 (percent), the paper's Cls recipes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.nn import build_network
from tasks.api import JobResult, JobSpec
from tasks.classification.data import AugmentConfig, ImageFiles, collate_encoded, decode_batch_on_device
from tasks.common import DataConfig, check_top_level, evaluate_topk, load_manifest, resolve_decode
from tasks.data.image_ops import normalize
from tasks.engine.distributed import DistEnv
from tasks.engine.job import run_job
from tasks.engine.loop import TrainTask
from tasks.engine.recipe import parse_section

log = logging.getLogger("tasks.train")
TASK_KEYS = ("num_classes", "data", "augment")


@dataclass(frozen=True)
class ClassificationRecipe:
    num_classes: int
    data: DataConfig
    augment: AugmentConfig


def parse_recipe(config: dict[str, Any]) -> ClassificationRecipe:
    check_top_level(config, TASK_KEYS)
    return ClassificationRecipe(
        num_classes=config["num_classes"],
        data=parse_section(DataConfig, config.get("data"), "data"),
        augment=parse_section(AugmentConfig, config.get("augment"), "augment"),
    )


class ClassificationTask(TrainTask):
    metric_names = ("top1", "top5")

    def __init__(self, spec: JobSpec, env: DistEnv) -> None:
        self.spec = spec
        self.recipe = parse_recipe(dict(spec.config))
        manifest, self.data_info = load_manifest(spec, self.recipe.data, expected_classes=self.recipe.num_classes)
        self.decode_on_device = resolve_decode(self.recipe.data.decode, env.device) == "device"
        self.train_entries = manifest.split("train")
        self.val_entries = manifest.split("val")
        self.train_set = ImageFiles(spec.data_root, self.train_entries, self.recipe.augment, self.decode_on_device)
        self.val_set = ImageFiles(spec.data_root, self.val_entries, self.recipe.augment, self.decode_on_device)
        self.env = env

    def build_model(self) -> nn.Module:
        return build_network(self.spec.code, "cls", self.recipe.num_classes)

    def collate(self, samples: list[Any]) -> Any:
        return collate_encoded(samples) if self.decode_on_device else torch.utils.data.default_collate(samples)

    def prepare_batch(self, batch: Any, device: torch.device, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        entries = self.train_entries if train else self.val_entries
        if self.decode_on_device:
            images = decode_batch_on_device(batch, device, self.recipe.augment, entries)
            return images, batch[1].to(device, non_blocking=True)
        images, labels = batch
        return normalize(images.to(device, non_blocking=True)), labels.to(device, non_blocking=True)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs.float(), targets)

    def evaluate(self, model: nn.Module, env: DistEnv, autocast: Callable[[], Any]) -> dict[str, float]:
        batch_size = self.spec.config["eval"].get("batch_size") or self.spec.config["runtime"]["batch_size"] // env.world_size
        return evaluate_topk(self, model, env, autocast, batch_size)

    def info(self) -> dict[str, Any]:
        return {**self.data_info, "dataset_hash": self.data_info["manifest_sha256"],
                "decode": "device" if self.decode_on_device else "cpu"}


def make_task(spec: JobSpec, env: DistEnv) -> ClassificationTask:
    return ClassificationTask(spec, env)


def classification_job(spec: JobSpec) -> JobResult:
    """The ``JobFn`` of cls_a, cls_b, cls_c and cls_10c."""
    return run_job(spec, make_task)
