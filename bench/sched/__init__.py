"""The Ray scheduler that builds the benchmark (``python launch/run.py``; docs/cluster.md).

- :mod:`bench.sched.codes`: the frozen 2,500-code list and its hash;
- :mod:`bench.sched.selection`: which codes a sweep trains (full, file, shard, range, smallest);
- :mod:`bench.sched.jobs`: one job per (architecture, setting, seed), the shared template, resources;
- :mod:`bench.sched.driver`: the bounded, completion-ordered, store-driven driver loop;
- :mod:`bench.sched.worker`: one attempt on a Ray worker (train, log, commit);
- :mod:`bench.sched.faults`: what went wrong, by kind; :mod:`bench.sched.progress`: live lines and summary;
- :mod:`bench.sched.config` / :mod:`bench.sched.sweep`: ``conf/run.yaml`` to a finished sweep;
- :mod:`bench.sched.testing_jobs`: small misbehaving jobs for tests and the scheduling benchmark.
"""
