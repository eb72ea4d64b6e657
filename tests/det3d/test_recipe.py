"""The det3d recipe: composes through Hydra like the other settings, validates, and its schedule."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from bench.errors import BenchError
from tasks import build_job_spec
from tasks.det3d.recipe import TrainConfig, check_sections, is_toy, one_cycle, parse_detector, parse_train

CONF = Path(__file__).resolve().parents[2] / "conf"
CODE = "8_8-1_1_1_8-1_2_1_1_8_8-1_3_1_1_1_8_8_8-1_4_1_1_1_1_8_8_8_8-8"


def _compose(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        return compose("train", overrides=["task=det3d", f"code={CODE}", "store=unused-store", *overrides])


def test_real_recipe_is_the_paper_s(tmp_path):
    spec = build_job_spec(_compose([f"data.roots.kitti={tmp_path}"]), CODE, 0, devices=["cpu"])
    model, train = parse_detector(spec.config), parse_train(spec.config)
    assert (model.grid.ny, model.grid.nx) == (496, 432) and model.max_pillars_train == 12000 and model.max_points == 100
    assert (train.epochs, train.batch_size, train.lr_max, train.weight_decay, train.keep_last) == (80, 16, 2e-3, 1e-2, 5)
    assert spec.data_root == str(tmp_path) and not is_toy(spec.config)


def test_toy_layer_shrinks_the_recipe():
    spec = build_job_spec(_compose(["data=toy"]), CODE, 0, devices=["cpu"])
    assert is_toy(spec.config) and spec.data_root.endswith("kitti")
    assert (parse_detector(spec.config).grid.nx, parse_train(spec.config).epochs) == (40, 30)


def test_bad_recipes_fail_with_the_key_named():
    spec = build_job_spec(_compose(["data=toy"]), CODE, 0, devices=["cpu"])
    bad = {**spec.config, "model": {**spec.config["model"], "pillar_sise": [0.2, 0.2]}}
    with pytest.raises(BenchError, match="pillar_sise"):
        parse_detector(bad)
    with pytest.raises(BenchError, match="head_stride=3"):
        parse_detector({**spec.config, "model": {**spec.config["model"], "head_stride": 3}})
    with pytest.raises(BenchError, match="bogus"):
        check_sections({**spec.config, "bogus": {}})


def test_one_cycle_runs_from_2e4_up_to_2e3_and_down():
    cfg = TrainConfig(epochs=80, batch_size=16, lr_max=2e-3, weight_decay=0.01)
    lrs = [one_cycle(i, 1000, cfg)[0] for i in range(1001)]
    assert lrs[0] == pytest.approx(2e-4) and lrs[400] == pytest.approx(2e-3) and lrs[1000] == pytest.approx(2e-8)
    assert max(lrs) == pytest.approx(2e-3) and lrs.index(max(lrs)) == 400
    assert one_cycle(0, 1000, cfg)[1] == pytest.approx(0.95) and one_cycle(400, 1000, cfg)[1] == pytest.approx(0.85)
