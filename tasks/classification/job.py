"""The classification job: ImageNet subset, top1/top5 (percent), the paper's Cls recipes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import BenchError
from bench.job import JobResult, JobSpec, TaskType
from bench.nn import build_network
from tasks.classification.data import ImageFiles, collate_encoded, decode_batch_on_device
from tasks.classification.recipe import ClassificationRecipe
from tasks.common import check_identity, evaluate_topk, prepare_root, read_manifest, resolve_decode, toy_identity
from tasks.data.image_ops import normalize
from tasks.engine.distributed import DistEnv
from tasks.engine.job import run_job
from tasks.engine.loop import TrainTask


def data_identity(recipe: ClassificationRecipe, kind: str, root: str) -> str:
    """``manifest:<content sha256>`` of the recipe's manifest (toy data: the generator's marker)."""
    if kind == "toy":
        return toy_identity(recipe.dataset, root)
    return f"manifest:{read_manifest(root, False, recipe.data.manifest).content_sha256}"


class ClassificationTask(TrainTask):
    def __init__(self, spec: JobSpec, env: DistEnv) -> None:
        self.spec = spec
        recipe: ClassificationRecipe = spec.recipe
        self.recipe = recipe
        self.data_info = prepare_root(spec)
        manifest = read_manifest(spec.data.root, spec.data.synthetic, recipe.data.manifest)
        check_identity(spec, f"manifest:{manifest.content_sha256}")
        if len(manifest.classes) != recipe.num_classes:
            raise BenchError(f"manifest {manifest.name!r} has {len(manifest.classes)} classes but the recipe's "
                             f"num_classes is {recipe.num_classes}; they must agree")
        manifest.verify(spec.data.root, recipe.data.verify)
        self.data_info.update(manifest=manifest.name, manifest_sha256=manifest.content_sha256,
                              train_samples=len(manifest.split("train")), eval_samples=len(manifest.split("val")))
        self.decode_on_device = resolve_decode(recipe.data.decode, env.device) == "device"
        self.train_entries = manifest.split("train")
        self.val_entries = manifest.split("val")
        self.train_set = ImageFiles(spec.data.root, self.train_entries, recipe.augment, self.decode_on_device)
        self.val_set = ImageFiles(spec.data.root, self.val_entries, recipe.augment, self.decode_on_device)

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
        return evaluate_topk(self, model, env, autocast)

    def info(self) -> dict[str, Any]:
        return {**self.data_info, "decode": "device" if self.decode_on_device else "cpu"}


def make_task(spec: JobSpec, env: DistEnv) -> ClassificationTask:
    return ClassificationTask(spec, env)


def classification_job(spec: JobSpec) -> JobResult:
    """The job of every classification setting (cls_a, cls_b, cls_c, cls_10c)."""
    return run_job(spec, make_task)


TASK = TaskType("cls", ClassificationRecipe, classification_job, data_identity)
