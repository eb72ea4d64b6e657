"""Training jobs: one module per task behind one interface (:mod:`tasks.api`).

- ``tasks.api.JOBS[setting](spec) -> JobResult``: every setting's job (registered by :mod:`tasks.jobs`);
- :func:`build_job_spec`: a composed Hydra config (``conf/train.yaml``) -> :class:`~tasks.api.JobSpec`;
- :mod:`tasks.engine`: the task-independent loop, checkpoints, DDP and seeding that every job uses.
"""

import tasks.jobs  # noqa: F401  (registers the jobs)
from tasks.api import JOBS, JobResult, JobSpec
from tasks.engine.spec import build_job_spec

__all__ = ["JOBS", "JobResult", "JobSpec", "build_job_spec"]
