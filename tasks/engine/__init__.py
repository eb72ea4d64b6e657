"""Task-independent training machinery shared by every task (3D detection included).

- :mod:`tasks.engine.loop`: :func:`run_training`, the one loop every task plugs a
  :class:`~tasks.engine.loop.TrainTask` into (schedule, precision, DDP, evaluation, checkpoints, resume).
- :mod:`tasks.engine.job`: :func:`run_job`, a ``JobSpec`` -> the ranks that train it.
- :mod:`tasks.engine.distributed`: run one function on every device of a job
  (in-process for one device, spawned DDP ranks for several; gloo on CPU, nccl on CUDA).
- :mod:`tasks.engine.sampler`: the resumable, world-size-independent batch order.
- :mod:`tasks.engine.checkpoint`: atomic checkpoint files, newest-first resume, keep policy.
- :mod:`tasks.engine.optim`, :mod:`tasks.engine.precision`: optimiser and learning-rate rule;
  the arithmetic a job trains in (``precision=auto``).

The recipe sections they read are the core's (:mod:`bench.recipe`).
"""
