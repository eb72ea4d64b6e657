"""Run one function on every device of a job: in-process for one device, DDP ranks for several.

``devices`` is the job's device list, e.g. ``("cuda:0", "cuda:1")`` or, for
tests on a CPU machine, ``("cpu", "cpu")`` (two gloo ranks). Ranks are spawned
processes that meet on a free port of 127.0.0.1 (nothing listens on a public
interface). Rank 0's return value comes back to the caller; a user error
(:class:`~bench.errors.BenchError`) raised in any rank is raised again here with
its message intact.
"""

from __future__ import annotations

import os
import queue as queue_module
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from bench.errors import BenchError


@dataclass(frozen=True)
class DistEnv:
    """Where this rank runs: its rank, the world size and its torch device."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def check_devices(devices: Sequence[str]) -> tuple[torch.device, ...]:
    """Parse and check the job's devices: all CPU or all distinct CUDA devices that exist."""
    if not devices:
        raise BenchError("a job needs at least one device; got an empty device list")
    parsed = []
    for name in devices:
        try:
            parsed.append(torch.device(name))
        except RuntimeError:
            raise BenchError(f"device {name!r} is not a torch device name; valid are 'cpu' or 'cuda:N'") from None
    kinds = {d.type for d in parsed}
    if len(kinds) > 1 or kinds - {"cpu", "cuda"}:
        raise BenchError(f"devices {list(devices)} mix kinds or use an unsupported one; use all 'cpu' or all 'cuda:N'")
    if kinds == {"cuda"}:
        available = torch.cuda.device_count()
        indices = [d.index if d.index is not None else 0 for d in parsed]
        if len(set(indices)) != len(indices):
            raise BenchError(f"devices {list(devices)} repeat a GPU; each rank needs its own")
        missing = [i for i in indices if i >= available]
        if missing:
            raise BenchError(f"devices {list(devices)} name GPU(s) {missing} but this machine has {available} GPU(s)")
        parsed = [torch.device("cuda", i) for i in indices]
    return tuple(parsed)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank_main(rank: int, fn: Callable[..., Any], devices: tuple[torch.device, ...], port: int, args: tuple, results: Any) -> None:
    device = devices[rank]
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # loopback only: ranks of one job share a machine
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=len(devices))
    try:
        env = DistEnv(rank=rank, world_size=len(devices), device=device)
        try:
            value = fn(env, *args)
        except BenchError as exc:
            results.put(("user_error", rank, str(exc)))
            return
        if rank == 0:
            results.put(("ok", rank, value))
    finally:
        dist.destroy_process_group()


def run_on_devices(fn: Callable[..., Any], devices: Sequence[str], args: tuple = ()) -> Any:
    """Call ``fn(env, *args)`` once per device and return rank 0's result.

    ``fn`` must be a module-level function (ranks are spawned processes).

    Example (one device runs in this process):
        >>> def where(env): return str(env.device), env.world_size
        >>> run_on_devices(where, ["cpu"])
        ('cpu', 1)
    """
    parsed = check_devices(devices)
    if len(parsed) == 1:
        return fn(DistEnv(rank=0, world_size=1, device=parsed[0]), *args)
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    context = mp.start_processes(
        _rank_main, args=(fn, parsed, _free_port(), args, results), nprocs=len(parsed), join=False, start_method="spawn"
    )
    received: list[tuple] = []
    # Drain while waiting: a large result blocks its writer until someone reads it.
    while not context.join(timeout=0.2):
        received += _drain(results)
        if any(status == "user_error" for status, _, _ in received):
            # The other ranks would wait in a collective for the failed one until gloo's timeout.
            for process in context.processes:
                if process.is_alive():
                    process.terminate()
                process.join()
            break
    received += _drain(results)
    for status, rank, payload in received:
        if status == "user_error":
            raise BenchError(f"rank {rank}: {payload}")
    for status, rank, payload in received:
        if status == "ok":
            return payload
    raise RuntimeError("rank 0 finished without returning a result")


def _drain(results: Any) -> list[tuple]:
    out = []
    while True:
        try:
            out.append(results.get_nowait())
        except queue_module.Empty:
            return out


def all_reduce_sum(tensor: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Sum ``tensor`` over ranks (in place; a no-op for one rank)."""
    if env.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()
