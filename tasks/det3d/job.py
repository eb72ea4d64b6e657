"""The det3d job: PointPillars on KITTI (or the toy set), an ordinary task of the shared engine.

Only what is particular to 3D detection is here: variable-size point clouds (its collate and
batch preparation), the detector's own loss, and evaluation on rank 0 over the whole
validation split with the KITTI devkit's AP. Optimiser, one-cycle schedule, gradient
clipping, checkpoints, resume, seeding and DDP are the engine's (:mod:`tasks.engine.loop`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from bench.errors import BenchError
from bench.job import JobResult, JobSpec, TaskType
from tasks.common import check_identity, file_list_hash
from tasks.det3d.dataset import KittiDetectionSet, collate, to_kitti_objects
from tasks.det3d.detector import DetectorConfig, PointPillars
from tasks.det3d.kitti import read_split, validate_split
from tasks.det3d.kitti_eval import evaluate
from tasks.det3d.recipe import Det3dRecipe
from tasks.det3d.toy import TOY_VERSION, ensure_toy_kitti
from tasks.engine.distributed import DistEnv
from tasks.engine.job import run_job
from tasks.engine.loop import TrainTask
from tasks.toydata import SYNTHETIC_BANNER

FRAME_FILES = (("velodyne", ".bin"), ("label_2", ".txt"), ("calib", ".txt"), ("image_2", ".png"))


def _files_identity(root: str, recipe: Det3dRecipe) -> str:
    ids = sorted(set(read_split(root, recipe.data.train_split)) | set(read_split(root, recipe.data.val_split)))
    paths = [f"ImageSets/{s}.txt" for s in (recipe.data.train_split, recipe.data.val_split)]
    paths += [f"training/{folder}/{i}{suffix}" for i in ids for folder, suffix in FRAME_FILES]
    return f"files:{file_list_hash(root, paths)}"


def data_identity(recipe: Det3dRecipe, kind: str, root: str) -> str:
    """``files:<sha256 of the split lists and every frame file's path and size>`` (toy: the generator's marker)."""
    if kind == "toy":
        return f"synthetic:kitti-toy-{TOY_VERSION.replace(' ', '-')}"
    return _files_identity(root, recipe)


class Det3dTask(TrainTask):
    def __init__(self, spec: JobSpec, env: DistEnv) -> None:
        self.spec = spec
        recipe: Det3dRecipe = spec.recipe
        self.recipe = recipe
        if spec.data.synthetic:
            if env.is_main:
                print(SYNTHETIC_BANNER, flush=True)
            ensure_toy_kitti(spec.data.root)
        elif not Path(spec.data.root).is_dir():
            raise BenchError(f"kitti root {spec.data.root!r} does not exist; point data.roots.kitti at your copy "
                             "(or run with data=toy for the generated tiny dataset)")
        else:
            check_identity(spec, _files_identity(spec.data.root, recipe))
        for split in dict.fromkeys((recipe.data.train_split, recipe.data.val_split)):
            # Every label and calibration file now (~1 ms a frame), not at the first evaluation 20 epochs in.
            validate_split(spec.data.root, split)
        model = recipe.model
        self.train_set = KittiDetectionSet(spec.data.root, recipe.data.train_split, model.class_names,
                                           model.point_range, recipe.augment)
        self.model: PointPillars | None = None

    def build_model(self) -> nn.Module:
        self.model = PointPillars(self.spec.code, self.recipe.model)
        return self.model

    def collate(self, samples: list[Any]) -> Any:
        return collate(samples)

    def prepare_batch(self, batch: Any, device: torch.device, train: bool) -> tuple[Any, Any]:
        points = [p.to(device, non_blocking=True) for p in batch["points"]]
        return points, ([b.to(device) for b in batch["gt_boxes"]], [c.to(device) for c in batch["gt_classes"]])

    def loss(self, outputs: Any, targets: Any) -> torch.Tensor:
        boxes, classes = targets
        # In fp32 like the other tasks' losses: box decoding (sin/cos) and focal terms lose too much in bf16/fp16.
        return self.model.loss({k: v.float() for k, v in outputs.items()}, boxes, classes)["loss"]

    def evaluate(self, model: nn.Module, env: DistEnv, autocast: Callable[[], Any]) -> dict[str, float]:
        if not env.is_main:
            return {}  # the devkit's AP is not a sum over shards: rank 0 scores the whole split
        return evaluate_split(model, self.spec.data.root, self.recipe.data.val_split, self.recipe.model, env.device)

    def info(self) -> dict[str, Any]:
        return {"synthetic_data": self.spec.data.synthetic, "train_frames": len(self.train_set),
                "head_stride": self.recipe.model.head_stride}


@torch.no_grad()
def evaluate_split(model: PointPillars, root: str, split: str, det_cfg: DetectorConfig, device: torch.device,
                   batch_size: int = 4) -> dict[str, float]:
    """KITTI AP of ``model`` on ``split`` (all classes, 2D / BEV / 3D, both recall samplings, strict and loose IoU)."""
    model.eval()
    dataset = KittiDetectionSet(root, split, det_cfg.class_names, det_cfg.point_range, None)
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collate)
    ground_truth, detections = [], []
    for batch in loader:
        found = model.detect(model([p.to(device) for p in batch["points"]]))
        for index, det in zip(batch["index"], found):
            frame = dataset.frame(index)
            ground_truth.append(frame.labels())
            detections.append(to_kitti_objects(det.boxes.cpu().numpy(), det.scores.cpu().numpy(), det.labels.cpu().numpy(),
                                               det_cfg.class_names, frame))
    return evaluate(ground_truth, detections, classes=det_cfg.class_names, loose=True)


def make_task(spec: JobSpec, env: DistEnv) -> Det3dTask:
    return Det3dTask(spec, env)


def det3d_job(spec: JobSpec) -> JobResult:
    """The job of the det3d setting."""
    return run_job(spec, make_task)


TASK = TaskType("det3d", Det3dRecipe, det3d_job, data_identity)
