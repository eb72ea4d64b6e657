"""The README's first command, composed from conf/run.yaml: real training jobs on the tiny generated data."""

from __future__ import annotations

import io
import json
import tempfile

import pyarrow.parquet as pq
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from bench.sched.config import build_run
from bench.sched.sweep import execute
from bench.settings import get_setting, setting_names
from tasks import TASKS
from tests.sched.conftest import REPO

if not OmegaConf.has_resolver("tempdir"):
    OmegaConf.register_new_resolver("tempdir", tempfile.gettempdir)


def compose_run(overrides: list[str]):
    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        return compose("run", overrides=overrides)


def test_every_setting_and_sweep_composes():
    for setting in setting_names(trainable=True):
        run = build_run(compose_run([f"task={setting}", "sweep=smoke"]), TASKS)
        assert run.setting == setting and run.resources.gpus == 0 and run.template.experiment.recipe.setting == setting
        assert run.template.experiment.data.synthetic
    full = build_run(compose_run(["task=seg", "sweep=full", "data.roots.cityscapes=/data/cityscapes", "job=scripted"]),
                     TASKS)
    assert (full.selection.source, full.selection.smallest, full.resources.gpus) == ("frozen", None, 8)
    assert full.resources.small_gpu_fraction is None  # no GPU sharing on the full sweep unless asked


def test_smoke_sweep_trains_real_jobs_fills_the_store_and_exports_parquet(local_ray, tmp_path):
    cfg = compose_run(
        [
            "task=cls_a",
            "sweep=smoke",
            "sweep.smallest=2",
            f"store={tmp_path / 'store'}",
            f"data.toy_root={tmp_path / 'toy'}",
            "progress_interval_s=1",
        ]
    )
    out = io.StringIO()
    progress = execute(build_run(cfg, TASKS), out=out)
    text = out.getvalue()
    assert (progress.succeeded, progress.failed) == (2, 0), text
    table = pq.read_table(tmp_path / "store" / "export" / "cls_a.parquet")
    assert table.num_rows == 2
    for metric in get_setting("cls_a").metrics:
        values = table[metric].to_pylist()
        assert all(0.0 <= v <= 100.0 for v in values)
    manifest = json.loads((tmp_path / "store" / "export" / "MANIFEST.json").read_text())
    assert manifest["settings"]["cls_a"]["complete"] is True
    assert manifest["synthetic"] is True and manifest["settings"]["cls_a"]["data_kinds"] == {"synthetic": 2}
    assert set(table["data_kind"].to_pylist()) == {"synthetic"}  # every exported row says what its data was
    logs = list((tmp_path / "store" / "logs" / "cls_a").rglob("*.log"))
    assert len(logs) == 2 and all("SYNTHETIC DATA" in log.read_text() for log in logs)
    assert "done 2/2" in text and "exported cls_a" in text and "[cls_a] top1 over 2 architectures" in text
