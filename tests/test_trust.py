"""Numbers people can trust, through the real launchers: identity, quarantine of synthetic data, reruns, bad input.

Every case runs ``launch/train.py`` / ``launch/export.py`` as a user would (their ``__main__``,
command line, exit status and output; in this process, to spare CI a Python start per call),
on a tiny toy ImageNet (real JPEG folders and manifests) and tiny published-style pickles.
"""

from __future__ import annotations

import json
import runpy
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from hydra.core.global_hydra import GlobalHydra

from bench.code import ArchCode
from bench.store import Store
from tasks.toydata import ensure_toy
from tests.store.official_fixtures import mr_rows, write_published_dir

pytestmark = pytest.mark.slow  # tiny training jobs
REPO = Path(__file__).resolve().parents[1]
SHORT = ["task.schedule.length=1", "task.eval.interval=1", "task.checkpoint.keep=[1]"]


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def launch(capfd, monkeypatch):
    """``launch(script, args, toy_root)``: run ``launch/<script>`` as ``python launch/<script> args``."""

    def run(script: str, args: list[str], toy: Path) -> Done:
        capfd.readouterr()
        monkeypatch.setenv("NASBENCH_MR_TOY_ROOT", str(toy))
        monkeypatch.setattr(sys, "argv", [script, *args])
        code = 0
        try:
            runpy.run_path(str(REPO / "launch" / script), run_name="__main__")
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        finally:
            GlobalHydra.instance().clear()
        out, err = capfd.readouterr()
        return Done(code, out, err)

    return run


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toy")
    ensure_toy("imagenet", root / "imagenet")
    return root


def test_a_toy_job_never_replaces_a_published_number(launch, toy, tmp_path):
    write_published_dir(tmp_path / "src", ("cls_a",))
    store = tmp_path / "store"
    assert launch("export.py", ["import-official", str(tmp_path / "src"), "--store", str(store)], toy).returncode == 0
    published = min(mr_rows("cls_a"), key=lambda row: row["flops"])  # the cheapest published code: seconds on a CPU
    code = ArchCode.from_row(published)
    args = ["task=cls_a", "data=toy", f"code={code}", f"store={store}", *SHORT]
    refused = launch("train.py", args, toy)
    assert refused.returncode == 2 and "refusing to add results of GENERATED data" in refused.stderr
    assert not (store / "commits").exists()  # nothing committed

    allowed = launch("train.py", [*args, "allow_synthetic=true"], toy)
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    view = Store.open(str(store)).load_setting("cls_a").to_pandas().set_index("arch_id")
    assert view.loc[code.arch_id, "top1"] == published["top1"] and view.loc[code.arch_id, "data_kind"] == "imported"
    out = tmp_path / "out"
    assert launch("export.py", ["export", "--store", str(store), "--out", str(out)], toy).returncode == 0
    exported = pd.read_parquet(out / "cls_a.parquet").set_index("arch_id")
    assert exported.loc[code.arch_id, "top1"] == published["top1"]
    assert set(exported["data_kind"]) == {"imported"}
    stats = launch("export.py", ["stats", "--store", str(store)], toy)
    assert f"{max(r['top1'] for r in mr_rows('cls_a')):.3f}" in stats.stdout  # the published max, not a toy value
    synthetic = launch("export.py", ["stats", "--store", str(store), "--data", "synthetic"], toy)
    assert synthetic.returncode == 0 and " 1 " in synthetic.stdout  # asked for: the one toy row


def test_another_recipe_or_dataset_is_refused_unless_it_is_a_named_variant(launch, toy, tmp_path):
    store = tmp_path / "store"
    tiny = "8_8-1_1_1_8-1_2_1_1_8_8-1_3_1_1_1_8_8_8-1_4_1_1_1_1_8_8_8_8-8"
    base = ["task=cls_a", "data=toy", f"code={tiny}", f"store={store}", *SHORT]
    assert launch("train.py", base, toy).returncode == 0
    same = launch("train.py", base, toy)
    assert same.returncode == 0 and "nothing to do" in same.stdout

    changed = launch("train.py", [*base, "task.optim.lr=0.05"], toy)
    assert changed.returncode == 2 and "optim.lr: 0.1 -> 0.05" in changed.stderr and "variant=" in changed.stderr
    variant = launch("train.py", [*base, "task.optim.lr=0.05", "variant=lr005"], toy)
    assert variant.returncode == 0, variant.stderr[-2000:]
    opened = Store.open(str(store))
    assert opened.load_setting("cls_a", data="synthetic").num_rows == 1  # the benchmark's rows: the first recipe only
    assert opened.load_setting("cls_a", data="synthetic", variant="lr005").num_rows == 1

    # The same images as a user's "real" copy: another dataset identity, so it is not skipped as done.
    real = tmp_path / "real"
    shutil.copytree(toy / "imagenet", real)
    on_real = launch("train.py", ["task=cls_a", f"data.roots.imagenet={real}", f"code={tiny}", f"store={store}",
                                  f"task.data.manifest={real}/manifests/toy-cls-a.tsv", "task.runtime.gpus=0",
                                  "task.runtime.batch_size=16", "task.runtime.workers=0", "task.num_classes=6", *SHORT,
                                  "task.augment.crop_size=32", "task.augment.eval_resize=36"], toy)
    assert on_real.returncode == 0 and "nothing to do" not in on_real.stdout, on_real.stderr[-2000:]
    summary = json.loads(on_real.stdout.strip().splitlines()[-1])
    assert summary["data_kind"] == "real" and summary["attempt"] == 3  # numbered after the two runs before it
    assert opened.load_setting("cls_a").num_rows == 1  # the real run is the benchmark's now


def test_a_rerun_is_a_new_attempt_with_its_own_log(launch, toy, tmp_path):
    store = tmp_path / "store"
    tiny = "8_8-1_1_1_8-1_2_1_1_8_8-1_3_1_1_1_8_8_8-1_4_1_1_1_1_8_8_8_8-8"
    args = ["task=cls_a", "data=toy", f"code={tiny}", f"store={store}", *SHORT]
    assert launch("train.py", args, toy).returncode == 0
    arch = ArchCode.from_string(tiny).arch_id
    first_log = (store / "logs" / "cls_a" / arch / "s0.a1.log").read_text()
    again = launch("train.py", [*args, "rerun=true"], toy)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout.strip().splitlines()[-1])["attempt"] == 2
    assert (store / "logs" / "cls_a" / arch / "s0.a1.log").read_text() == first_log  # untouched
    assert "attempt 2" in (store / "logs" / "cls_a" / arch / "s0.a2.log").read_text()
    runs = Store.open(str(store)).load_runs("cls_a").to_pylist()
    assert sorted((r["attempt"], r["status"]) for r in runs) == [(1, "succeeded"), (2, "succeeded")]


def test_bad_input_inside_a_job_exits_2_and_commits_nothing(launch, toy, tmp_path):
    copy = tmp_path / "imagenet"
    shutil.copytree(toy / "imagenet", copy)
    victim = copy / next(line.split("\t")[1] for line in (copy / "manifests" / "toy-cls-a.tsv").read_text().splitlines()
                         if line.startswith("train\t"))
    victim.write_bytes(b"\0" * victim.stat().st_size)  # same size: passes the manifest's check, cannot be decoded
    store = tmp_path / "store"
    tiny = "8_8-1_1_1_8-1_2_1_1_8_8-1_3_1_1_1_8_8_8-1_4_1_1_1_1_8_8_8_8-8"
    done = launch("train.py", ["task=cls_a", "data=toy", f"data.toy_root={tmp_path}", f"code={tiny}", f"store={store}",
                               *SHORT], tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and victim.name in last
    assert Store.open(str(store)).load_runs("cls_a").num_rows == 0


def test_hydra_and_config_errors_exit_2_in_one_line(launch, toy, tmp_path):
    tiny = "8_8-1_1_1_8-1_2_1_1_8_8-1_3_1_1_1_8_8_8-1_4_1_1_1_1_8_8_8_8-8"
    cases = [
        (["task=segg", "code=x", "store=s"], "Could not find 'task/segg'; valid choices are cls_10c, cls_a"),
        (["task=cls_a", "code=x", "store=2025_06_01"], "store=20250601 was read as a number"),
        (["task=cls_a", "code=x", "store=s", "data.roots.imagenet=2024"], "data.roots.imagenet=2024 was read as a number"),
        (["task=cls_a", "code=x", "store=s", "work_root=1"], "work_root=1 was read as a number"),
        (["task=cls_a", "code=x", "store=${oc.env:NBMR_SURELY_UNSET}"], "environment variable NBMR_SURELY_UNSET"),
        (["task=cls_a", "code=x", "store=s", "+retry.max_atempts=5"], "unknown key retry"),
        (["task=cls_a", "code=x", "store=s", "task.optim.lrr=1"], "unknown key task.optim.lrr"),
        (["task=cls_a", f"code={tiny}", "store=s", "data=toy", "task.optim.lr=nan"], "task.optim.lr=nan must be a finite"),
        (["task=cls_a", "code=x", "store=s"], "code string 'x' has 1"),
    ]
    for args, message in cases:
        done = launch("train.py", args, toy)
        assert done.returncode == 2, (args, done.stderr[-2000:])
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, lines)
    assert not Path("s").exists() and not Path("20250601").exists()
    del tmp_path
