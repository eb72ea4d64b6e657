"""A new setting is one registry entry plus a recipe diff: it trains, stores and exports with nothing else."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bench.cost import CostSpec, cost
from bench.settings import SETTINGS, Setting, get_setting, setting_names
from bench.store import Store, join_settings
from bench.store.export import export_benchmark
from bench.training import train_one
from tasks import TASKS
from tests.tasks.conftest import TINY, compose_train

pytestmark = pytest.mark.slow  # one real (tiny) training job

CLS_D = Setting("cls_d", "cls-3-toy", task="cls", metrics=("top1", "top5"), main_metric="top1",
                cost=CostSpec("cls", num_classes=3), description="a setting that exists only in this test")
RECIPE_DIFF = ["task.setting=cls_d", "task.num_classes=3", "task.data.manifest=toy-cls-c", "task.schedule.length=2",
               "task.eval.interval=2", "task.checkpoint.keep=[2]"]  # a diff of cls_a's recipe


def test_a_registered_setting_trains_stores_and_exports(tmp_path, monkeypatch):
    monkeypatch.setenv("NASBENCH_MR_TOY_ROOT", str(tmp_path / "toy"))
    store_uri = str(tmp_path / "store")
    with SETTINGS.registered("cls_d", CLS_D):
        assert "cls_d" in setting_names(trainable=True)
        cfg = compose_train(["task=cls_a", "data=toy", f"code={TINY}", f"store={store_uri}", *RECIPE_DIFF])
        assert train_one(cfg, TASKS) == 0
        store = Store.open(store_uri)
        assert store.settings() == ["cls_d"]
        rows = store.load_setting("cls_d", data="synthetic").to_pylist()
        assert len(rows) == 1 and 0.0 <= rows[0]["top1"] <= 100.0
        assert rows[0]["head_gflops"] == pytest.approx(cost(TINY, CLS_D.cost).gflops)  # its own cost convention
        assert join_settings(store, ["cls_d"]).num_rows == 0  # the benchmark view has no synthetic rows
        result = export_benchmark(store, tmp_path / "out", data="synthetic")
        assert result.refused == {}
        manifest = json.loads((tmp_path / "out" / "MANIFEST.json").read_text())
        assert manifest["settings"]["cls_d"]["main_metric"] == "top1"
        exported = pd.read_parquet(tmp_path / "out" / "cls_d.parquet")
        assert list(exported["data_kind"]) == ["synthetic"] and "provenance" in exported.columns
    assert "cls_d" not in setting_names()  # registered for the block only
    with pytest.raises(Exception, match="unknown setting 'cls_d'"):
        get_setting("cls_d")


def test_a_duplicate_setting_name_is_refused():
    with pytest.raises(Exception, match="setting 'cls_a' is already registered"):
        SETTINGS.register("cls_a")(CLS_D)
