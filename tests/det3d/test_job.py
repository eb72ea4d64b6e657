"""The det3d job on the generated toy set: it learns (non-zero AP), and a killed job resumes."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pytest
import torch
import yaml

from tasks.api import JOBS, JobSpec
from tasks.det3d.toy import TOY_VERSION, generate

ROOT = Path(__file__).resolve().parents[2]
CODE = "16_16-1_1_1_16-1_2_1_1_16_16-1_3_1_1_1_16_16_16-1_4_1_1_1_1_16_16_16_16-16"
TINY = "8_8-1_1_1_8-1_2_1_1_8_8-1_3_1_1_1_8_8_8-1_4_1_1_1_1_8_8_8_8-8"


def toy_recipe(epochs: int) -> dict:
    """The real recipe with the smoke layer on top, as ``data=toy`` composes it."""
    recipe = yaml.safe_load((ROOT / "conf" / "task" / "det3d.yaml").read_text())
    smoke = yaml.safe_load((ROOT / "conf" / "smoke" / "toy_det3d.yaml").read_text())
    for section, values in smoke.items():
        recipe[section] = {**recipe.get(section, {}), **values}
    recipe["data"]["kind"] = "toy"
    recipe["schedule"]["length"] = epochs
    recipe["eval"]["interval"] = epochs
    return recipe


def _spec(tmp: Path, recipe: dict, data_root: Path, code: str = CODE) -> JobSpec:
    return JobSpec(code=code, setting="det3d", seed=0, config=recipe, data_root=str(data_root), work_dir=str(tmp / "work"))


@pytest.mark.slow
def test_short_training_run_beats_zero_ap(tmp_path):
    # 60 steps on 4 car scenes, scored on the scenes it trained on: does the whole pipeline
    # (pillars, backbone, targets, losses, decoding, NMS, KITTI AP) learn? Coarse 0.64 m pillars
    # and no augmentation keep it to a minute of CPU; held-out AP needs the full smoke recipe
    # (~2.5 minutes on 2 cores, docs/det3d.md), more than a CI test may take.
    torch.set_num_threads(2)
    data_root = generate(tmp_path / "kitti", train_frames=4, val_frames=1, class_mix=(1.0, 0.0, 0.0))
    (data_root / ".toy-complete").write_text(TOY_VERSION + "\n")
    recipe = toy_recipe(epochs=30)
    recipe["model"].update(pillar_size=[0.64, 0.64], max_pillars_train=1500, max_pillars_test=1500, max_points=16)
    recipe["augment"] = {"flip": False, "rotation": 0.0, "scaling": [1.0, 1.0], "translation_std": 0.0}
    recipe["optim"]["lr"] = 0.01
    recipe["runtime"]["batch_size"] = 2
    recipe["data"]["val_split"] = "train"
    result = JOBS.get("det3d")(_spec(tmp_path, recipe, data_root, code=TINY))
    assert result.info["synthetic_data"] is True
    assert set(result.metrics) >= {"car_3d_moderate", "car_bev_moderate_r11", "pedestrian_3d_hard", "car_bev_moderate_loose"}
    assert result.metrics["car_bev_moderate_loose"] > 10.0, result.metrics
    assert result.metrics["car_bev_moderate"] > 0.0, result.metrics


def _run_job(spec: JobSpec) -> None:
    torch.set_num_threads(1)
    JOBS.get("det3d")(spec)


@pytest.mark.slow
def test_killed_job_resumes_from_its_checkpoint(tmp_path):
    data_root = generate(tmp_path / "kitti", train_frames=8, val_frames=2)
    (data_root / ".toy-complete").write_text(TOY_VERSION + "\n")  # a smaller set than the default toy
    recipe = toy_recipe(epochs=4)
    recipe["model"].update(pillar_size=[0.64, 0.64], max_pillars_train=1500, max_pillars_test=1500, max_points=16)
    spec = _spec(tmp_path, recipe, data_root, code=TINY)
    process = mp.get_context("spawn").Process(target=_run_job, args=(spec,))
    process.start()
    first = tmp_path / "work" / "ckpt-epoch-00000001.pt"
    deadline = time.time() + 240
    while not first.exists() and process.is_alive() and time.time() < deadline:
        time.sleep(0.2)
    process.kill()
    process.join()
    assert first.exists(), "no checkpoint appeared before the kill"
    result = JOBS.get("det3d")(spec)
    assert result.info["resumed_from_epoch"] >= 1
    steps = sorted(a.step for a in result.artifacts)
    assert steps[-1] == 4 and len(steps) <= 5
    assert {p.step for p in result.curve} == {4}

