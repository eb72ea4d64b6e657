"""The engine's pieces: recipe parsing, schedules, the resumable sampler, checkpoint files, rank errors."""

from __future__ import annotations

import itertools

import pytest
import torch

from bench.config import parse
from bench.errors import BenchError
from bench.recipe import OptimConfig, ScheduleConfig
from tasks.engine.checkpoint import (
    FORMAT_VERSION,
    checkpoint_name,
    list_checkpoints,
    load_checkpoint,
    newest_checkpoint,
    prune,
    save_atomic,
)
from tasks.engine.distributed import DistEnv, check_devices, run_on_devices
from tasks.engine.optim import lr_at
from tasks.engine.precision import resolve_precision
from tasks.engine.sampler import ResumableBatchSampler


def test_recipe_sections_name_bad_keys_and_values():
    with pytest.raises(BenchError, match=r"unknown key task.optim.lrr; valid keys of task.optim are \['betas'"):
        parse(OptimConfig, {"name": "sgd", "lrr": 0.1}, "task.optim")
    with pytest.raises(BenchError, match="key task.optim.lr is required and missing"):
        parse(OptimConfig, {"name": "sgd"}, "task.optim")
    with pytest.raises(BenchError, match="task.optim.lr='x' must be a number"):
        parse(OptimConfig, {"name": "sgd", "lr": "x"}, "task.optim")
    with pytest.raises(BenchError, match="task.optim.lr=nan must be a finite number"):
        parse(OptimConfig, {"name": "sgd", "lr": float("nan")}, "task.optim")
    with pytest.raises(BenchError, match=r"task.schedule.unit='hour' is invalid; valid values are \['epoch', 'iter'\]"):
        parse(ScheduleConfig, {"unit": "hour", "length": 1}, "task.schedule")


def test_poly_and_cosine_schedules_end_where_the_paper_says():
    poly = ScheduleConfig(unit="iter", length=100, policy="poly", power=0.9, min_lr=1e-4)
    assert lr_at(0, 100, 0.1, poly)[0] == pytest.approx(0.1)
    assert lr_at(100, 100, 0.1, poly)[0] == pytest.approx(1e-4)
    cosine = ScheduleConfig(unit="epoch", length=10, policy="cosine")
    values = [lr_at(i, 100, 0.1, cosine)[0] for i in range(101)]
    assert values == sorted(values, reverse=True) and values[-1] == pytest.approx(0.0)


def test_onecycle_rises_then_falls_with_momentum_moving_the_other_way():
    # OpenPCDet's PointPillars schedule: lr 2e-4 -> 2e-3 over 40%, then down to 2e-8; beta1 0.95 -> 0.85 -> 0.95.
    one = ScheduleConfig(unit="epoch", length=80, policy="onecycle", pct_start=0.4, div_factor=10, final_div_factor=1e4)
    lrs, moms = zip(*(lr_at(i, 1000, 2e-3, one) for i in range(1001)))
    peak = max(range(1001), key=lambda i: lrs[i])
    assert peak == 400 and lrs[0] == pytest.approx(2e-4) and lrs[-1] == pytest.approx(2e-8)
    assert moms[0] == pytest.approx(0.95) and moms[peak] == pytest.approx(0.85) and moms[-1] == pytest.approx(0.95)
    assert lr_at(5, 10, 0.1, ScheduleConfig(unit="iter", length=10))[1] is None  # other policies keep the momentum


@pytest.mark.parametrize("choice, device, capability, expected", [
    ("auto", "cuda", (9, 0), "bf16"),  # H100 / H200
    ("auto", "cuda", (8, 0), "bf16"),  # A100
    ("auto", "cuda", (7, 0), "fp16"),  # V100: no native bf16
    ("auto", "cuda", (7, 5), "fp16"),  # T4
    ("auto", "cpu", None, "fp32"),
    ("bf16", "cpu", None, "fp32"),  # CPU autocast gains nothing here: always fp32
    ("fp16", "cuda", (9, 0), "fp16"),
    ("fp32", "cuda", (9, 0), "fp32"),
])
def test_precision_auto_is_decided_per_device(choice, device, capability, expected):
    assert resolve_precision(choice, device, capability) == expected


def test_an_unknown_precision_is_refused():
    with pytest.raises(BenchError, match="runtime.precision='fp8' is invalid"):
        resolve_precision("fp8", "cuda", (9, 0))


@pytest.mark.parametrize("world", [1, 2, 4])
def test_global_batches_do_not_depend_on_the_number_of_ranks(world):
    def global_batches(world_size):
        samplers = [ResumableBatchSampler(50, 8, r, world_size, seed=3) for r in range(world_size)]
        for s in samplers:
            s.set_epoch(2)
        return [list(itertools.chain(*parts)) for parts in zip(*[list(s) for s in samplers])]

    assert global_batches(world) == global_batches(1)
    assert len(global_batches(1)) == 6  # 50 // 8, the incomplete batch dropped


def test_sampler_resumes_mid_epoch_with_the_same_remaining_batches():
    full = ResumableBatchSampler(40, 4, 0, 1, seed=0)
    full.set_epoch(1)
    resumed = ResumableBatchSampler(40, 4, 0, 1, seed=0)
    resumed.set_epoch(1, start_batch=6)
    assert list(resumed) == list(full)[6:] and len(resumed) == 4
    other_epoch = ResumableBatchSampler(40, 4, 0, 1, seed=0)
    other_epoch.set_epoch(2)
    assert list(other_epoch) != list(full)


def _state(step, identity):
    return {"format": FORMAT_VERSION, "identity": identity, "step": step, "model": {"w": torch.ones(2) * step}}


def test_checkpoints_newest_identity_and_prune(tmp_path):
    identity = {"code": "c", "setting": "cls_a", "seed": 0, "run": "h"}
    for step in (1, 2, 3, 4):
        save_atomic(_state(step, identity), tmp_path / checkpoint_name("epoch", step))
    (tmp_path / ".ckpt-epoch-00000005.pt.123.tmp").write_bytes(b"half written")  # a killed write
    assert newest_checkpoint(tmp_path, identity)["step"] == 4
    with pytest.raises(BenchError, match="run: checkpoint has 'h', this job has 'other'"):
        newest_checkpoint(tmp_path, {**identity, "run": "other"})
    save_atomic(_state(5, identity), tmp_path / checkpoint_name("epoch", 5))
    prune(tmp_path, keep_steps={2}, keep_last=2)  # PointPillars keeps the last five epochs, here the last two
    assert [s for s, _ in list_checkpoints(tmp_path)] == [2, 4, 5]
    prune(tmp_path, keep_steps={2})
    assert [s for s, _ in list_checkpoints(tmp_path)] == [2, 5]


def test_prune_keeps_the_last_n_while_fewer_than_n_were_written(tmp_path):
    for step in range(1, 9):  # PointPillars: keep_last 5, a checkpoint every epoch, pruned after each
        (tmp_path / checkpoint_name("epoch", step)).touch()
        prune(tmp_path, keep_steps=set(), keep_last=5)
        assert [s for s, _ in list_checkpoints(tmp_path)] == list(range(max(1, step - 4), step + 1))


class NotATensor:
    """Any pickled object: a checkpoint must never execute or rebuild such things."""


def test_checkpoints_load_only_plain_tensors(tmp_path):
    torch.save({"format": FORMAT_VERSION, "x": NotATensor()}, tmp_path / "evil.pt")
    with pytest.raises(BenchError, match="not a plain-tensor checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")
    with pytest.raises(BenchError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pt")


def test_devices_are_checked():
    with pytest.raises(BenchError, match="mix kinds"):
        check_devices(["cpu", "meta"])
    with pytest.raises(BenchError, match="at least one device"):
        check_devices([])
    if not torch.cuda.is_available():
        with pytest.raises(BenchError, match="GPU"):
            check_devices(["cuda:0"])


def _fails_on_rank_1(env: DistEnv) -> int:
    if env.rank == 1:
        raise BenchError("rank one is unhappy")
    torch.distributed.barrier()  # would wait forever for rank 1 if the failure were not handled
    return env.rank


@pytest.mark.slow
def test_a_user_error_in_any_rank_reaches_the_caller():
    with pytest.raises(BenchError, match="rank 1: rank one is unhappy"):
        run_on_devices(_fails_on_rank_1, ["cpu", "cpu"])


def test_the_evaluation_line_shows_the_published_metrics_and_counts_the_rest():
    from bench.settings import get_setting
    from tasks.engine.loop import console_metrics

    published = get_setting("det3d").metrics
    devkit = {f"{k}{suffix}": 1.0 for k in published for suffix in ("", "_r11", "_loose")}  # 54 keys, like the devkit's many
    line = console_metrics(devkit, "det3d")
    assert line.count("=") == len(published) == 18 and line.endswith("(+36 more in the curve)")
    assert "car_3d_moderate=1.0000" in line and "_r11" not in line
    assert console_metrics({"acc": 0.5}, "cls_a") == "acc=0.5000"  # nothing published: everything is shown
