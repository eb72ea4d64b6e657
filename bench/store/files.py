"""Checked reads of the store's immutable files, quarantine, and the compaction snapshot.

Every data file's name carries the first 16 hex digits of the sha256 of its
bytes. A reader checks the bytes against the name before parsing them; a file
that fails the check, or does not parse, is moved to ``quarantine/`` with a
note saying why, reported (a :class:`StoreWarning` and ``quarantined``), and
never read.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import ipc

from bench.store import layout
from bench.store.fs import StoreError, StoreFS, walk_files
from bench.store.schema import SCHEMA_VERSION, file_version


class StoreWarning(UserWarning):
    """Something in the store needs a person's attention (a quarantined file)."""


class VerifiedFiles:
    """The store's files, read only after their checksum is verified."""

    def __init__(self, fs: StoreFS) -> None:
        self.fs = fs
        self.quarantined: list[str] = []

    @property
    def uri(self) -> str:
        return self.fs.uri

    def read_verified(self, rel: str, sha: str) -> bytes | None:
        """The file's bytes if their checksum matches ``sha``; else quarantine it and return None."""
        data = self.fs.read(rel)
        if layout.sha16(data) != sha:
            self.quarantine(rel, f"sha256 prefix {layout.sha16(data)} does not match {sha} in its name")
            return None
        return data

    def iter_batches(self, rel: str, sha: str, columns: Sequence[str], batch_size: int = 8192) -> Iterable[pa.RecordBatch]:
        """A verified Parquet file's columns in batches (bounded memory for big parts)."""
        data = self.read_verified(rel, sha)
        if data is None:
            return
        try:
            reader = pq.ParquetFile(pa.BufferReader(data))
        except (pa.ArrowInvalid, OSError) as err:
            self.quarantine(rel, f"not a readable Parquet file: {err}")
            return
        yield from reader.iter_batches(batch_size=batch_size, columns=list(columns))

    def read_table(self, rel: str, sha: str, columns: Sequence[str] | None = None) -> pa.Table | None:
        """A verified Parquet (``.parquet``) or Arrow IPC (``.arrow``) file; None if it was quarantined."""
        data = self.read_verified(rel, sha)
        if data is None:
            return None
        kind = "Arrow IPC" if rel.endswith(".arrow") else "Parquet"
        try:
            if kind == "Parquet":
                file = pq.ParquetFile(pa.BufferReader(data))
                table, schema = file.read(columns=columns), file.schema_arrow
            else:
                table = ipc.open_file(pa.BufferReader(data)).read_all()
                schema = table.schema
                table = table if columns is None else table.select(list(columns))
        except (pa.ArrowInvalid, OSError) as err:
            self.quarantine(rel, f"not a readable {kind} file: {err}")
            return None
        version = file_version(schema.metadata)
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError(f"{self.fs.full(rel)} has schema version {version}; this code reads up to {SCHEMA_VERSION}")
        return table

    def quarantine(self, rel: str, reason: str) -> None:
        """Move a damaged file out of every reader's way, with a note saying why."""
        dest = f"{layout.QUARANTINE}/{rel}"
        try:
            self.fs.move(rel, dest)
        except FileNotFoundError:
            return  # another reader quarantined it first
        note = {"file": rel, "reason": reason, "at": datetime.now(timezone.utc).isoformat()}
        self.fs.write_atomic(dest + ".reason.json", json.dumps(note, indent=1).encode())
        self.quarantined.append(rel)
        warnings.warn(f"store {self.uri}: quarantined {rel}: {reason}", StoreWarning, stacklevel=3)

    # ------------------------------------------------------------------ snapshot
    def snapshot(self) -> dict[str, Any]:
        """The newest valid compaction snapshot: ``{"version": n, "files": [paths]}`` (empty before any)."""
        names = [(parsed, path) for path in walk_files(self.fs, layout.SNAPSHOTS)
                 if (parsed := layout.parse_snapshot(path)) is not None]
        for (version, sha), path in sorted(names, reverse=True):
            data = self.read_verified(path, sha)
            if data is not None:
                return json.loads(data)
        return {"version": 0, "files": []}

    @staticmethod
    def snapshot_parts(snapshot: dict[str, Any], table: str, setting: str | None = None) -> list[tuple[str, str]]:
        """(path, sha) of a compacted table's parts in ``snapshot``, optionally one setting's partition."""
        prefix = f"{layout.TABLES}/{table}/" + (f"setting={setting}/" if setting else "")
        return [(p, p.rsplit("part-", 1)[1][:16]) for p in snapshot["files"] if p.startswith(prefix)]

    def read_parts(self, parts: list[tuple[str, str]], columns: Sequence[str] | None = None) -> list[pa.Table]:
        """Verified compacted parts; the ``setting`` partition value (kept in the path only, so that
        pandas, pyarrow.dataset and DuckDB read a table directory as a hive-partitioned dataset)
        comes back as a column where the part has none."""
        out = []
        for path, sha in parts:
            wanted = None if columns is None else [c for c in columns if c != "setting"]
            table = self.read_table(path, sha, wanted)
            if table is None:
                continue
            keyed = path.split("/")[1] in layout.KEYED_TABLES
            if keyed and "setting=" in path and "setting" not in table.schema.names and (columns is None or "setting" in columns):
                value = path.split("setting=", 1)[1].split("/", 1)[0]
                position = 1 if table.schema.names[:1] == ["arch_id"] else 0
                table = table.add_column(position, pa.field("setting", pa.string(), nullable=False),
                                         pa.array([value] * table.num_rows, pa.string()))
            if columns is not None:
                table = table.select(list(columns))
            out.append(table)
        return out
