"""The results store: open it on a URI, commit runs, read settings and runs.

Write path: :meth:`Store.commit_run` writes one immutable Arrow IPC file per
run attempt (temporary name, fsync, atomic rename), named by its key, run
identity, status and checksum. Read path: the newest snapshot's compacted
tables, plus imported settings, plus the commit files not yet compacted,
deduplicated by attempt. A file whose bytes do not match the checksum in its
name is moved to ``quarantine/`` and reported (a :class:`StoreWarning` and
``store.quarantined``); it is never read.

What the store does beyond reading and writing lives beside it as functions
of a store: :func:`bench.store.resume.resume_status`,
:func:`bench.store.compact.compact`, :func:`bench.store.verify.verify`,
:func:`bench.store.query.join_settings`, :func:`bench.store.official.import_official`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import ipc

from bench.settings import get_setting, setting_names
from bench.store import layout
from bench.store.commits import empty_tables, latest_status, split_commits
from bench.store.files import StoreWarning, VerifiedFiles  # noqa: F401 (StoreWarning: part of the API)
from bench.store.fs import StoreError, StoreFS, walk_files
from bench.store.layout import CommitName
from bench.store.record import RunRecord, StoredIdentity
from bench.store.results import VIEWS, combine, measured_results
from bench.store.schema import SCHEMA_VERSION

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


def _trainable(setting: str) -> str:
    """``setting`` if it has runs (a trainable setting), else an error naming the valid ones."""
    if not get_setting(setting).trainable:
        raise StoreError(f"setting {setting!r} is imported only and has no runs; settings with runs are "
                         f"{setting_names(trainable=True)}")
    return setting


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
        try:
            fs = StoreFS(uri, fsync=fsync)
            found = fs.exists(layout.STORE_FILE)
        except StoreError:
            raise
        except Exception as err:  # the first touch of a user's URI: any back-end's failure (no
            # credentials, no such bucket, an unknown protocol) is one line naming the URI, not a traceback
            raise StoreError(f"cannot reach the store {uri!r}: {type(err).__name__}: {err}") from err
        if found:
            info = json.loads(fs.read(layout.STORE_FILE))
            if int(info.get("schema_version", 0)) > SCHEMA_VERSION:
                raise StoreError(
                    f"store {uri!r} has schema version {info['schema_version']}, newer than this code's "
                    f"{SCHEMA_VERSION}; upgrade the project to read it"
                )
            return cls(fs)
        if not create:
            why = "the path does not exist" if fs.local and not fs.root.exists() else f"no {layout.STORE_FILE}"
            raise StoreError(f"{uri!r} is not a store ({why}); give an existing store (one that launch/run.py wrote, "
                             "or `launch/export.py import-official SRC --store URI` made)")
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
        path = layout.commit_path(record.setting, record.arch_id, record.seed, record.attempt, record.identity,
                                  record.status, layout.sha16(data))
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
            for batch in self.compacted_runs(snapshot, setting, ["arch_id", "seed", "attempt", "status"]):
                for arch_id, seed, attempt, status in zip(*(c.to_pylist() for c in batch.columns)):
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

    def pending_commits(self, snapshot: dict[str, Any], setting: str | None) -> list[CommitName]:
        """Commits (best one per attempt) whose attempt is not already in the snapshot's runs."""
        best = layout.best_commits(self.commit_names(setting))
        if not best:
            return []
        compacted = set()
        for name in sorted({n.setting for n in best.values()}):
            for batch in self.compacted_runs(snapshot, name, ["arch_id", "setting", "seed", "attempt", "status"]):
                compacted.update(zip(*(c.to_pylist() for c in batch.columns)))
        return [n for n in best.values()
                if (n.arch_id, n.setting, n.seed, n.attempt, n.status) not in compacted
                and not (n.status == "running" and any((*n.attempt_key, s) in compacted for s in ("succeeded", "failed")))]

    def compacted_runs(self, snapshot: dict[str, Any], setting: str, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        """The snapshot's compacted runs of ``setting``, only ``columns``, in batches (bounded memory)."""
        for path, sha in self.snapshot_parts(snapshot, "runs", setting):
            wanted = [c for c in columns if c != "setting"]
            for batch in self.iter_batches(path, sha, wanted):
                if "setting" in columns:
                    batch = pa.RecordBatch.from_arrays(
                        [pa.array([setting] * batch.num_rows, pa.string()) if c == "setting" else batch.column(c)
                         for c in columns], names=list(columns))
                yield batch

    # ------------------------------------------------------------------ identities and errors
    def stored_identity(self, arch_id: str, setting: str, seed: int, attempt: int, tag: str) -> StoredIdentity | None:
        """The identity (variant, data kind, recipe, dataset) a run of identity ``tag`` recorded, or None."""
        columns = ["variant", "data_kind", "config_hash", "dataset_id", "config_json"]
        for name in self.commit_names(setting, arch_id):
            if (name.seed, name.attempt, name.identity) == (seed, attempt, tag):
                commits = self.read_commits([name])["runs"]
                if commits.num_rows:
                    row = commits.select(columns).to_pylist()[0]
                    return StoredIdentity(tag, **{k: v or "" for k, v in row.items()})
        for batch in self.compacted_runs(self.snapshot(), setting, ["arch_id", "seed", "attempt", "identity", *columns]):
            for row in batch.to_pylist():
                if (row["arch_id"], row["seed"], row["attempt"], row["identity"]) == (arch_id, seed, attempt, tag):
                    return StoredIdentity(tag, **{k: row[k] or "" for k in columns})
        return None

    def error_texts(self, snapshot: dict[str, Any], attempts: dict[tuple[str, str, int], int]) -> dict:
        """The error text of the given failed attempt of each key (only those files are opened)."""
        out: dict[tuple[str, str, int], str] = {}
        by_setting: dict[str, dict[tuple[str, int, int], tuple[str, str, int]]] = {}
        for key, attempt in attempts.items():
            by_setting.setdefault(key[1], {})[(key[0], key[2], attempt)] = key
        for setting, wanted in by_setting.items():
            for arch_id, seed, attempt in wanted:
                for name in self.commit_names(setting, arch_id):
                    if (name.seed, name.attempt, name.status) == (seed, attempt, "failed"):
                        table = self.read_table(name.path, name.sha, ["error"])
                        if table is not None and len(table):
                            out[wanted[(arch_id, seed, attempt)]] = table["error"][0].as_py() or ""
            remaining = {k: v for k, v in wanted.items() if v not in out}
            if remaining:
                for batch in self.compacted_runs(snapshot, setting, ["arch_id", "seed", "attempt", "status", "error"]):
                    for arch_id, seed, attempt, status, error in zip(*(c.to_pylist() for c in batch.columns)):
                        key = remaining.get((arch_id, seed, attempt))
                        if key is not None and status == "failed":
                            out[key] = error or ""
        for key in attempts:
            out.setdefault(key, "(error text unavailable: its file was quarantined)")
        return out

    def data_kinds(self, setting: str | None = None) -> set[str]:
        """Which kinds of numbers the store holds (``real``, ``synthetic``, ``imported``), for one setting or all.

        Reads file names, the compacted runs' ``data_kind`` column and one commit file per
        distinct run identity.
        """
        kinds = {"imported"} if (set(self.imports()) if setting is None else {setting} & set(self.imports())) else set()
        names = self.commit_names(setting)
        examples = {n.identity: n for n in names if n.status != "running"}
        for name in examples.values():
            runs = self.read_commits([name])["runs"]
            kinds.update(v for v in runs["data_kind"].to_pylist() if v)
        snapshot = self.snapshot()
        for name in ([setting] if setting is not None else setting_names(trainable=True)):
            for batch in self.compacted_runs(snapshot, name, ["data_kind"]):
                kinds.update(v for v in batch.column(0).to_pylist() if v)
        return kinds

    # ------------------------------------------------------------------ long tables
    def _load_tables(self, tables: Sequence[str], setting: str | None) -> dict[str, pa.Table]:
        """Compacted parts plus pending commits, read under one snapshot that stayed current meanwhile.

        If a compaction published a new snapshot while we listed the commits, it
        may have deleted some we never saw (now in its parts): read again.
        """
        for _ in range(READ_RETRIES):
            snapshot = self.snapshot()
            pending = self.read_commits(self.pending_commits(snapshot, setting))
            out = {}
            for table in tables:
                parts = self.read_parts(self.snapshot_parts(snapshot, table, setting))
                merged = pa.concat_tables([*parts, pending[table]], promote_options="permissive") if parts else pending[table]
                if table == "runs" and len(merged):
                    merged = latest_status(merged)  # a running marker and its final record are one attempt
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
        """Every evaluation during training (step, step_unit, metric, value) of ``setting``'s runs.

        Curves of every run attempt, whatever its identity: join with :meth:`load_runs` on
        (arch_id, seed, attempt) for ``data_kind``, ``variant`` and status.
        """
        curves = self._load_long("curves", _trainable(setting))
        return curves if arch_id is None else curves.filter(pc.equal(curves["arch_id"], arch_id))

    @_retry_vanished
    def load_artifacts(self, setting: str) -> pa.Table:
        """Checkpoints and logs of ``setting``'s runs (kind, uri, size, sha256, step)."""
        return self._load_long("artifacts", _trainable(setting))

    # ------------------------------------------------------------------ the benchmark view
    @_retry_vanished
    def load_setting(self, setting: str, columns: Sequence[str] | None = None, filters: Filters = None,
                     data: str = "benchmark", variant: str = "") -> pa.Table:
        """One row per architecture of ``setting``: arch_id, code, code columns, cost, metrics, data_kind.

        ``data`` picks which numbers (:data:`bench.store.results.VIEWS`):

        - ``benchmark`` (default): this store's runs on real data (mean over seeds), and the
          published (imported) values of architectures not measured here;
        - ``real`` or ``imported``: only one of those;
        - ``synthetic``: runs on generated (toy) data, which are never benchmark numbers.

        ``variant`` selects a deliberate variant's runs (another recipe or dataset recorded with
        ``variant=NAME``); "" is the benchmark. ``filters`` are pyarrow filters (an Expression or
        DNF tuples such as ``[("top1", ">", 70)]``).

        Example:
            >>> import tempfile
            >>> Store.open(tempfile.mkdtemp()).load_setting("seg").num_rows
            0
        """
        info = get_setting(setting)
        if data not in VIEWS:
            raise StoreError(f"data={data!r} is invalid; valid are {list(VIEWS)}")
        imported = self._load_import(setting) if data in ("benchmark", "imported") and not variant else None
        measured = None
        if info.trainable and data != "imported":
            measured = self._load_measured(setting, "synthetic" if data == "synthetic" else "real", variant)
        table = combine(setting, measured, imported)
        if filters is not None:
            expression = filters if isinstance(filters, pc.Expression) else pq.filters_to_expression(filters)
            table = table.filter(expression)
        if columns is not None:
            unknown = [c for c in columns if c not in table.schema.names]
            if unknown:
                raise StoreError(f"unknown column(s) {unknown} for setting {setting!r}; columns are {table.schema.names}")
            table = table.select(list(columns))
        return table

    def _load_measured(self, setting: str, data_kind: str, variant: str) -> pa.Table | None:
        if (data_kind, variant) == ("real", ""):
            for _ in range(READ_RETRIES):
                snapshot = self.snapshot()
                if self.pending_commits(snapshot, setting):
                    break
                # Nothing pending: the compacted results part is current, read it as is (the fast path).
                parts = self.read_parts(self.snapshot_parts(snapshot, "results", setting))
                if self.snapshot()["version"] == snapshot["version"]:
                    return parts[0] if parts else None
        tables = self._load_tables(["runs", "metrics"], setting)
        return measured_results(setting, tables["runs"], tables["metrics"], data_kind, variant)

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
        for part in self.read_parts(self.snapshot_parts(self.snapshot(), "architectures")):
            codes.update(part["code"].to_pylist())
        codes.update(self._load_long("runs", None)["code"].to_pylist())
        for setting in self.imports():
            if get_setting(setting).space == "nasbench_mr":
                codes.update(self._load_import(setting)["code"].to_pylist())
        return pa.table(architecture_columns(sorted(codes)), schema=ARCHITECTURES)

    # ------------------------------------------------------------------ checkpoints and logs
    @_retry_vanished
    def find_checkpoint(self, arch_id: str, setting: str, seed: int, data_kind: str | None = None) -> str | None:
        """URI of the newest checkpoint of a succeeded run of (arch_id, setting, seed), or None.

        ``data_kind`` (``real`` or ``synthetic``) limits it to runs on that kind of data: a job on
        real data never starts from a checkpoint trained on generated data. Reads only this
        architecture's commit files, and the compacted checkpoints once per snapshot: a
        scheduler may ask for every job.
        """
        _trainable(setting)
        found: list[tuple[int, int, str]] = []  # (attempt, step, uri) of succeeded attempts
        snapshot = self.snapshot()
        for attempt, step, uri, kind in self._compacted_checkpoints(snapshot, setting).get((arch_id, seed), []):
            if data_kind is None or kind == data_kind:
                found.append((attempt, step, uri))
        names = [n for n in self.commit_names(setting, arch_id) if n.seed == seed and n.status == "succeeded"]
        tables = self.read_commits(names)
        kinds = dict(zip(tables["runs"]["attempt"].to_pylist(), tables["runs"]["data_kind"].to_pylist()))
        artifacts = tables["artifacts"]
        for row in artifacts.filter(pc.equal(artifacts["kind"], "checkpoint")).to_pylist():
            if data_kind is None or kinds.get(row["attempt"]) == data_kind:
                found.append((row["attempt"], -1 if row["step"] is None else row["step"], row["uri"]))
        return max(found)[2] if found else None

    def _compacted_checkpoints(self, snapshot: dict[str, Any], setting: str) -> dict[tuple[str, int], list]:
        tag = (snapshot["version"], setting)
        if self._checkpoints is None or self._checkpoints[0] != tag:
            succeeded = {}
            for batch in self.compacted_runs(snapshot, setting, ["arch_id", "seed", "attempt", "status", "data_kind"]):
                for arch_id, seed, attempt, status, kind in zip(*(c.to_pylist() for c in batch.columns)):
                    if status == "succeeded":
                        succeeded[(arch_id, seed, attempt)] = kind
            table: dict[tuple[str, int], list] = {}
            for part in self.read_parts(self.snapshot_parts(snapshot, "artifacts", setting),
                                        ["arch_id", "seed", "attempt", "kind", "uri", "step"]):
                for row in part.filter(pc.equal(part["kind"], "checkpoint")).to_pylist():
                    key = (row["arch_id"], row["seed"], row["attempt"])
                    if key in succeeded:
                        step = -1 if row["step"] is None else row["step"]
                        table.setdefault(key[:2], []).append((row["attempt"], step, row["uri"], succeeded[key]))
            self._checkpoints = (tag, table)
        return self._checkpoints[1]

    def log_uri(self, arch_id: str, setting: str, seed: int, attempt: int) -> str:
        """Where a job attempt's log goes (its directory exists for a local store)."""
        _trainable(setting)
        rel = layout.log_path(setting, arch_id, seed, attempt)
        self.fs.makedirs(rel.rsplit("/", 1)[0])
        return self.fs.full(rel)
