"""A job killed mid-epoch (SIGKILL of a real process) and restarted continues from its checkpoint:
no completed epoch is trained again, the curve has no gap or duplicate, and the result equals an
uninterrupted run's."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.tasks.conftest import REPO, job_of, toy_spec

OVERRIDES = ("task.schedule.length=10", "task.eval.interval=2", "task.checkpoint.keep=[5,10]", "task.runtime.log_interval=1")
CHILD = """
import sys, torch
torch.set_num_threads(1)
from pathlib import Path
import pytest

from tests.tasks.conftest import job_of, toy_spec
spec = toy_spec("cls_a", Path(sys.argv[1]), Path(sys.argv[2]), overrides=tuple(sys.argv[3:]))
job_of("cls_a")(spec)
"""


def _logged_iterations(log: Path) -> list[int]:
    return [int(m) for m in re.findall(r"iter (\d+)/", log.read_text())]


@pytest.mark.slow
def test_killed_mid_epoch_job_resumes_without_repeating_epochs(toy_root, tmp_path):
    work = tmp_path / "killed"
    steps_per_epoch = 9  # 144 toy images, batch 16
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(toy_root), str(work), *OVERRIDES], cwd=REPO, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    target = 4 * steps_per_epoch + 3  # three steps into epoch 5: mid-epoch, after epoch 4's checkpoint
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            log = work / "train.log"
            if log.exists() and any(i >= target for i in _logged_iterations(log)):
                break
            assert child.poll() is None, "the job finished before it could be killed"
            time.sleep(0.02)
        else:
            raise AssertionError("the job never reached the kill point")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    killed_at = max(_logged_iterations(work / "train.log"))
    assert killed_at % steps_per_epoch != 0 and killed_at < 10 * steps_per_epoch

    result = job_of("cls_a")(toy_spec("cls_a", toy_root, work, overrides=OVERRIDES))
    resumed = result.info["resumed_from_step"]
    assert resumed == killed_at // steps_per_epoch  # the newest complete epoch, not earlier
    text = (work / "train.log").read_text()
    second_run = [int(m) for m in re.findall(r"iter (\d+)/", text.split("resuming", 1)[1])]
    assert second_run[0] == resumed * steps_per_epoch + 1  # no completed epoch trained again
    assert second_run == list(range(second_run[0], 10 * steps_per_epoch + 1))
    steps = [p.step for p in result.curve if p.metric == "top1"]
    assert steps == [2, 4, 6, 8, 10]  # every evaluation exactly once, in order

    uninterrupted = job_of("cls_a")(toy_spec("cls_a", toy_root, tmp_path / "straight", overrides=OVERRIDES))
    assert [(p.step, p.metric, round(p.value, 6)) for p in uninterrupted.curve] == [
        (p.step, p.metric, round(p.value, 6)) for p in result.curve
    ]


def test_finished_job_rerun_returns_its_result_without_training(toy_root, tmp_path):
    spec = toy_spec("cls_c", toy_root, tmp_path / "job")
    first = job_of("cls_c")(spec)
    log_size = (tmp_path / "job" / "train.log").stat().st_size
    again = job_of("cls_c")(spec)
    assert again.metrics == first.metrics and again.curve == first.curve
    assert not re.search(r"iter \d+/", (tmp_path / "job" / "train.log").read_text()[log_size:])
