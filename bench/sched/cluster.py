"""Connecting the driver to Ray: an existing cluster, a Ray Job's cluster, or an embedded local one.

``address=None`` starts a local Ray inside this process (a laptop, CI): no
dashboard, and the driver's cores (and GPUs, if any) only. ``address="auto"``
joins the cluster this machine is part of (a node started with ``ray start``,
or a driver submitted with ``ray job submit``, where ``RAY_ADDRESS`` is set).
``ray://host:10001`` goes through Ray Client. If Ray is already initialised
in this process (tests, notebooks), that connection is used and left open.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import ray

from bench.errors import BenchError


@dataclass(frozen=True)
class RayConnection:
    """Where the sweep's jobs run (``conf/launcher/*.yaml``).

    The resource counts apply to a local Ray only (a cluster declares its own):
    ``num_gpus`` can be set on a machine without GPUs to simulate them, which
    is what the scheduling benchmark does.
    """

    address: str | None = None
    num_cpus: int | None = None
    num_gpus: int | None = None
    resources: Mapping[str, float] = field(default_factory=dict)
    namespace: str = "nasbench-mr"
    object_store_memory: int | None = None
    log_to_driver: bool = False  # job output already goes to per-job logs in the store

    def __post_init__(self) -> None:
        if self.address is not None and self.address != "auto" and ":" not in self.address:
            raise BenchError(
                f"launcher.address={self.address!r} is invalid; valid are null (start a local Ray), 'auto' "
                "(the cluster this machine belongs to), 'HOST:PORT' or 'ray://HOST:10001'"
            )
        if self.address is not None and (self.num_cpus is not None or self.num_gpus is not None or self.resources):
            raise BenchError(
                "launcher.num_cpus/num_gpus/resources describe a local Ray; a cluster at "
                f"address={self.address!r} declares its own resources (set them on `ray start`)"
            )


def connect(conn: RayConnection) -> bool:
    """Initialise Ray per ``conn``; True when this call started it (the caller then shuts it down)."""
    if ray.is_initialized():
        return False
    if conn.address is None:
        ray.init(
            address="local",  # a new Ray of our own, even if another one runs on this machine
            num_cpus=conn.num_cpus,
            num_gpus=conn.num_gpus,
            resources=dict(conn.resources) or None,
            namespace=conn.namespace,
            object_store_memory=conn.object_store_memory,
            include_dashboard=False,  # nothing is served on the network by a laptop run
            log_to_driver=conn.log_to_driver,
        )
    else:
        ray.init(address=conn.address, namespace=conn.namespace, log_to_driver=conn.log_to_driver)
    return True
