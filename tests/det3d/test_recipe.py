"""The det3d recipe: composes through Hydra like the other settings, into the same typed recipe sections."""

from __future__ import annotations

import pytest

from bench.config import config_hash, resolve
from bench.errors import BenchError
from bench.experiment import parse_recipe
from bench.training import parse_train
from tasks import TASKS
from tasks.det3d.recipe import Det3dRecipe
from tasks.engine.optim import lr_at
from tests.tasks.conftest import TINY, compose_train


def _experiment(overrides: list[str]):
    return parse_train(compose_train(["task=det3d", f"code={TINY}", "store=unused-store", *overrides]), TASKS)[1]


def test_real_recipe_is_the_paper_s(tmp_path):
    cfg = resolve(compose_train(["task=det3d", f"code={TINY}", "store=unused-store", f"data.roots.kitti={tmp_path}"]))
    task, recipe = parse_recipe(cfg["task"], TASKS)
    assert task.name == "det3d" and isinstance(recipe, Det3dRecipe)
    model = recipe.model
    assert (model.grid.ny, model.grid.nx) == (496, 432) and model.max_pillars_train == 12000 and model.max_points == 100
    assert (recipe.schedule.length, recipe.runtime.batch_size, recipe.optim.lr, recipe.optim.weight_decay,
            recipe.checkpoint.keep_last) == (80, 16, 2e-3, 1e-2, 5)
    assert (recipe.optim.name, recipe.optim.grad_clip, recipe.schedule.policy) == ("adamw", 10.0, "onecycle")
    with pytest.raises(BenchError, match="ImageSets/train.txt: file not found"):
        _experiment([f"data.roots.kitti={tmp_path}"])  # real data is identified before anything trains


def test_toy_layer_shrinks_the_recipe():
    experiment = _experiment(["data=toy"])
    assert experiment.data.synthetic and experiment.data.root.endswith("kitti")
    assert (experiment.recipe.model.grid.nx, experiment.recipe.schedule.length) == (40, 30)
    assert config_hash(experiment.recipe) != config_hash(_experiment(["data=toy", "task.schedule.length=31"]).recipe)


def test_bad_recipes_fail_with_the_key_named():
    with pytest.raises(BenchError, match="unknown key task.model.pillar_sise"):
        _experiment(["data=toy", "+task.model.pillar_sise=[0.2,0.2]"])
    with pytest.raises(BenchError, match="head_stride=3"):
        _experiment(["data=toy", "task.model.head_stride=3"])
    with pytest.raises(BenchError, match="unknown key task.bogus"):
        _experiment(["data=toy", "+task.bogus=1"])
    with pytest.raises(BenchError, match="task.model.anchors\\[0\\].size"):
        _experiment(["data=toy", "task.model.anchors.0.size=[1,2]"])


def test_the_engine_s_one_cycle_is_pointpillars_schedule():
    schedule = _experiment(["data=toy"]).recipe.schedule
    lrs, moms = zip(*(lr_at(i, 1000, 2e-3, schedule) for i in range(1001)))
    assert lrs[0] == pytest.approx(2e-4) and lrs[400] == pytest.approx(2e-3) and lrs[1000] == pytest.approx(2e-8)
    assert max(lrs) == pytest.approx(2e-3) and lrs.index(max(lrs)) == 400
    assert moms[0] == pytest.approx(0.95) and moms[400] == pytest.approx(0.85)
