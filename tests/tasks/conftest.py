"""Shared fixtures: the generated toy datasets (once per session), composed recipes, a tiny code."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from bench.job import JobFn, JobSpec
from bench.settings import get_setting
from bench.training import parse_train
from tasks import TASKS
from tasks.toydata import ensure_toy

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "conf"
TINY = "8_8-1_1_1_8-1_2_1_1_8_8-1_3_1_1_1_8_8_8-1_4_1_1_1_1_8_8_8_8-8"  # the smallest code: seconds on a CPU
TINY_16 = "16_16-1_1_1_16-1_2_1_1_16_16-1_3_1_1_1_16_16_16-1_4_1_1_1_1_16_16_16_16-16"


@pytest.fixture(autouse=True)
def _one_thread():
    # The CI machine's few cores are shared by parallel jobs: more threads only oversubscribe them.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def toy_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toy")
    for dataset in ("imagenet", "cityscapes", "cityscapes_4x", "hmdb51"):
        ensure_toy(dataset, root / dataset)
    return root


def compose_train(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=overrides)


def job_of(setting: str) -> JobFn:
    """The job function that trains ``setting`` (its task type's)."""
    return TASKS.get(get_setting(setting).task).run


def toy_spec(setting: str, toy_root: Path, work_dir: Path, code: str = TINY, seed: int = 0,
             overrides: tuple[str, ...] = (), devices: tuple[str, ...] = ("cpu",), init_checkpoint: str | None = None) -> JobSpec:
    """The JobSpec of ``setting``'s smoke recipe on the session's toy data (composed as launch/train.py does)."""
    cfg = compose_train([f"task={setting}", "data=toy", f"code={code}", "store=unused", f"data.toy_root={toy_root}",
                         f"seed={seed}", *overrides])
    top, experiment, arch = parse_train(cfg, TASKS)
    return JobSpec(code=arch, setting=experiment.setting, seed=seed, recipe=experiment.recipe, data=experiment.data,
                   work_dir=str(work_dir), devices=devices, init_checkpoint=init_checkpoint)


def pytest_collection_modifyitems(items):
    # torchvision 0.29 deprecates its image codecs in favour of torchcodec (not a dependency);
    # decode_jpeg(device="cuda") is still the GPU path this project uses.
    here = str(Path(__file__).parent)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.filterwarnings("ignore:The image decoding and encoding:DeprecationWarning"))
