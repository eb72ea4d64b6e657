"""The engine's pieces: recipe parsing, schedules, the resumable sampler, checkpoint files, rank errors."""

from __future__ import annotations

import itertools

import pytest
import torch

from bench.errors import BenchError
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
from tasks.engine.recipe import OptimConfig, ScheduleConfig, parse_section
from tasks.engine.sampler import ResumableBatchSampler


def test_recipe_sections_name_bad_keys_and_values():
    with pytest.raises(BenchError, match=r"unknown key\(s\) \['lrr'\]"):
        parse_section(OptimConfig, {"name": "sgd", "lrr": 0.1}, "optim")
    with pytest.raises(BenchError, match="optim.lr is missing"):
        parse_section(OptimConfig, {"name": "sgd"}, "optim")
    with pytest.raises(BenchError, match="optim.lr='x' must be a number"):
        parse_section(OptimConfig, {"name": "sgd", "lr": "x"}, "optim")
    with pytest.raises(BenchError, match="schedule.unit"):
        parse_section(ScheduleConfig, {"unit": "hour", "length": 1}, "schedule")


def test_poly_and_cosine_schedules_end_where_the_paper_says():
    poly = ScheduleConfig(unit="iter", length=100, policy="poly", power=0.9, min_lr=1e-4)
    assert lr_at(0, 100, 0.1, poly) == pytest.approx(0.1)
    assert lr_at(100, 100, 0.1, poly) == pytest.approx(1e-4)
    cosine = ScheduleConfig(unit="epoch", length=10, policy="cosine")
    values = [lr_at(i, 100, 0.1, cosine) for i in range(101)]
    assert values == sorted(values, reverse=True) and values[-1] == pytest.approx(0.0)


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
    identity = {"code": "c", "setting": "cls_a", "seed": 0, "config_hash": "h"}
    for step in (1, 2, 3, 4):
        save_atomic(_state(step, identity), tmp_path / checkpoint_name("epoch", step))
    (tmp_path / ".ckpt-epoch-00000005.pt.123.tmp").write_bytes(b"half written")  # a killed write
    assert newest_checkpoint(tmp_path, identity)["step"] == 4
    with pytest.raises(BenchError, match="config_hash: checkpoint has 'h', this job has 'other'"):
        newest_checkpoint(tmp_path, {**identity, "config_hash": "other"})
    prune(tmp_path, keep_steps={2})
    assert [s for s, _ in list_checkpoints(tmp_path)] == [2, 4]


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
