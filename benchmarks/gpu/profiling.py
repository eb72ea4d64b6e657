"""Where a training step's time goes (torch.profiler), and whether CUDA graphs or torch.compile pay for a small code.

``profile_step`` counts the kernels a step launches and splits the device time (CPU time on a CPU)
into the categories issue 15 asks about: BatchNorm, interpolation, concatenation and copies
(layout or dtype conversions), next to convolutions, elementwise ops and the optimizer. It also
compares the device's busy time with the step's wall time: a step much longer than its kernels
is launch-bound (the CPU cannot issue kernels fast enough), which no kernel tuning fixes.

``graphs_vs_eager`` captures the whole default step (forward, backward, SGD) in one CUDA graph
and replays it; ``compiled_rate`` runs ``torch.compile(backbone, mode="reduce-overhead")`` in a
child process with a hard time limit (compilation can take minutes). Both report their start-up
cost, and the suite turns it into a break-even number of images against a full job.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.autograd import DeviceType

from bench.nn import build_network
from benchmarks.gpu.steps import NUM_CLASSES, REPO, cls_step_fn, mode_setup, rate_of, sync, time_rounds
from tasks.engine.loop import to_channels_last

# Patterns over aten op names (each op's SELF time, so nested ops are never counted twice).
OP_CATEGORIES = {
    "convolution": r"convolution|conv2d|conv3d|cudnn_conv",
    "batch_norm": r"batch_norm",
    "interpolate": r"upsample|interpolate",
    "concatenate": r"aten::cat\b",
    "copy (layout or dtype)": r"aten::copy_|aten::_to_copy|aten::contiguous|aten::clone",
    "elementwise": r"relu|clamp_min|threshold|aten::add|aten::mul|aten::sigmoid",
    "pooling": r"pool|aten::mean",
    "matmul": r"aten::mm|aten::addmm|aten::bmm|aten::linear",
    "optimizer": r"_foreach|sgd|adam",
    "loss": r"cross_entropy|nll_loss|log_softmax|smooth_l1|binary_cross_entropy",
}
# cuDNN converts layouts inside a convolution when it picks a kernel of the other layout.
LAYOUT_KERNELS = r"nchwToNhwc|nhwcToNchw|[Tt]ranspose"


def _categorise(ops: list, time_of: Callable) -> dict[str, float]:
    totals = dict.fromkeys(OP_CATEGORIES, 0.0) | {"other": 0.0}
    for event in ops:
        name = next((cat for cat, pattern in OP_CATEGORIES.items() if re.search(pattern, event.key)), "other")
        totals[name] += time_of(event)
    return totals


def _top(events: list, time_of: Callable, steps: int, limit: int = 15) -> list[dict]:
    ranked = sorted(events, key=time_of, reverse=True)[:limit]
    return [{"name": e.key[:120], "us_per_step": time_of(e) / steps, "calls_per_step": e.count / steps} for e in ranked]


def profile_step(step: Callable[[], object], device: torch.device, warmup: int, active: int) -> tuple[dict, str]:
    """Profile ``active`` steps after ``warmup``; returns the summary and the profiler's table as text."""
    from torch.profiler import ProfilerActivity, profile

    cuda = device.type == "cuda"
    for _ in range(warmup):
        step()
    sync(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        for _ in range(active):
            step()
        sync(device)
        wall = time.perf_counter() - start
    events = prof.key_averages()
    if cuda:
        kernels = [e for e in events if e.device_type == DeviceType.CUDA and not e.key.startswith("Mem")]
        ops = [e for e in events if e.device_type == DeviceType.CPU]

        def op_time(e):  # torch < 2.4 named the device times after CUDA
            return getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0)

        def kernel_time(e):
            return getattr(e, "device_time_total", None) or getattr(e, "cuda_time_total", 0)

        busy = sum(kernel_time(e) for e in kernels)
    else:  # no device: the CPU time of each op is where the step goes
        kernels, ops = [], list(events)

        def op_time(e):
            return e.self_cpu_time_total

        kernel_time = op_time
        busy = sum(op_time(e) for e in ops)
    categories = _categorise(ops, op_time)
    total = sum(categories.values()) or 1.0
    summary = {
        "steps": active,
        "wall_ms_per_step": 1000 * wall / active,
        "busy_ms_per_step": busy / 1000 / active,  # profiler times are in microseconds
        "busy_fraction": busy / 1e6 / wall,
        "kernels_per_step": sum(e.count for e in kernels) / active if cuda else None,
        "layout_kernels_ms_per_step": sum(kernel_time(e) for e in kernels if re.search(LAYOUT_KERNELS, e.key)) / 1000 / active,
        "categories_ms_per_step": {k: v / 1000 / active for k, v in categories.items()},
        "categories_share": {k: v / total for k, v in categories.items()},
        "top_ops": _top(ops, op_time, active),
        "top_kernels": _top(kernels, kernel_time, active) if cuda else [],
        "time_base": "device (self)" if cuda else "cpu (self)",
    }
    # "cuda" in a sort key is read as "device" by newer torch, and is the only name older torch knows.
    table = events.table(sort_by="self_cuda_time_total" if cuda else "self_cpu_time_total", row_limit=40)
    return summary, table


def profile_cls(code: str, device: torch.device, batch: int, size: int, warmup: int, active: int) -> tuple[dict, str]:
    """The default step of ``code`` (what a job runs on this device) under the profiler."""
    step, meta = cls_step_fn(code, "default", device, batch, size)
    summary, table = profile_step(step, device, warmup, active)
    return {**meta, "batch": batch, "input": size, **summary}, table


def graphs_vs_eager(code: str, device: torch.device, batch: int, size: int, warmup: int, steps: int) -> dict:
    """The default step eager, and captured whole into one CUDA graph and replayed (start-up included)."""
    eager_step, meta = cls_step_fn(code, "default", device, batch, size)
    eager = rate_of(time_rounds(eager_step, device, warmup, steps), batch * max(1, steps // 2))
    precision, channels_last, _ = mode_setup("default", device)
    if precision.name == "fp16":  # a GradScaler's inf check syncs with the host: it cannot live in a graph
        return {"eager_images_per_s": eager["per_s"], "skipped": "fp16 + GradScaler cannot be captured"}
    started = time.perf_counter()
    torch.manual_seed(0)
    model = build_network(code, "cls", NUM_CLASSES).to(device)
    if channels_last:
        to_channels_last(model)
    # A constant learning rate: the engine sets it every step from Python, which a replay would not see.
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, NUM_CLASSES, (batch,), device=device)
    dtype = {"bf16": torch.bfloat16, "fp32": None}[precision.name]

    def forward_backward() -> torch.Tensor:
        # autocast's weight-cast cache must be off under capture (the cached casts would be freed memory).
        with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None, cache_enabled=False):
            loss = F.cross_entropy(model(x).float(), y)
        loss.backward()
        return loss

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm up on a side stream (cuDNN autotuning, optimizer state), as capture requires
        for _ in range(3):
            optimizer.zero_grad(set_to_none=True)
            forward_backward()
            optimizer.step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    optimizer.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        forward_backward()
        optimizer.step()
    sync(device)
    startup = time.perf_counter() - started
    replay = rate_of(time_rounds(graph.replay, device, warmup, steps), batch * max(1, steps // 2))
    return {"eager_images_per_s": eager["per_s"], "eager_spread": eager["spread"], "graph_images_per_s": replay["per_s"],
            "graph_spread": replay["spread"], "graph_startup_s": startup, "precision": meta["precision"]}


def compiled_main(code: str, device_name: str, batch: int, size: int, warmup: int, steps: int, backend: str) -> dict:
    """In a child process: the default step with the backbone under torch.compile; first-steps time and rate."""
    device = torch.device(device_name)
    started = time.perf_counter()
    step, meta = cls_step_fn(code, "default", device, batch, size, compile_backbone=backend)
    for _ in range(3):  # compilation happens in the first step; reduce-overhead records its graphs in the next ones
        step()
    sync(device)
    startup = time.perf_counter() - started
    rate = rate_of(time_rounds(step, device, warmup, steps), batch * max(1, steps // 2))
    return {"compiled_images_per_s": rate["per_s"], "compiled_spread": rate["spread"], "compile_startup_s": startup,
            "backend": backend, "precision": meta["precision"]}


def compiled_rate(code: str, device: torch.device, batch: int, size: int, warmup: int, steps: int, backend: str,
                  limit_s: float) -> dict:
    """Run :func:`compiled_main` in a child killed after ``limit_s`` (a stuck compile cannot eat the budget)."""
    args = [sys.executable, str(REPO / "benchmarks" / "gpu_suite.py"), "--compile-child",
            json.dumps([code, str(device), batch, size, warmup, steps, backend])]
    # A session of its own: on a timeout the whole group goes, inductor's compile workers included.
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                             start_new_session=True)
    try:
        out, err = child.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        return {"skipped": f"torch.compile ({backend}) did not finish within {limit_s:.0f} s (start-up counted)"}
    if child.returncode != 0:
        return {"failed": (err or out)[-1500:]}
    # Dynamo and inductor say on stderr why they fell back (graph breaks, cudagraphs skipped): kept for the reader.
    return {**json.loads(out.strip().splitlines()[-1]), "stderr_tail": err[-1500:]}


def break_even(startup_s: float, eager_rate: float, fast_rate: float, job_images: int) -> dict:
    """Images after which a start-up cost is paid back, and whether a full job reaches that."""
    saved = 1 / eager_rate - 1 / fast_rate  # seconds saved per image
    if saved <= 0:
        return {"break_even_images": None, "wins_over_full_job": False, "full_job_images": job_images}
    images = startup_s / saved
    return {"break_even_images": images, "wins_over_full_job": images < job_images, "full_job_images": job_images,
            "full_job_saving_s": job_images * saved - startup_s}
