"""Scheduler pieces that need no Ray: resources, fault kinds, progress, options."""

from __future__ import annotations

import io

import pytest
import ray.exceptions

from bench.cost import cost
from bench.errors import BenchError
from bench.faults import classify_job_exception, describe, kind_of_error_text
from bench.sched.cluster import RayConnection
from bench.sched.driver import DriverOptions
from bench.sched.faults import classify_ray_exception
from bench.sched.jobs import Resources, SweepJob
from bench.sched.progress import Progress, format_duration
from bench.space import sample_codes


def test_small_codes_share_a_gpu_only_when_asked_and_only_single_gpu_jobs():
    codes = sample_codes(200, seed=0)
    small = min(codes, key=lambda c: cost(c).flops)
    large = max(codes, key=lambda c: cost(c).flops)
    assert cost(small).gflops <= 1.0 < cost(large).gflops
    small_job, large_job = SweepJob.of(small, "cls_a", 0), SweepJob.of(large, "cls_a", 0)
    packed = Resources(gpus=1, cpus=2, small_gpu_fraction=0.25, small_max_gflops=1.0)
    assert packed.gpus_for(small_job) == 0.25 and packed.gpus_for(large_job) == 1
    assert packed.ray_options(small_job) == {"num_gpus": 0.25, "num_cpus": 2, "resources": {}}
    assert Resources(gpus=1).gpus_for(small_job) == 1  # off by default
    assert Resources(gpus=2, small_gpu_fraction=0.25).gpus_for(small_job) == 2  # DDP jobs are never packed
    assert Resources(gpus=8, cpus=4, custom={"a100": 1}).per_job() == {"CPU": 4, "GPU": 8, "a100": 1}


@pytest.mark.parametrize("kwargs", [{"gpus": -1}, {"gpus": 1.5}, {"small_gpu_fraction": 1.0},
                                    {"small_max_gflops": -1.0}])
def test_bad_resources_are_explained(kwargs):
    with pytest.raises(BenchError, match="resources"):
        Resources(**kwargs)


def test_job_exceptions_are_classified():
    def raised(err):
        try:
            raise err
        except Exception as caught:  # noqa: BLE001
            return classify_job_exception(caught)

    assert raised(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"))[0] == "gpu_oom"
    assert raised(MemoryError())[0] == "host_oom"
    assert raised(BenchError("bad root"))[0] == "bad_input"
    kind, message = raised(ValueError("boom"))
    assert kind == "job_error" and "Traceback" in message and "ValueError: boom" in message


def test_ray_errors_are_classified():
    assert classify_ray_exception(ray.exceptions.TaskCancelledError(), timed_out=True)[0] == "timeout"
    assert classify_ray_exception(ray.exceptions.TaskCancelledError(), timed_out=False)[0] == "worker_died"
    assert classify_ray_exception(ray.exceptions.WorkerCrashedError(), timed_out=False)[0] == "worker_died"
    assert classify_ray_exception(ray.exceptions.NodeDiedError("gone"), timed_out=False)[0] == "node_died"
    assert classify_ray_exception(KeyError("x"), timed_out=False)[0] == "scheduler_error"
    assert kind_of_error_text(describe("gpu_oom", "CUDA out of memory")) == "gpu_oom"
    assert kind_of_error_text("something else: entirely") is None


def test_progress_counts_eta_and_gpu_hours():
    out = io.StringIO()
    progress = Progress("seg", total=10, already_done=4, to_run=6, out=out, interval_s=3600)
    progress.started -= 100  # 100 s into the run
    progress.succeeded, progress.running = 2, 1
    progress.finished_attempt(wall_seconds=1800, num_gpus=8)
    progress.finished_attempt(wall_seconds=1800, num_gpus=8)
    assert progress.eta_seconds() == pytest.approx(200, rel=0.01)  # 4 left at 2 per 100 s
    line = progress.line()
    assert "done 6/10 (+2 now)" in line and "running 1" in line and "GPU-h 8.00" in line and "ETA 3m" in line
    progress.tick(force=True)
    progress.tick()  # within the interval: no second line
    assert out.getvalue().count("\n") == 1
    progress.failures.append(("seg/abc/seed0", "job_error: Traceback\n  ...\nValueError: boom"))
    assert "FAILED seg/abc/seed0: job_error: Traceback ... ValueError: boom" in progress.summary()
    assert [format_duration(s) for s in (None, 5, 65, 3725, 90000)] == ["?", "5s", "1m05s", "1h02m", "1d01h"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"max_consecutive_failures": 0}, "max_consecutive_failures"),
        ({"poll_s": -1.0}, r"poll_s=-1.0 is invalid; valid is seconds > 0"),  # time.sleep(-1) raised mid-sweep
        ({"poll_s": 0.0}, r"poll_s=0.0 is invalid"),  # a busy loop
        ({"dependency_wait_s": -5.0}, r"dependency_wait_s=-5.0 is out of range; valid is a finite number >= 0"),
    ],
)
def test_bad_driver_options_are_explained(kwargs, message):
    with pytest.raises(BenchError, match=message):
        DriverOptions(**kwargs)


def test_ray_connection_validation():
    with pytest.raises(BenchError, match="ray.address"):
        RayConnection(address="myhost")
    with pytest.raises(BenchError, match="declares its own resources"):
        RayConnection(address="auto", num_gpus=8)
    assert RayConnection(address="ray://head:10001").address == "ray://head:10001"


@pytest.mark.parametrize("error", [
    OSError(28, "No space left on device"),
    RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0"),  # torch.save on a full disk
    RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed"),
])
def test_every_symptom_of_a_full_disk_is_one_kind_that_stops_a_sweep(error):
    from bench.faults import ENVIRONMENT, NOT_RETRIED

    try:
        raise RuntimeError("saving the checkpoint failed") from error  # also when it is the cause of another error
    except RuntimeError as wrapped:
        kind, message = classify_job_exception(wrapped)
    assert kind == "disk_full" and kind in NOT_RETRIED and kind in ENVIRONMENT
    assert "no space left" in message


def test_a_user_error_from_a_loader_worker_is_bad_input_in_one_line():
    from bench.errors import DataError

    wrapped = DataError("Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most recent call "
                        "last):\n  File \"x.py\", line 1\nbench.errors.DataError: image '/d/a.JPEG' is empty (0 bytes)\n")
    assert classify_job_exception(wrapped) == ("bad_input", "image '/d/a.JPEG' is empty (0 bytes)")
