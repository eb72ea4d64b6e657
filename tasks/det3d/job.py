"""The det3d training job: ``JOBS["det3d"](spec) -> JobResult``.

It reuses the project's engine pieces for devices and DDP (:mod:`tasks.engine.distributed`),
checkpoint files (:mod:`tasks.engine.checkpoint`: atomic writes, identity-checked resume) and
the resumable sample order (:mod:`tasks.engine.sampler`), but runs its own small epoch loop:
PointPillars' recipe needs what the shared loop does not have (one-cycle learning rate with
cycling AdamW beta1, gradient-norm clipping, variable-size point clouds, the last five epochs'
checkpoints kept). Evaluation runs on rank 0 over the whole validation split.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from bench.code import ArchCode
from bench.errors import BenchError
from tasks.api import CurvePoint, JobResult, JobSpec
from tasks.det3d.dataset import KittiDetectionSet, collate, to_kitti_objects
from tasks.det3d.detector import DetectorConfig, PointPillars
from tasks.det3d.kitti_eval import evaluate
from tasks.det3d.recipe import TrainConfig, check_sections, is_toy, one_cycle, parse_augment, parse_detector, parse_train
from tasks.det3d.toy import ensure_toy_kitti
from tasks.toydata import SYNTHETIC_BANNER
from tasks.engine.checkpoint import FORMAT_VERSION, artifact_of, checkpoint_name, list_checkpoints, newest_checkpoint, save_atomic
from tasks.engine.distributed import DistEnv, barrier, run_on_devices
from tasks.engine.loop import config_hash
from tasks.engine.sampler import ResumableBatchSampler

log = logging.getLogger("tasks.det3d")


def det3d_job(spec: JobSpec) -> JobResult:
    """Train PointPillars with ``spec.code`` as its backbone on KITTI (or the toy set) and evaluate it."""
    ArchCode.parse(spec.code)
    config = spec.config
    check_sections(config)
    parse_detector(config), parse_augment(config), parse_train(config)  # fail before spawning ranks
    if is_toy(config):
        print(SYNTHETIC_BANNER, flush=True)
        ensure_toy_kitti(spec.data_root)
    return run_on_devices(_train_rank, spec.devices, (spec,))


def _train_rank(env: DistEnv, spec: JobSpec) -> JobResult:
    handler = None
    if env.is_main:
        Path(spec.work_dir).mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(Path(spec.work_dir) / "train.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    try:
        return _train(env, spec)
    finally:
        if handler is not None:
            log.removeHandler(handler)
            handler.close()


def _train(env: DistEnv, spec: JobSpec) -> JobResult:
    started = time.perf_counter()
    config = spec.config
    det_cfg, aug_cfg, cfg = parse_detector(config), parse_augment(config), parse_train(config)
    data = config.get("data", {})
    if cfg.batch_size % env.world_size:
        raise BenchError(f"runtime.batch_size={cfg.batch_size} cannot be split over {env.world_size} devices")
    work_dir = Path(spec.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(spec.seed)
    np.random.seed(spec.seed % (2**32))

    model = PointPillars(spec.code, det_cfg).to(env.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr_max / cfg.div_factor, betas=(cfg.moms[0], 0.999),
                                  weight_decay=cfg.weight_decay)
    identity = {"code": spec.code, "setting": spec.setting, "seed": spec.seed, "config_hash": config_hash(spec.config)}
    state = newest_checkpoint(work_dir, identity)
    start_epoch, curve, resumed_from = 0, [], None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch = resumed_from = int(state["step"])
        curve = list(state["curve"])
        log.info("resuming det3d from epoch %d", start_epoch)
    trained = DistributedDataParallel(model, device_ids=[env.device.index] if env.device.type == "cuda" else None) \
        if env.distributed else model

    train_set = KittiDetectionSet(spec.data_root, data.get("train_split", "train"), det_cfg.class_names,
                                  det_cfg.point_range, aug_cfg)
    steps_per_epoch = len(train_set) // cfg.batch_size
    if steps_per_epoch < 1:
        raise BenchError(f"runtime.batch_size={cfg.batch_size} exceeds the {len(train_set)} training frames")
    total = cfg.epochs * steps_per_epoch
    sampler = ResumableBatchSampler(len(train_set), cfg.batch_size, env.rank, env.world_size, spec.seed)
    loader = DataLoader(train_set, batch_sampler=sampler, num_workers=cfg.workers, collate_fn=collate,
                        persistent_workers=cfg.workers > 0)
    metrics = {p["metric"]: p["value"] for p in curve if p["step"] == (curve[-1]["step"] if curve else -1)}
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        sampler.set_epoch(epoch)
        for step, batch in enumerate(loader):
            loss = _train_step(trained, model, optimizer, batch, epoch * steps_per_epoch + step, total, cfg, env.device)
        done = epoch + 1
        if env.is_main:
            log.info("epoch %d/%d loss %.4f", done, cfg.epochs, loss)
        if done % cfg.eval_interval == 0 or done == cfg.epochs:
            if env.is_main:
                metrics = evaluate_split(model, spec.data_root, data.get("val_split", "val"), det_cfg, env.device)
                curve.extend({"step": done, "metric": k, "value": float(v)} for k, v in metrics.items())
                log.info("epoch %d: car_3d_moderate=%.2f", done, metrics.get("car_3d_moderate", float("nan")))
        if env.is_main:
            _save(work_dir, identity, done, model, optimizer, curve, cfg.keep_last)
        barrier(env)

    artifacts = tuple(artifact_of(path, "checkpoint", step) for step, path in list_checkpoints(work_dir))
    return JobResult(
        metrics=dict(metrics),
        curve=tuple(CurvePoint(p["step"], "epoch", p["metric"], p["value"]) for p in curve),
        artifacts=artifacts,
        wall_seconds=time.perf_counter() - started,
        info={"resumed_from_epoch": resumed_from, "steps_per_epoch": steps_per_epoch, "world_size": env.world_size,
              "train_frames": len(train_set), "synthetic_data": is_toy(config), "head_stride": det_cfg.head_stride},
    )


def _train_step(trained: torch.nn.Module, model: PointPillars, optimizer: torch.optim.Optimizer, batch: dict[str, Any],
                iteration: int, total: int, cfg: TrainConfig, device: torch.device) -> float:
    lr, beta1 = one_cycle(iteration, total, cfg)
    for group in optimizer.param_groups:
        group["lr"] = lr
        group["betas"] = (beta1, group["betas"][1])
    outputs = trained([p.to(device, non_blocking=True) for p in batch["points"]])
    losses = model.loss(outputs, [b.to(device) for b in batch["gt_boxes"]], [c.to(device) for c in batch["gt_classes"]])
    optimizer.zero_grad(set_to_none=True)
    losses["loss"].backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    value = float(losses["loss"].detach())
    if not np.isfinite(value):
        raise RuntimeError(f"training diverged: loss is {value} at iteration {iteration}")
    return value


def _save(work_dir: Path, identity: dict[str, Any], epoch: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
          curve: list[dict[str, Any]], keep_last: int) -> None:
    state = {"format": FORMAT_VERSION, "identity": identity, "step": epoch, "unit": "epoch", "iteration": epoch,
             "model": model.state_dict(), "optimizer": optimizer.state_dict(), "curve": curve}
    save_atomic(state, work_dir / checkpoint_name("epoch", epoch))
    for _, path in list_checkpoints(work_dir)[:-keep_last]:  # the recipe keeps the last five epochs
        path.unlink(missing_ok=True)


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
