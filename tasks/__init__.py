"""Training jobs: one module per task behind one interface (:mod:`tasks.api`).

- ``tasks.JOBS[setting](spec) -> JobResult``: every setting's job (registered by :mod:`tasks.jobs`);
- :func:`build_job_spec`: a composed Hydra config (``conf/train.yaml``) -> :class:`~tasks.api.JobSpec`;
- :mod:`tasks.engine`: the task-independent loop, checkpoints, DDP and seeding that every job uses.

Attributes load lazily: ``import tasks.api`` (the store and the scheduler's driver do) must not
pull in torch and every training job, which costs seconds and hundreds of MB per process.
"""

from typing import Any

__all__ = ["JOBS", "JobResult", "JobSpec", "build_job_spec"]


def __getattr__(name: str) -> Any:
    if name == "JOBS":
        import tasks.jobs  # noqa: F401  (registers the jobs)
        from tasks.api import JOBS

        return JOBS
    if name in ("JobResult", "JobSpec"):
        import tasks.api

        return getattr(tasks.api, name)
    if name == "build_job_spec":
        from tasks.engine.spec import build_job_spec

        return build_job_spec
    raise AttributeError(f"module 'tasks' has no attribute {name!r}")
