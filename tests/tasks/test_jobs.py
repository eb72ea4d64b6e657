"""Every setting's job trains on its tiny generated dataset on the CPU and clearly beats chance."""

from __future__ import annotations

import pytest

from bench.settings import get_setting, setting_names
from tasks import TASKS
from tests.tasks.conftest import REPO, job_of, toy_spec

OURS = [s for s in setting_names(trainable=True) if get_setting(s).task != "det3d"]  # det3d: tests/det3d
# setting -> (main metric, what chance gives, what the job must reach)
CHANCE = {
    "cls_a": ("top1", 100 / 6, 50.0),
    "cls_b": ("top1", 100 / 6, 35.0),
    "cls_c": ("top1", 100 / 3, 55.0),
    "cls_10c": ("top1", 100 / 6, 45.0),
    "seg": ("aAcc", 100 / 7, 55.0),  # 7 classes in the toy scenes
    "seg_4x": ("aAcc", 100 / 7, 55.0),
    "video": ("top1", 25.0, 37.5),
    "video_p": ("top1", 25.0, 37.5),
}


def test_every_trainable_setting_has_a_registered_task_type_and_a_recipe():
    for setting in setting_names(trainable=True):
        assert get_setting(setting).task in TASKS
        assert (REPO / "conf" / "task" / f"{setting}.yaml").is_file(), setting


@pytest.mark.parametrize("setting", OURS)
def test_job_beats_chance_on_toy_data(setting, toy_root, tmp_path):
    init = None
    if setting == "video_p":
        cls = job_of("cls_a")(toy_spec("cls_a", toy_root, tmp_path / "cls_a"))
        init = next(a.uri for a in cls.artifacts if a.kind == "checkpoint" and a.step == 6)
    spec = toy_spec(setting, toy_root, tmp_path / setting, init_checkpoint=init)
    result = job_of(setting)(spec)
    metric, chance, required = CHANCE[setting]
    assert set(result.metrics) == set(get_setting(setting).metrics)
    assert result.metrics[metric] >= required > chance, result.metrics
    assert result.info["synthetic_data"] is True
    # the curve has one point per metric at every evaluation, in order, the last one equal to the result
    steps = sorted({p.step for p in result.curve})
    assert steps[-1] == spec.recipe.schedule.length
    assert len(result.curve) == len(steps) * len(get_setting(setting).metrics)
    assert {p.metric: p.value for p in result.curve if p.step == steps[-1]} == result.metrics
    kinds = {a.kind for a in result.artifacts}
    assert kinds == {"checkpoint", "log"}
    if setting == "video_p":
        assert result.info["init_tensors"] > 0


def test_the_device_decode_path_trains_like_the_cpu_path(toy_root, tmp_path):
    # The GPU input pipeline (batched decode_jpeg + augmentation on the job's device) is the same
    # code on the CPU device; run it here so CI covers everything but the device='cuda' argument.
    spec = toy_spec("cls_a", toy_root, tmp_path / "device", overrides=("task.data.decode=device",))
    result = job_of("cls_a")(spec)
    assert result.info["decode"] == "device"
    metric, chance, required = CHANCE["cls_a"]
    assert result.metrics[metric] >= required > chance, result.metrics
