"""The video job: HMDB51 split 1, top1/top5; video_p starts from the same code's cls_a backbone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.code import ArchCode
from bench.errors import BenchError
from bench.nn import build_network
from tasks.api import JobResult, JobSpec
from tasks.common import check_top_level, evaluate_topk, prepare_root
from tasks.data.hmdb51 import load_hmdb51
from tasks.data.image_ops import normalize
from tasks.engine.checkpoint import load_checkpoint
from tasks.engine.distributed import DistEnv
from tasks.engine.job import run_job
from tasks.engine.loop import TrainTask
from tasks.engine.recipe import parse_section
from tasks.video.data import ClipConfig, VideoAugmentConfig, VideoClips

TASK_KEYS = ("num_classes", "data", "clip", "augment", "init")


@dataclass(frozen=True)
class VideoDataConfig:
    """``videos_dir``: folder of the class folders, relative to the root ("" = the root itself);
    ``splits_dir``: folder of the official split files; clips shorter than ``min_frames`` are dropped."""

    kind: str = "real"
    split: int = 1
    videos_dir: str = ""
    splits_dir: str = "testTrainMulti_7030_splits"
    min_frames: int = 64


@dataclass(frozen=True)
class InitConfig:
    """``from_setting``: a setting whose checkpoint of the SAME code initialises the 2D backbone
    (video_p: cls_a), null for random initialisation; ``require_final``: refuse a checkpoint taken
    before that job finished."""

    from_setting: str | None = None
    require_final: bool = True


class VideoTask(TrainTask):
    metric_names = ("top1", "top5")

    def __init__(self, spec: JobSpec, env: DistEnv) -> None:
        config = dict(spec.config)
        check_top_level(config, TASK_KEYS)
        self.spec = spec
        self.num_classes = config["num_classes"]
        self.data = parse_section(VideoDataConfig, config.get("data"), "data")
        self.clip = parse_section(ClipConfig, config.get("clip"), "clip")
        self.augment = parse_section(VideoAugmentConfig, config.get("augment"), "augment")
        self.init = parse_section(InitConfig, config.get("init"), "init")
        if self.clip.span > self.data.min_frames:
            raise BenchError(
                f"a clip of clip.num_frames={self.clip.num_frames} every clip.interval={self.clip.interval} spans "
                f"{self.clip.span} frames, more than data.min_frames={self.data.min_frames} guarantees"
            )
        self.data_info = prepare_root(spec, self.data.kind, str(config.get("dataset", "hmdb51")))
        # Decodable frame counts come from the HMDB51 manifest (made once by `python -m tasks.manifest hmdb51`).
        split = load_hmdb51(spec.data_root, self.data.kind, self.data.split, self.data.min_frames,
                            self.data.videos_dir, self.data.splits_dir)
        if len(split.classes) != self.num_classes:
            raise BenchError(f"the split files name {len(split.classes)} classes but num_classes={self.num_classes}")
        self.train_set = VideoClips(spec.data_root, split.train, self.clip, self.augment)
        self.val_set = VideoClips(spec.data_root, split.test, self.clip, self.augment)
        self.data_info.update(
            train_samples=len(split.train),
            eval_samples=len(split.test),
            listed_train=split.listed["train"],
            listed_test=split.listed["test"],
            dropped_short_train=split.dropped["train"],
            dropped_short_test=split.dropped["test"],
            dataset_hash=split.manifest_sha256,
        )

    def build_model(self) -> nn.Module:
        return build_network(self.spec.code, "video", self.num_classes)

    def init_weights(self, model: nn.Module) -> dict[str, Any]:
        if self.init.from_setting is None:
            return {}
        uri = self.spec.init_checkpoint
        if not uri:
            raise BenchError(
                f"{self.spec.setting} starts from the {self.init.from_setting} checkpoint of the same code "
                f"({self.spec.code}, seed {self.spec.seed}), but none was given; train "
                f"task={self.init.from_setting} first (it is found through the store) or pass init_checkpoint=URI"
            )
        state = load_checkpoint(uri)
        identity = state.get("identity", {})
        if identity.get("setting") != self.init.from_setting or ArchCode.parse(identity.get("code", "")).to_string() != self.spec.code:
            raise BenchError(
                f"init checkpoint {uri!r} is of setting {identity.get('setting')!r} and code {identity.get('code')!r}; "
                f"{self.spec.setting} needs {self.init.from_setting!r} of code {self.spec.code}"
            )
        if self.init.require_final and not state.get("final", False):
            raise BenchError(f"init checkpoint {uri!r} was taken at step {state.get('step')}, before its job finished")
        backbone = {k[len("backbone."):]: v for k, v in state["model"].items() if k.startswith("backbone.")}
        model.backbone.load_state_dict(backbone, strict=True)
        return {"init_checkpoint": uri, "init_tensors": len(backbone), "init_step": int(state["step"])}

    def prepare_batch(self, batch: Any, device: torch.device, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        clips, labels = batch
        return normalize(clips.to(device, non_blocking=True)), labels.to(device, non_blocking=True)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs.float(), targets)

    def evaluate(self, model: nn.Module, env: DistEnv, autocast: Callable[[], Any]) -> dict[str, float]:
        runtime = self.spec.config["runtime"]
        batch_size = self.spec.config["eval"].get("batch_size") or runtime["batch_size"] // env.world_size
        return evaluate_topk(self, model, env, autocast, batch_size)

    def info(self) -> dict[str, Any]:
        return dict(self.data_info)


def make_task(spec: JobSpec, env: DistEnv) -> VideoTask:
    return VideoTask(spec, env)


def video_job(spec: JobSpec) -> JobResult:
    """The ``JobFn`` of video and video_p."""
    return run_job(spec, make_task)
