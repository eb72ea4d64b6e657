"""Connecting the driver to Ray: an existing cluster, a Ray Job's cluster, or an embedded local one.

``address=None`` starts a local Ray inside this process (a laptop, CI): every
Ray server listens on loopback only, no dashboard unless ``dashboard=true``,
and the driver's cores (and GPUs, if any) only. ``address="auto"`` joins the
cluster this machine is part of (a node started with ``ray start``, or a driver
submitted with ``ray job submit``, where ``RAY_ADDRESS`` is set).
``ray://host:10001`` goes through Ray Client. Joining waits at most
``connect_timeout_s`` for the cluster to answer, then says what to do. If Ray
is already initialised in this process (tests, notebooks), that connection is
used and left open.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import ray

from bench.errors import BenchError, check_number

LOOPBACK = "127.0.0.1"
_ADDRESSES = "null (start a local Ray), 'auto' (the cluster this machine belongs to), 'HOST:PORT' or 'ray://HOST:10001'"


@dataclass(frozen=True)
class RayConnection:
    """Where the sweep's jobs run (``conf/launcher/*.yaml``).

    The resource counts and ``dashboard`` apply to a local Ray only (a cluster
    declares its own): ``num_gpus`` can be set on a machine without GPUs to
    simulate them, which is what the scheduling benchmark does.
    ``connect_timeout_s`` applies to joining a cluster only.
    """

    address: str | None = None
    num_cpus: int | None = None
    num_gpus: int | None = None
    resources: Mapping[str, float] = field(default_factory=dict)
    namespace: str = "nasbench-mr"
    object_store_memory: int | None = None
    log_to_driver: bool = False  # job output already goes to per-job logs in the store
    dashboard: bool = False
    connect_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.address is not None and self.address != "auto" and ":" not in self.address:
            raise BenchError(f"ray.address={self.address!r} is invalid; valid are {_ADDRESSES}")
        if self.address is not None and (self.num_cpus is not None or self.num_gpus is not None or self.resources):
            raise BenchError(
                "ray.num_cpus/num_gpus/resources describe a local Ray; a cluster at "
                f"address={self.address!r} declares its own resources (set them on `ray start`)"
            )
        if self.address is not None and self.dashboard:
            raise BenchError(
                f"ray.dashboard=true starts the dashboard of a local Ray; the cluster at address={self.address!r} "
                "has its own (`ray start --head --dashboard-host=127.0.0.1`, see docs/cluster.md)"
            )
        check_number("ray.connect_timeout_s", self.connect_timeout_s, 1.0)


def connect(conn: RayConnection) -> bool:
    """Initialise Ray per ``conn``; True when this call started it (the caller then shuts it down).

    Example:
        >>> started = connect(RayConnection(num_cpus=2))  # doctest: +SKIP
    """
    if ray.is_initialized():
        return False
    if conn.address is None:
        with loopback_only():
            ray.init(
                address="local",  # a new Ray of our own, even if another one runs on this machine
                num_cpus=conn.num_cpus,
                num_gpus=conn.num_gpus,
                resources=dict(conn.resources) or None,
                namespace=conn.namespace,
                object_store_memory=conn.object_store_memory,
                include_dashboard=conn.dashboard,
                dashboard_host=LOOPBACK,
                log_to_driver=conn.log_to_driver,
                _node_ip_address=LOOPBACK,
            )
    else:
        _join(conn)
    return True


@contextmanager
def loopback_only() -> Iterator[None]:
    """While inside, a Ray started or joined in this process takes loopback as its node address.

    Why a Ray internal: Ray binds its servers to the node address (the GCS, raylet and worker
    gRPC servers on every interface unless that address is loopback; the agents on it), and
    on Linux it rewrites a loopback ``_node_ip_address`` (and a loopback GCS address) to the
    machine's routable one (``services.resolve_ip_for_localhost``). It keeps loopback where
    clusters are off (``ray_constants.ENABLE_RAY_CLUSTER``, Ray's default on macOS and
    Windows), which is what a single-machine run is, so the switch is off for the duration.
    After ``ray.init`` Ray reads the node address from its node, not from the switch.
    tests/sched/test_cluster_network.py fails if a Ray upgrade changes this.
    """
    from ray._private import ray_constants

    before = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before


def _join(conn: RayConnection) -> None:
    """``ray.init`` on an existing cluster, never waiting more than ``connect_timeout_s`` per step.

    Ray itself retries an unreachable GCS for minutes (20 attempts of ~40 s) with the main thread
    inside C++, where neither a timeout nor SIGTERM's Python handler can act. So: first a plain TCP
    connection to the address Ray will dial, retried until the deadline (nobody listening, a wrong
    host, a firewall); then ``ray.init`` in a helper thread the main thread waits for, bounded
    (something listens there but never answers as a GCS). Ray installs its SIGTERM handler only
    from the main thread, so SIGTERM keeps its default action and ends the driver at once, in
    either step and during the sweep (the store keeps everything committed; rerunning resumes).
    """
    host, port = _dialled_address(conn.address)
    timeout = conn.connect_timeout_s
    print(f"connecting to the Ray cluster at {conn.address} (up to {timeout:g} s, ray.connect_timeout_s)",
          file=sys.stderr, flush=True)
    if not _accepts(host, port, time.monotonic() + timeout):
        raise BenchError(
            f"no Ray cluster answers at ray.address={conn.address} ({host}:{port} refused or did not answer "
            f"within ray.connect_timeout_s={timeout:g}); start one there (`ray start --head --port={port}`), "
            "check the address, port and firewall, or run on this machine with launcher=local"
        )
    try:
        _within(timeout, lambda: ray.init(address=conn.address, namespace=conn.namespace,
                                          log_to_driver=conn.log_to_driver))
    except _Outlasted:
        raise BenchError(
            f"{host}:{port} (ray.address={conn.address}) accepts connections but did not answer as a Ray cluster "
            f"within ray.connect_timeout_s={timeout:g}; give the GCS port of `ray start --head` (6379 unless "
            "--port was given) or ray://HEAD:10001 for Ray Client, or run on this machine with launcher=local"
        ) from None
    except ConnectionError as err:
        raise BenchError(
            f"cannot join the Ray cluster at ray.address={conn.address}: {' '.join(str(err).split())}"
        ) from None


def _dialled_address(given: str) -> tuple[str, int]:
    """The (host, port) Ray will connect to for ``given``; ``auto`` resolved as Ray resolves it.

    Why a Ray internal: ``auto`` is found from RAY_ADDRESS or the files of a local ``ray start``,
    and Ray rewrites a loopback host to the machine's address; probing anything else would
    test a different address than the one Ray dials.
    """
    from ray._private.services import canonicalize_bootstrap_address

    address, shown = given, f"ray.address={given}"
    if given == "auto" and os.environ.get("RAY_ADDRESS"):  # as ray.init does: a Ray Job sets it
        address = os.environ["RAY_ADDRESS"]
        shown += f" (RAY_ADDRESS={address})"
    if address.startswith("ray://"):
        resolved = address[len("ray://"):]
    else:
        try:
            resolved = canonicalize_bootstrap_address(address)
        except (ConnectionError, ValueError) as err:
            raise BenchError(
                f"{shown} names no Ray cluster ({' '.join(str(err).split())}); start one with "
                f"`ray start --head`, set RAY_ADDRESS, or run on this machine with launcher=local"
            ) from None
    host, _, port = resolved.rpartition(":")
    if not port.isdigit() or not host:
        raise BenchError(f"{shown} is invalid; valid are {_ADDRESSES}")
    return host.strip("[]"), int(port)


def _accepts(host: str, port: int, deadline: float) -> bool:
    """Whether ``host:port`` accepts a TCP connection before ``deadline`` (retried: a head may be starting)."""
    while True:
        left = deadline - time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=max(0.1, min(2.0, left))):
                return True
        except OSError:
            if left <= 0:
                return False
        time.sleep(max(0.0, min(0.5, deadline - time.monotonic())))


class _Outlasted(Exception):
    """The call given to :func:`_within` was still running at its deadline."""


def _within(timeout_s: float, call: Callable[[], object]) -> None:
    """Run ``call`` in a daemon thread and wait at most ``timeout_s``; its exception is raised here.

    A thread left behind at the deadline stays blocked inside Ray until the process exits.
    """
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as err:  # noqa: BLE001 - handed to the main thread
            outcome.append(err)

    worker_log = logging.getLogger("ray._private.worker")
    quiet = _DropMessage("SIGTERM handler is not set")  # Ray warns that its handler is not set: that is the point
    worker_log.addFilter(quiet)
    try:
        thread = threading.Thread(target=run, name="ray-connect", daemon=True)
        thread.start()
        thread.join(timeout_s)
    finally:
        worker_log.removeFilter(quiet)
    if not outcome:
        raise _Outlasted
    if outcome[0] is not None:
        raise outcome[0]


class _DropMessage(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)
