"""The results store: open it on a URI, commit runs, read settings, plan resumes.

Write path: :meth:`Store.commit_run` writes one immutable Arrow IPC file per
run attempt (temporary name, fsync, atomic rename), named by its key, status
and checksum. Read path: the newest snapshot's compacted tables, plus imported
settings, plus the commit files not yet compacted, deduplicated by attempt.
A file whose bytes do not match the checksum in its name is moved to
``quarantine/`` and reported (a :class:`StoreWarning` and ``store.quarantined``);
it is never read.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import ipc

from bench.settings import get_setting, setting_names
from bench.store import layout
from bench.store.commits import empty_tables, split_commits
from bench.store.files import StoreWarning, VerifiedFiles  # noqa: F401 (StoreWarning: part of the API)
from bench.store.fs import StoreError, StoreFS, walk_files
from bench.store.layout import CommitName
from bench.store.record import RunKey, RunRecord
from bench.store.results import combine, measured_results
from bench.store.resume import ResumeStatus
from bench.store.schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from bench.store.compact import CompactionReport
    from bench.store.official import SettingImport
    from bench.store.verify import VerifyReport

Filters = pc.Expression | list | None
F = TypeVar("F", bound=Callable[..., Any])
READ_RETRIES = 3


def _retry_vanished(method: F) -> F:
    """Retry a read whose snapshot a concurrent compaction replaced (its old parts deleted)."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(READ_RETRIES):
            try:
                return method(*args, **kwargs)
            except FileNotFoundError:
                if attempt == READ_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    return wrapper  # type: ignore[return-value]


class Store(VerifiedFiles):
    """A NAS-Bench-MR results store rooted at a local directory or fsspec URI.

    Example:
        >>> import tempfile
        >>> store = Store.open(tempfile.mkdtemp())
        >>> store.settings()
        []
    """

    def __init__(self, fs: StoreFS) -> None:
        super().__init__(fs)
        # Final attempts held by compacted runs, per (snapshot version, setting): commit_run checks
        # them on every call, and they change only when a new snapshot is published.
        self._compacted_finals: tuple[tuple[int, str], dict[tuple[str, int, int], str]] | None = None
        self._checkpoints: tuple[tuple[int, str], dict[tuple[str, int], list]] | None = None

    @classmethod
    def open(cls, uri: str, create: bool = True, fsync: bool = True) -> Store:
        """Open the store at ``uri`` (creating it when ``create`` and absent).

        ``fsync=False`` skips flushing each commit to the disk: only for scratch
        stores (benchmarks), since a power cut could then lose recent commits.
        """
        fs = StoreFS(uri, fsync=fsync)
        if fs.exists(layout.STORE_FILE):
            info = json.loads(fs.read(layout.STORE_FILE))
            if int(info.get("schema_version", 0)) > SCHEMA_VERSION:
                raise StoreError(
                    f"store {uri!r} has schema version {info['schema_version']}, newer than this code's "
                    f"{SCHEMA_VERSION}; upgrade the project to read it"
                )
            return cls(fs)
        if not create:
            raise StoreError(f"{uri!r} is not a store (no {layout.STORE_FILE}); open it with create=True to make one")
        if fs.local and fs.root.is_file():
            raise StoreError(f"store path {uri!r} is a file; give a directory")
        if fs.local and fs.root.is_dir() and any(fs.root.iterdir()):
            raise StoreError(f"{uri!r} is a non-empty directory without {layout.STORE_FILE}; refusing to use it as a store")
        fs.makedirs("")
        info = {"schema_version": SCHEMA_VERSION, "created_at": datetime.now(timezone.utc).isoformat()}
        fs.write_new(layout.STORE_FILE, json.dumps(info, indent=1).encode())
        return cls(fs)

    # ------------------------------------------------------------------ commits
    def commit_names(self, setting: str | None = None, arch_id: str | None = None) -> list[CommitName]:
        """Every visible commit file, parsed (a cheap listing: no file is opened)."""
        base = layout.COMMITS if setting is None else f"{layout.COMMITS}/{setting}"
        base = base if arch_id is None else layout.commit_dir(setting, arch_id)
        return [n for p in walk_files(self.fs, base) if (n := CommitName.parse(p)) is not None]

    def commit_run(self, record: RunRecord) -> str:
        """Commit one run attempt atomically; returns the URI of the file that holds it.

        Committing an attempt that is already committed with the same status is
        a no-op returning the existing file; a different final status for the
        same attempt is refused (use the next attempt number). A ``running``
        record is a marker the attempt's final record supersedes.
        """
        if not isinstance(record, RunRecord):
            raise StoreError(f"commit_run takes a bench.store.RunRecord, got {type(record).__name__}")
        existing = self._existing_attempt(record)
        if existing is not None:
            if existing[0] == record.status or record.status == "running":
                return existing[1]
            raise StoreError(
                f"attempt {record.attempt} of {record.key} is already committed as {existing[0]!r} "
                f"({existing[1]}); commit {record.status!r} as attempt {record.attempt + 1} instead"
            )
        table = record.to_table()
        sink = pa.BufferOutputStream()
        with ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        data = sink.getvalue().to_pybytes()
        path = layout.commit_path(record.setting, record.arch_id, record.seed, record.attempt, record.status,
                                  layout.sha16(data))
        self.fs.write_new(path, data)
        return self.fs.full(path)

    def _existing_attempt(self, record: RunRecord) -> tuple[str, str] | None:
        """(status, uri) of the attempt's final record if it is committed (as a file or compacted)."""
        for name in self.commit_names(record.setting, record.arch_id):
            if (name.seed, name.attempt) == (record.seed, record.attempt) and name.status != "running":
                return name.status, self.fs.full(name.path)
        status = self._finals(record.setting).get((record.arch_id, record.seed, record.attempt))
        return None if status is None else (status, self.fs.full(layout.TABLES))

    def _finals(self, setting: str) -> dict[tuple[str, int, int], str]:
        """(arch_id, seed, attempt) -> final status of the compacted runs of ``setting`` (cached per snapshot)."""
        snapshot = self.snapshot()
        tag = (snapshot["version"], setting)
        if self._compacted_finals is None or self._compacted_finals[0] != tag:
            finals = {}
            for table in self._read_parts(self.snapshot_parts(snapshot, "runs", setting),
                                          ["arch_id", "seed", "attempt", "status"]):
                for arch_id, seed, attempt, status in zip(*(table[c].to_pylist() for c in table.column_names)):
                    if status != "running":
                        finals[(arch_id, seed, attempt)] = status
            self._compacted_finals = (tag, finals)
        return self._compacted_finals[1]

    def read_commits(self, names: Iterable[CommitName]) -> dict[str, pa.Table]:
        """The runs / metrics / curves / artifacts of commit files (damaged ones quarantined, skipped)."""
        tables = [t for n in names if (t := self.read_table(n.path, n.sha)) is not None]
        if not tables:
            return empty_tables()
        try:
            merged = pa.concat_tables(tables)  # every commit of this schema version: the fast path
        except pa.ArrowInvalid:
            merged = pa.concat_tables(tables, promote_options="permissive")
        return split_commits(merged.combine_chunks())

    def _pending(self, snapshot: dict[str, Any], setting: str | None) -> list[CommitName]:
        """Commits (best one per attempt) whose attempt is not already in the snapshot's runs."""
        best = layout.best_commits(self.commit_names(setting))
        if not best:
            return []
        compacted = set()
        for table in self._read_parts(self.snapshot_parts(snapshot, "runs", setting),
                                      ["arch_id", "setting", "seed", "attempt", "status"]):
            for row in zip(*(table[c].to_pylist() for c in ("arch_id", "setting", "seed", "attempt", "status"))):
                compacted.add(row)
        return [n for n in best.values()
                if (n.arch_id, n.setting, n.seed, n.attempt, n.status) not in compacted
                and not (n.status == "running" and any((*n.attempt_key, s) in compacted for s in ("succeeded", "failed")))]

    # ------------------------------------------------------------------ long tables
    def _load_tables(self, tables: Sequence[str], setting: str | None) -> dict[str, pa.Table]:
        """Compacted parts plus pending commits, read under one snapshot that stayed current meanwhile.

        If a compaction published a new snapshot while we listed the commits, it
        may have deleted some we never saw (now in its parts): read again.
        """
        for _ in range(READ_RETRIES):
            snapshot = self.snapshot()
            pending = self.read_commits(self._pending(snapshot, setting))
            out = {}
            for table in tables:
                parts = self._read_parts(self.snapshot_parts(snapshot, table, setting))
                merged = pa.concat_tables([*parts, pending[table]], promote_options="permissive") if parts else pending[table]
                if table == "runs" and len(merged):
                    merged = _latest_status(merged)  # a running marker and its final record are one attempt
                out[table] = merged
            if self.snapshot()["version"] == snapshot["version"]:
                return out
        raise StoreError(f"store {self.uri} kept changing under this read (compactions back to back); read again")

    def _load_long(self, table: str, setting: str | None) -> pa.Table:
        return self._load_tables([table], setting)[table]

    @_retry_vanished
    def load_runs(self, setting: str | None = None) -> pa.Table:
        """One row per run attempt (schema ``RUNS``), with its provenance; all settings by default."""
        if setting is not None:
            _trainable(setting)
        return self._load_long("runs", setting)

    @_retry_vanished
    def load_metrics(self, setting: str) -> pa.Table:
        """Final metrics of every attempt of ``setting`` in long form (arch_id, seed, attempt, metric, value)."""
        return self._load_long("metrics", _trainable(setting))

    @_retry_vanished
    def load_curves(self, setting: str, arch_id: str | None = None) -> pa.Table:
        """Every evaluation during training (step, step_unit, metric, value) of ``setting``'s runs."""
        curves = self._load_long("curves", _trainable(setting))
        return curves if arch_id is None else curves.filter(pc.equal(curves["arch_id"], arch_id))

    @_retry_vanished
    def load_artifacts(self, setting: str) -> pa.Table:
        """Checkpoints and logs of ``setting``'s runs (kind, uri, size, sha256, step)."""
        return self._load_long("artifacts", _trainable(setting))

    # ------------------------------------------------------------------ the benchmark view
    @_retry_vanished
    def load_setting(self, setting: str, columns: Sequence[str] | None = None, filters: Filters = None,
                     source: str | None = None) -> pa.Table:
        """One row per architecture of ``setting``: arch_id, code, code columns, cost, metrics, source.

        Measured rows (mean over seeds of this store's succeeded runs) win over
        imported ones for the same architecture; ``source="measured"`` or
        ``"imported"`` keeps only one kind. ``filters`` are pyarrow filters
        (an Expression or DNF tuples such as ``[("top1", ">", 70)]``).

        Example:
            >>> import tempfile
            >>> Store.open(tempfile.mkdtemp()).load_setting("seg").num_rows
            0
        """
        info = get_setting(setting)
        if source not in (None, "measured", "imported"):
            raise StoreError(f"source={source!r} is invalid; valid is None, 'measured' or 'imported'")
        imported = self._load_import(setting) if source != "measured" else None
        measured = None
        if info.trainable and source != "imported":
            measured = self._load_measured(setting)
        table = combine(setting, measured, imported, source)
        if filters is not None:
            expression = filters if isinstance(filters, pc.Expression) else pq.filters_to_expression(filters)
            table = table.filter(expression)
        if columns is not None:
            unknown = [c for c in columns if c not in table.schema.names]
            if unknown:
                raise StoreError(f"unknown column(s) {unknown} for setting {setting!r}; columns are {table.schema.names}")
            table = table.select(list(columns))
        return table

    def _load_measured(self, setting: str) -> pa.Table | None:
        for _ in range(READ_RETRIES):
            snapshot = self.snapshot()
            if self._pending(snapshot, setting):
                break
            # Nothing pending: the compacted results part is current, read it as is (the fast path).
            parts = self._read_parts(self.snapshot_parts(snapshot, "results", setting))
            if self.snapshot()["version"] == snapshot["version"]:
                return parts[0] if parts else None
        tables = self._load_tables(["runs", "metrics"], setting)
        return measured_results(setting, tables["runs"], tables["metrics"])

    def _load_import(self, setting: str) -> pa.Table | None:
        found = self.imports().get(setting)
        if found is None:
            return None
        return self.read_table(*found)

    def imports(self) -> dict[str, tuple[str, str]]:
        """Imported settings: name -> (path, sha) of the imported table."""
        out = {}
        for path in walk_files(self.fs, layout.IMPORTS):
            parsed = layout.parse_import(path)
            if parsed is not None:
                out[parsed[0]] = (path, parsed[1])
        return out

    def settings(self) -> list[str]:
        """Settings with any data in the store (imported, committed or compacted)."""
        found = set(self.imports())
        found |= set(self.fs.listdir(layout.COMMITS))  # compaction removes emptied setting directories
        found |= {p.split("setting=")[1].split("/")[0] for p in self.snapshot()["files"] if "setting=" in p}
        return [s for s in setting_names() if s in found]

    @_retry_vanished
    def load_architectures(self) -> pa.Table:
        """Every NAS-Bench-MR architecture the store knows (imported or run): id, code, 27 columns, cost."""
        from bench.store.results import architecture_columns
        from bench.store.schema import ARCHITECTURES

        codes = set()
        for part in self._read_parts(self.snapshot_parts(self.snapshot(), "architectures")):
            codes.update(part["code"].to_pylist())
        codes.update(self._load_long("runs", None)["code"].to_pylist())
        for setting in self.imports():
            if get_setting(setting).space == "nasbench_mr":
                codes.update(self._load_import(setting)["code"].to_pylist())
        return pa.table(architecture_columns(sorted(codes)), schema=ARCHITECTURES)

    @_retry_vanished
    def join(self, settings: Sequence[str], metrics: Sequence[str] | None = None, how: str = "inner") -> pa.Table:
        """Settings joined on arch_id, metrics as ``<setting>.<metric>`` (see bench.store.query)."""
        from bench.store.query import join_settings

        return join_settings(self, settings, metrics, how)

    # ------------------------------------------------------------------ maintenance
    def verify(self) -> VerifyReport:
        """Check every file against its checksum; damaged ones are quarantined (see bench.store.verify)."""
        from bench.store.verify import verify

        return verify(self)

    def compact(self) -> CompactionReport:
        """Fold pending commit files into the partitioned tables (see bench.store.compact)."""
        from bench.store.compact import compact

        return compact(self)

    def import_official(self, src_dir: str, replace: bool = False) -> list[SettingImport]:
        """Import the authors' published pickles found in ``src_dir`` (see bench.store.official)."""
        from bench.store.official import import_official

        return import_official(self, src_dir, replace)

    # ------------------------------------------------------------------ scheduling helpers
    @_retry_vanished
    def resume_status(self, keys: Sequence[RunKey], max_attempts: int = 3) -> ResumeStatus:
        """Which (arch_id, setting, seed) keys are done, failed (attempts, last error) or missing.

        Reads file names and the compacted runs' key columns only, so the
        driver's memory grows with the sweep's size, not with what runs hold.
        """
        from bench.store.resume_scan import scan_attempts

        return scan_attempts(self, keys, max_attempts)

    @_retry_vanished
    def find_checkpoint(self, arch_id: str, setting: str, seed: int) -> str | None:
        """URI of the newest checkpoint of a succeeded run of (arch_id, setting, seed), or None.

        Reads only this architecture's commit files, and the compacted
        checkpoints once per snapshot: a scheduler may ask for every job.
        """
        _trainable(setting)
        found: list[tuple[int, int, str]] = []  # (attempt, step, uri) of succeeded attempts
        snapshot = self.snapshot()
        found += self._compacted_checkpoints(snapshot, setting).get((arch_id, seed), [])
        names = [n for n in self.commit_names(setting, arch_id) if n.seed == seed and n.status == "succeeded"]
        artifacts = self.read_commits(names)["artifacts"]
        for row in artifacts.filter(pc.equal(artifacts["kind"], "checkpoint")).to_pylist():
            found.append((row["attempt"], -1 if row["step"] is None else row["step"], row["uri"]))
        return max(found)[2] if found else None

    def _compacted_checkpoints(self, snapshot: dict[str, Any], setting: str) -> dict[tuple[str, int], list]:
        tag = (snapshot["version"], setting)
        if self._checkpoints is None or self._checkpoints[0] != tag:
            succeeded = {k for k, status in self._finals(setting).items() if status == "succeeded"}
            table: dict[tuple[str, int], list] = {}
            for part in self._read_parts(self.snapshot_parts(snapshot, "artifacts", setting),
                                         ["arch_id", "seed", "attempt", "kind", "uri", "step"]):
                for row in part.filter(pc.equal(part["kind"], "checkpoint")).to_pylist():
                    if (row["arch_id"], row["seed"], row["attempt"]) in succeeded:
                        step = -1 if row["step"] is None else row["step"]
                        table.setdefault((row["arch_id"], row["seed"]), []).append((row["attempt"], step, row["uri"]))
            self._checkpoints = (tag, table)
        return self._checkpoints[1]

    def log_uri(self, arch_id: str, setting: str, seed: int, attempt: int) -> str:
        """Where a job attempt's log goes (its directory exists for a local store)."""
        _trainable(setting)
        rel = layout.log_path(setting, arch_id, seed, attempt)
        self.fs.makedirs(rel.rsplit("/", 1)[0])
        return self.fs.full(rel)


def _trainable(setting: str) -> str:
    """``setting`` if it has runs (a trainable setting), else an error naming the valid ones."""
    if not get_setting(setting).trainable:
        raise StoreError(f"setting {setting!r} is imported only and has no runs; settings with runs are "
                         f"{setting_names(trainable=True)}")
    return setting


def _latest_status(runs: pa.Table) -> pa.Table:
    """One row per attempt, the highest status rank (succeeded > failed > running)."""
    rank = pc.if_else(pc.equal(runs["status"], "succeeded"), 2, pc.if_else(pc.equal(runs["status"], "failed"), 1, 0))
    ordered = runs.append_column("_rank", rank).sort_by([("_rank", "descending")])
    keys = ["arch_id", "setting", "seed", "attempt"]
    seen, keep = set(), []
    for i, key in enumerate(zip(*(ordered[k].to_pylist() for k in keys))):
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return ordered.take(keep).drop_columns(["_rank"]).sort_by([(k, "ascending") for k in keys])
