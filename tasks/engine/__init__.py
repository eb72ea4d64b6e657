"""Task-independent training machinery shared by every job (including 3D detection).

- :mod:`tasks.engine.recipe`: the common recipe sections (optimiser, schedule,
  checkpoints, runtime) as validated frozen dataclasses, and :func:`parse_section`
  for a task's own sections.
- :mod:`tasks.engine.distributed`: run one function on every device of a job
  (in-process for one device, spawned DDP ranks for several; gloo on CPU, nccl on CUDA).
- :mod:`tasks.engine.sampler`: the resumable, world-size-independent batch order.
- :mod:`tasks.engine.checkpoint`: atomic checkpoint files, newest-first resume, keep policy.
- :mod:`tasks.engine.loop`: :func:`run_training`, the loop every task plugs a
  :class:`~tasks.engine.loop.TrainTask` into.
- :mod:`tasks.engine.spec`: :func:`build_job_spec`, composed Hydra config -> ``JobSpec``.
"""
