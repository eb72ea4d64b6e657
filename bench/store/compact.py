"""Compaction: fold the small commit files into partitioned Parquet tables and a new snapshot.

Steps, each safe to be interrupted:

1. read the newest snapshot and list the commit files (the input);
2. for every setting with new commits, rewrite its partition of ``runs``,
   ``metrics``, ``curves``, ``artifacts`` and the ``results`` view as new
   content-addressed parts (old parts are untouched);
3. publish ``snapshots/<n+1>.<sha>.json`` with create-if-absent; if another
   compactor got there first, stop (nothing is lost: its snapshot holds
   everything it read, and our inputs are still on disk);
4. delete the absorbed commit files and the parts no longer referenced.

A crash after 3 leaves commit files that the snapshot already holds: readers
deduplicate by attempt, and the next compaction deletes them. A crash before 3
leaves unreferenced parts, deleted by the next compaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq

from bench.store import layout
from bench.store.commits import latest_status
from bench.store.fs import StoreError, walk_files
from bench.store.results import architecture_columns, measured_results
from bench.store.schema import ARCHITECTURES, RUN_KEY_COLUMNS
from bench.store.store import Store

STALE_TMP_S = 3600.0


@dataclass
class CompactionReport:
    """What a compaction did: the new snapshot version, rows per table, files removed."""

    version: int
    settings: list[str]
    rows: dict[str, int]
    commits_absorbed: int
    parts_removed: int

    def describe(self) -> str:
        if not self.settings:
            return f"nothing to compact (snapshot {self.version})"
        return (f"snapshot {self.version}: absorbed {self.commits_absorbed} commit files into "
                f"{', '.join(self.settings)}; rows {self.rows}; {self.parts_removed} old parts removed")


class CompactionRaced(StoreError):
    """Another compaction published a snapshot while this one was working; nothing was lost."""


def _write_part(store: Store, table: pa.Table, name: str, setting: str | None) -> str:
    if setting is not None and name in layout.KEYED_TABLES and "setting" in table.schema.names:
        # The partition value lives in the path only: readers of a hive-partitioned directory
        # (pandas, pyarrow.dataset, DuckDB) refuse a column that is also a partition key.
        table = table.drop_columns(["setting"])
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    data = sink.getvalue().to_pybytes()
    path = layout.table_part(name, setting, layout.sha16(data))
    store.fs.write_new(path, data)
    return path


def _without_attempts(table: pa.Table, keys: set[tuple]) -> pa.Table:
    if not keys or not len(table):
        return table
    mask = [k not in keys for k in zip(*(table[c].to_pylist() for c in RUN_KEY_COLUMNS))]
    return table.filter(pa.array(mask, pa.bool_()))


def compact(store: Store) -> CompactionReport:
    """Merge every pending commit into the compacted tables; returns what was done.

    A concurrent compaction that publishes first makes this one start over on the new
    snapshot (once); losing twice is reported as :class:`CompactionRaced`, never as a
    missing file.
    """
    for attempt in range(2):
        start = store.snapshot()["version"]
        try:
            return _compact_once(store)
        except (FileNotFoundError, CompactionRaced):
            latest = store.snapshot()["version"]
            if latest == start and attempt == 0:
                raise  # not a race: a file vanished for another reason
            if attempt == 1:
                raise CompactionRaced(
                    f"another compaction published snapshot {latest} first (twice); nothing was lost: "
                    f"run compact again once the other one is done") from None
    raise AssertionError("unreachable")


def _complete_claims(store: Store) -> None:
    """Publish a snapshot whose version was claimed by a compaction that died before publishing it.

    The claim holds the whole snapshot (its parts were written before it), so publishing it is
    finishing that compaction's work; until then readers simply see the previous snapshot.
    """
    names = walk_files(store.fs, layout.SNAPSHOTS)
    published = {parsed[0] for p in names if (parsed := layout.parse_snapshot(p)) is not None}
    for path in names:
        if path.endswith(".claim") and int(path.rsplit("/", 1)[1].split(".")[0]) not in published:
            body = store.fs.read(path)
            store.fs.write_new(layout.snapshot_path(json.loads(body)["version"], layout.sha16(body)), body)


def _compact_once(store: Store) -> CompactionReport:
    _complete_claims(store)
    snapshot = store.snapshot()
    listed = store.commit_names()
    pending = store.pending_commits(snapshot, None)
    if not pending:
        _remove_leftovers(store, snapshot, [], listed)
        return CompactionReport(snapshot["version"], [], {}, 0, 0)
    touched = sorted({n.setting for n in pending})
    files = [f for f in snapshot["files"]
             if not any(f"/setting={s}/" in f for s in touched) and not f.startswith(f"{layout.TABLES}/architectures/")]
    rows: dict[str, int] = {}
    codes: set[str] = set()
    for setting in touched:
        new = store.read_commits([n for n in pending if n.setting == setting])
        replaced = set(zip(*(new["runs"][c].to_pylist() for c in RUN_KEY_COLUMNS)))
        merged = {}
        for table in layout.KEYED_TABLES:
            old = [_without_attempts(t, replaced) for t in store.read_parts(store.snapshot_parts(snapshot, table, setting))]
            merged[table] = pa.concat_tables([*old, new[table]], promote_options="permissive")
        merged["runs"] = latest_status(merged["runs"])
        merged["results"] = measured_results(setting, merged["runs"], merged["metrics"])
        for table, content in merged.items():
            files.append(_write_part(store, content, table, setting))
            rows[table] = rows.get(table, 0) + content.num_rows
        codes.update(merged["runs"]["code"].to_pylist())
    for part in store.read_parts(store.snapshot_parts(snapshot, "architectures")):
        codes.update(part["code"].to_pylist())
    architectures = pa.table(architecture_columns(sorted(codes)), schema=ARCHITECTURES)
    files.append(_write_part(store, architectures, "architectures", None))
    version = snapshot["version"] + 1
    body = json.dumps({"version": version, "created_at": datetime.now(timezone.utc).isoformat(),
                       "files": sorted(files)}, indent=1).encode()
    # Claim the version with a create-if-absent of a name that does not depend on the content: two
    # compactions must never both publish a snapshot n+1 (each would then delete commits only its own holds).
    if not store.fs.write_new(layout.snapshot_claim_path(version), body):
        raise CompactionRaced(f"another compaction published snapshot {version} first; run compact again (nothing was lost)")
    store.fs.write_new(layout.snapshot_path(version, layout.sha16(body)), body)
    new_snapshot = json.loads(body)
    removed = _remove_leftovers(store, new_snapshot, snapshot["files"], listed)
    absorbed = sum(1 for n in listed if n.setting in touched)
    return CompactionReport(version, touched, rows, absorbed, removed)


def _remove_leftovers(store: Store, snapshot: dict, superseded: list[str], listed: list) -> int:
    """Delete commit files the snapshot holds, the parts it superseded, and stale leftovers.

    Unreferenced parts that no snapshot superseded may belong to a compaction
    still in progress elsewhere, so they go only once they are stale.
    """
    held = set()
    for setting in {n.setting for n in listed}:
        for batch in store.compacted_runs(snapshot, setting, ["arch_id", "setting", "seed", "attempt", "status"]):
            held |= set(zip(*(c.to_pylist() for c in batch.columns)))
    for name in listed:
        final_held = any((*name.attempt_key, s) in held for s in ("succeeded", "failed"))
        if (*name.attempt_key, name.status) in held or final_held:
            store.fs.remove(name.path)
    referenced = set(snapshot["files"])
    removed = 0
    for path in walk_files(store.fs, layout.TABLES):
        if path not in referenced and (path in superseded or store.fs.age_s(path) > STALE_TMP_S):
            store.fs.remove(path)
            removed += 1
    for directory in (layout.COMMITS, layout.TABLES, layout.IMPORTS, layout.SNAPSHOTS):
        store.fs.remove_stale_tmp(directory, STALE_TMP_S)
    store.fs.remove_empty_dirs(layout.COMMITS)
    return removed
