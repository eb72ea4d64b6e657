"""One sweep from start to end: connect, select, plan from the store, drive, export, summarise."""

from __future__ import annotations

import sys
from typing import TextIO

import ray

from bench.errors import BenchError
from bench.guard import refuse_mixing
from bench.job import RunIdentity
from bench.sched.cluster import connect
from bench.sched.config import SweepRun
from bench.sched.driver import Driver, plan_attempts
from bench.sched.jobs import SweepJob
from bench.sched.progress import Progress
from bench.sched.published import codes_from_store
from bench.sched.selection import Selection, select_codes
from bench.settings import get_setting
from bench.store import Store, resume_status
from bench.store.compact import compact
from bench.store.export import export_benchmark
from bench.store.fs import StoreFS
from bench.store.layout import STORE_FILE


def failed_jobs(store: Store, setting: str, seeds: tuple[int, ...], identity: RunIdentity) -> list[SweepJob]:
    """Jobs of ``setting`` whose runs of ``identity`` in the store all failed (none succeeded), in store order."""
    runs = store.load_runs(setting).select(["arch_id", "code", "seed", "status", "identity"]).to_pylist()
    runs = [r for r in runs if r["identity"] == identity.tag]
    succeeded = {(r["arch_id"], r["seed"]) for r in runs if r["status"] == "succeeded"}
    jobs: dict[tuple[str, int], SweepJob] = {}
    for row in runs:
        key = (row["arch_id"], row["seed"])
        if row["status"] == "failed" and key not in succeeded and row["seed"] in seeds and key not in jobs:
            jobs[key] = SweepJob(row["code"], row["arch_id"], setting, row["seed"])
    return list(jobs.values())


def existing_store(uri: str) -> Store | None:
    """The store at ``uri`` if there is one; None, creating nothing, if not."""
    if not StoreFS(uri).exists(STORE_FILE):
        return None
    return Store.open(uri, create=False)


def no_import_store(uri: str) -> BenchError:
    """The error of ``sweep.source=imported`` on a store that does not exist."""
    return BenchError(
        f"sweep.source=imported reads the published codes from store {uri}, which does not exist; import the pickles "
        f"first (python launch/export.py import-official DIR --store {uri}) or use sweep.source=published "
        "(the shipped list)"
    )


def open_store(run: SweepRun) -> Store:
    """The sweep's store, created if absent, except for ``sweep.source=imported``: its codes must already be there."""
    if run.selection.source == "imported":
        store = existing_store(run.template.store_uri)
        if store is None:
            raise no_import_store(run.template.store_uri)
        return store
    return Store.open(run.template.store_uri)


def select_jobs(selection: Selection, setting: str, seeds: tuple[int, ...], store: Store,
                identity: RunIdentity) -> list[SweepJob]:
    """The (architecture, seed) jobs ``selection`` names; ``retry_failed`` and ``imported`` read ``store``."""
    if selection.source == "retry_failed":
        return failed_jobs(store, setting, seeds, identity)
    codes = select_codes(selection, codes_from_store(store, setting) if selection.source == "imported" else None)
    return [SweepJob.of(code, setting, seed) for code in codes for seed in seeds]


def sweep_jobs(run: SweepRun, store: Store) -> list[SweepJob]:
    """The (architecture, seed) jobs the run's selection names."""
    return select_jobs(run.selection, run.setting, run.seeds, store, run.template.experiment.identity)


def metric_line(store: Store, setting: str, data: str, variant: str) -> str | None:
    """``'[seg] mIoU over 2500 architectures: mean 61.2, min 40.1, max 70.3'`` for the sweep's measured rows."""
    main = get_setting(setting).main_metric
    table = store.load_setting(setting, data=data, variant=variant)
    if not table.num_rows or main not in table.column_names:
        return None
    values = [v for v in table[main].to_pylist() if v is not None]
    if not values:
        return None
    kind = " (SYNTHETIC data: not benchmark numbers)" if data == "synthetic" else ""
    return (
        f"[{setting}] {main} over {len(values)} architectures{kind}: mean {sum(values) / len(values):.2f}, "
        f"min {min(values):.2f}, max {max(values):.2f}"
    )


def export(store: Store, setting: str, out: str | None, data: str, log: TextIO) -> None:
    """Compact the store, then export every setting in it (Parquet + one MANIFEST.json), incomplete ones flagged.

    All settings, not only the one just swept: the manifest describes the whole directory,
    so exporting one setting alone would drop the others from it. A sweep on generated data
    exports the synthetic view (every row and the manifest say so).
    """
    if out is None:
        if not store.fs.local:
            print(f"export skipped: the store {store.uri} is not local; set export.out=DIR", file=log, flush=True)
            return
        out = f"{store.uri.rstrip('/')}/export"
    compact(store)  # one partitioned file per table instead of a file per attempt: fast loads from now on
    result = export_benchmark(store, out, allow_incomplete=True, data=data)
    for name, entry in result.manifest["settings"].items():
        state = (
            "complete"
            if entry.get("complete")
            else (f"INCOMPLETE: {entry.get('n_failed', '?')} failed, {entry.get('n_running', '?')} unfinished")
        )
        marker = " <- this sweep" if name == setting else ""
        print(f"exported {name} to {out}: {entry.get('rows', 0)} rows, {state}{marker}", file=log, flush=True)


def execute(run: SweepRun, out: TextIO = sys.stdout) -> Progress:
    """Run ``run`` to the end and return its counts; the store says what is left to do.

    A keyboard interrupt stops submitting, lets Ray kill the attempts in flight
    (their checkpoints stay in their work dirs) and leaves the store consistent:
    the same command resumes.
    """
    started_ray = False
    try:
        store = open_store(run)
        jobs = sweep_jobs(run, store)
        if not jobs:
            what = "failed jobs to retry" if run.selection.source == "retry_failed" else "jobs"
            raise BenchError(f"sweep {run.selection.name!r} selects no {what} for {run.setting} in store {store.uri}")
        experiment = run.template.experiment
        status = resume_status(store, [j.key for j in jobs], experiment.identity, run.options.max_attempts)
        refuse_mixing(store, experiment, status, run.allow_synthetic)
        attempts, done, spent = plan_attempts(status, jobs, run.options)
        print(
            f"[{run.setting}] sweep {run.selection.name}: {len(jobs)} jobs, {done} done, {len(attempts)} to run, "
            f"{len(spent)} failed with no attempts left (sweep=retry_failed reruns them); store {store.uri}",
            file=out,
            flush=True,
        )
        if run.selection.source == "retry_failed":
            for attempt in attempts:
                last = (attempt.last_error or "").strip().splitlines()
                print(
                    f"  retrying {attempt.job.label()} (attempt {attempt.number}); last error: "
                    f"{last[0] if last else '?'}{' ... ' + last[-1] if len(last) > 1 else ''}",
                    file=out,
                    flush=True,
                )
        if attempts:  # Ray only when there is work: a finished sweep's rerun returns at once
            started_ray = connect(run.connection)
        progress = Progress(run.setting, len(jobs), done, len(attempts), out=out, interval_s=run.progress_interval_s)
        for job, error in spent:
            progress.failures.append((job.label(), error))
        if attempts:
            Driver(store, run.template, run.resources, run.options, progress).run(attempts)
    finally:
        if started_ray:
            ray.shutdown()
    print(progress.summary(), file=out, flush=True)
    experiment = run.template.experiment
    data = "synthetic" if experiment.data.synthetic else "real"
    line = metric_line(store, run.setting, data, experiment.variant)
    if line:
        print(line, file=out, flush=True)
    if run.export_at_end:
        export(store, run.setting, run.export_out, "synthetic" if experiment.data.synthetic else "benchmark", out)
    return progress
