"""The video job: HMDB51 split 1, top1/top5; video_p starts from the same code's cls_a backbone (the engine's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import BenchError
from bench.job import JobResult, JobSpec, TaskType
from bench.nn import build_network
from tasks.common import check_identity, evaluate_topk, prepare_root, toy_identity
from tasks.data.hmdb51 import HMDBSplit, load_hmdb51
from tasks.data.image_ops import normalize
from tasks.engine.distributed import DistEnv
from tasks.engine.job import run_job
from tasks.engine.loop import TrainTask
from tasks.video.data import VideoClips
from tasks.video.recipe import VideoRecipe


def _split(recipe: VideoRecipe, kind: str, root: str) -> HMDBSplit:
    """The split's clips from the HMDB51 manifest (decodable frame counts, made once by
    ``python -m tasks.manifest hmdb51``): no clip is opened at job start."""
    data = recipe.data
    return load_hmdb51(root, kind, data.split, data.min_frames, data.videos_dir, data.splits_dir)


def data_identity(recipe: VideoRecipe, kind: str, root: str) -> str:
    """``manifest:<content sha256>`` of the split's HMDB51 manifest (toy data: the generator's marker)."""
    if kind == "toy":
        return toy_identity(recipe.dataset, root)
    return f"manifest:{_split(recipe, kind, root).manifest_sha256}"


class VideoTask(TrainTask):
    def __init__(self, spec: JobSpec, env: DistEnv) -> None:
        self.spec = spec
        recipe: VideoRecipe = spec.recipe
        self.recipe = recipe
        self.data_info = prepare_root(spec)
        split = _split(recipe, spec.data.kind, spec.data.root)
        check_identity(spec, f"manifest:{split.manifest_sha256}")
        if len(split.classes) != recipe.num_classes:
            raise BenchError(f"the split files name {len(split.classes)} classes but num_classes={recipe.num_classes}")
        self.train_set = VideoClips(spec.data.root, split.train, recipe.clip, recipe.augment)
        self.val_set = VideoClips(spec.data.root, split.test, recipe.clip, recipe.augment)
        self.data_info.update(
            train_samples=len(split.train),
            eval_samples=len(split.test),
            listed_train=split.listed["train"],
            listed_test=split.listed["test"],
            dropped_short_train=split.dropped["train"],
            dropped_short_test=split.dropped["test"],
        )

    def build_model(self) -> nn.Module:
        return build_network(self.spec.code, "video", self.recipe.num_classes)

    def prepare_batch(self, batch: Any, device: torch.device, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        clips, labels = batch
        return normalize(clips.to(device, non_blocking=True)), labels.to(device, non_blocking=True)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs.float(), targets)

    def evaluate(self, model: nn.Module, env: DistEnv, autocast: Callable[[], Any]) -> dict[str, float]:
        return evaluate_topk(self, model, env, autocast)

    def info(self) -> dict[str, Any]:
        return dict(self.data_info)


def make_task(spec: JobSpec, env: DistEnv) -> VideoTask:
    return VideoTask(spec, env)


def video_job(spec: JobSpec) -> JobResult:
    """The job of every video setting (video, video_p)."""
    return run_job(spec, make_task)


TASK = TaskType("video", VideoRecipe, video_job, data_identity)
