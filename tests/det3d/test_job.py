"""The det3d job on the generated toy set: it learns (non-zero AP), and a killed job resumes."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pytest
import torch

from bench.errors import DataError
from bench.job import JobSpec
from tasks.det3d.toy import TOY_VERSION, generate
from tests.tasks.conftest import job_of, toy_spec

TINY = "8_8-1_1_1_8-1_2_1_1_8_8-1_3_1_1_1_8_8_8-1_4_1_1_1_1_8_8_8_8-8"
COARSE = ("task.model.pillar_size=[0.64,0.64]", "task.model.max_pillars_train=1500", "task.model.max_pillars_test=1500",
          "task.model.max_points=16")


def _spec(tmp: Path, epochs: int, *overrides: str) -> JobSpec:
    """The toy det3d recipe (as ``data=toy`` composes it) on the toy set under ``tmp/kitti``."""
    return toy_spec("det3d", tmp, tmp / "work", code=TINY,
                    overrides=(f"task.schedule.length={epochs}", f"task.eval.interval={epochs}", *COARSE, *overrides))


@pytest.mark.slow
def test_short_training_run_beats_zero_ap(tmp_path):
    # 60 steps on 4 car scenes, scored on the scenes it trained on: does the whole pipeline
    # (pillars, backbone, targets, losses, decoding, NMS, KITTI AP) learn? Coarse 0.64 m pillars
    # and no augmentation keep it to a minute of CPU; held-out AP needs the full smoke recipe
    # (~2.5 minutes on 2 cores, docs/det3d.md), more than a CI test may take.
    torch.set_num_threads(2)
    data_root = generate(tmp_path / "kitti", train_frames=4, val_frames=1, class_mix=(1.0, 0.0, 0.0))
    (data_root / ".toy-complete").write_text(TOY_VERSION + "\n")
    spec = _spec(tmp_path, 30, "task.augment.flip=false", "task.augment.rotation=0.0", "task.augment.scaling=[1.0,1.0]",
                 "task.augment.translation_std=0.0", "task.optim.lr=0.01", "task.runtime.batch_size=2",
                 "task.data.val_split=train")
    result = job_of("det3d")(spec)
    assert result.info["synthetic_data"] is True
    assert set(result.metrics) >= {"car_3d_moderate", "car_bev_moderate_r11", "pedestrian_3d_hard", "car_bev_moderate_loose"}
    assert result.metrics["car_bev_moderate_loose"] > 10.0, result.metrics
    assert result.metrics["car_bev_moderate"] > 0.0, result.metrics


def _run_job(spec: JobSpec) -> None:
    torch.set_num_threads(1)
    job_of("det3d")(spec)


@pytest.mark.slow
def test_killed_job_resumes_from_its_checkpoint(tmp_path):
    data_root = generate(tmp_path / "kitti", train_frames=8, val_frames=2)
    (data_root / ".toy-complete").write_text(TOY_VERSION + "\n")  # a smaller set than the default toy
    spec = _spec(tmp_path, 4)
    process = mp.get_context("spawn").Process(target=_run_job, args=(spec,))
    process.start()
    first = tmp_path / "work" / "ckpt-epoch-00000001.pt"
    deadline = time.time() + 240
    while not first.exists() and process.is_alive() and time.time() < deadline:
        time.sleep(0.2)
    process.kill()
    process.join()
    assert first.exists(), "no checkpoint appeared before the kill"
    result = job_of("det3d")(spec)
    assert result.info["resumed_from_step"] >= 1
    steps = sorted(a.step for a in result.artifacts if a.kind == "checkpoint")
    assert steps[-1] == 4 and len(steps) <= 5
    assert {p.step for p in result.curve} == {4}



def test_a_malformed_validation_label_fails_the_job_before_any_training(tmp_path):
    data_root = generate(tmp_path / "kitti", train_frames=2, val_frames=1)
    (data_root / ".toy-complete").write_text(TOY_VERSION + "\n")
    val_id = (data_root / "ImageSets" / "val.txt").read_text().split()[0]
    (data_root / "training" / "label_2" / f"{val_id}.txt").write_text("Car 0.0 0 -1.5 10 20\n")  # 6 of 15 fields
    with pytest.raises(DataError, match=f"{val_id}.txt"):
        job_of("det3d")(_spec(tmp_path, 2))
    assert not list((tmp_path / "work").glob("ckpt-*"))  # found before the first epoch, not 20 epochs in
