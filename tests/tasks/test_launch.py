"""``launch/train.py`` end to end: one toy job from the command line, committed to a real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bench.store import Store
from tests.tasks.conftest import REPO, TINY

pytestmark = pytest.mark.slow  # a fresh Python process with torch, hydra and pyarrow


def _train(args: list[str], cwd, toy_root) -> subprocess.CompletedProcess:
    env = {**os.environ, "NASBENCH_MR_TOY_ROOT": str(toy_root), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(REPO / "launch" / "train.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_launch_trains_commits_and_writes_nothing_into_the_working_directory(toy_root, tmp_path):
    store_dir, cwd = tmp_path / "store", tmp_path / "cwd"
    cwd.mkdir()
    done = _train(["task=seg", "data=toy", f"code={TINY}", f"store={store_dir}", "task.schedule.length=20",
                   "task.eval.interval=10", "task.checkpoint.keep=[20]"], cwd, toy_root)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "SYNTHETIC DATA" in done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["setting"] == "seg" and summary["data_kind"] == "synthetic"
    assert list(cwd.iterdir()) == []  # no outputs/, no .hydra/, no log file
    store = Store.open(str(store_dir))
    rows = store.load_setting("seg", data="synthetic").to_pylist()
    assert len(rows) == 1 and rows[0]["mIoU"] == pytest.approx(summary["metrics"]["mIoU"])
    assert store.load_setting("seg").num_rows == 0  # generated data never shows in the benchmark view
    log = (store_dir / "logs" / "seg" / summary["arch_id"] / "s0.a1.log").read_text()
    assert "SYNTHETIC DATA" in log and "iter 20/20" in log  # the attempt's whole output is in its log

    bad = _train(["task=cls_a", f"code={TINY}", f"store={store_dir}", f"data.roots.imagenet={tmp_path / 'nowhere'}"],
                 cwd, toy_root)
    assert bad.returncode == 2 and "does not exist" in bad.stderr
    assert len(Store.open(str(store_dir)).load_runs("cls_a")) == 0  # bad input records nothing
