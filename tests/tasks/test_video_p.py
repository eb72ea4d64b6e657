"""video_p really starts from the same code's cls_a backbone, and refuses any other checkpoint."""

from __future__ import annotations

import pytest
import torch

from bench.errors import BenchError
from tasks.engine.checkpoint import load_checkpoint
from tasks.engine.distributed import DistEnv
from tasks.engine.loop import init_backbone
from tasks.video.job import VideoTask
from tests.tasks.conftest import TINY, TINY_16, job_of, toy_spec

CPU = DistEnv(rank=0, world_size=1, device=torch.device("cpu"))


@pytest.fixture(scope="module")
def cls_a_checkpoint(toy_root, tmp_path_factory) -> str:
    work = tmp_path_factory.mktemp("cls_a")
    spec = toy_spec("cls_a", toy_root, work, overrides=("task.schedule.length=2", "task.checkpoint.keep=[2]"))
    result = job_of("cls_a")(spec)
    return next(a.uri for a in result.artifacts if a.kind == "checkpoint" and a.step == 2)


def test_video_p_backbone_equals_the_cls_a_backbone(toy_root, tmp_path, cls_a_checkpoint):
    spec = toy_spec("video_p", toy_root, tmp_path, init_checkpoint=cls_a_checkpoint)
    model = VideoTask(spec, CPU).build_model()
    info = init_backbone(model, spec)
    saved = load_checkpoint(cls_a_checkpoint)["model"]
    loaded = model.backbone.state_dict()
    assert info["init_tensors"] == len(loaded) > 0
    for name, tensor in loaded.items():
        assert torch.equal(tensor, saved[f"backbone.{name}"]), name
    fresh = VideoTask(toy_spec("video", toy_root, tmp_path / "v"), CPU).build_model().backbone.state_dict()
    assert not all(torch.equal(fresh[k], loaded[k]) for k in loaded if loaded[k].is_floating_point())


def test_video_p_refuses_a_missing_or_foreign_checkpoint(toy_root, tmp_path, cls_a_checkpoint):
    with pytest.raises(BenchError, match="train task=cls_a first"):
        spec = toy_spec("video_p", toy_root, tmp_path)
        init_backbone(VideoTask(spec, CPU).build_model(), spec)
    other = toy_spec("video_p", toy_root, tmp_path, code=TINY_16, init_checkpoint=cls_a_checkpoint)
    with pytest.raises(BenchError, match="needs 'cls_a' of code"):
        init_backbone(VideoTask(other, CPU).build_model(), other)


def test_video_p_refuses_an_unfinished_cls_a_checkpoint(toy_root, tmp_path):
    spec = toy_spec("cls_a", toy_root, tmp_path / "cls", overrides=("task.checkpoint.keep=[1,6]",))
    result = job_of("cls_a")(spec)
    early = next(a.uri for a in result.artifacts if a.step == 1)
    spec = toy_spec("video_p", toy_root, tmp_path, code=TINY, init_checkpoint=early)
    with pytest.raises(BenchError, match="before its job finished"):
        init_backbone(VideoTask(spec, CPU).build_model(), spec)
