"""Commit files (one nested row per run attempt) flattened into the store's long tables."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from bench.store.layout import LEGACY_IDENTITY, STATUS_RANK
from bench.store.schema import ARTIFACTS, COMMIT, CURVES, METRICS_TABLE, RUN_KEY_COLUMNS, RUNS

NESTED = {"metrics": METRICS_TABLE, "curves": CURVES, "artifacts": ARTIFACTS}
_LIST_COLUMN = {"metrics": "metrics", "curves": "curve", "artifacts": "artifacts"}


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns: missing ones filled (schema-1 files), extra ones dropped.

    Schema 1 had ``dataset_hash`` where 2 has ``dataset_id``, and no run identity: such runs
    get the identity ``legacy`` and the data kind their job recorded (``synthetic_data``).
    """
    names = table.schema.names
    n = table.num_rows
    columns = []
    for f in schema:
        if f.name in names:
            columns.append(table[f.name].cast(f.type))
        elif f.name == "dataset_id" and "dataset_hash" in names:
            columns.append(table["dataset_hash"].cast(f.type))
        elif f.name == "variant":
            columns.append(pa.array([""] * n, f.type))
        elif f.name == "identity":
            columns.append(pa.array([LEGACY_IDENTITY] * n, f.type))
        elif f.name == "data_kind" and "info_json" in names:
            columns.append(pa.array([_legacy_kind(text) for text in table["info_json"].to_pylist()], f.type))
        else:
            columns.append(pa.nulls(n, f.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _legacy_kind(info_json: str | None) -> str:
    try:
        return "synthetic" if json.loads(info_json or "{}").get("synthetic_data") else "real"
    except ValueError:
        return "real"


def split_commits(commits: pa.Table) -> dict[str, pa.Table]:
    """runs / metrics / curves / artifacts tables from commit rows (schema ``COMMIT``)."""
    if commits.schema.names != COMMIT.names or commits.schema.metadata != COMMIT.metadata:
        commits = conform(commits, COMMIT)
    out = {"runs": commits.select(RUNS.names).cast(RUNS)}
    for table, schema in NESTED.items():
        lists = commits[_LIST_COLUMN[table]].combine_chunks()
        parents = pc.list_parent_indices(lists)
        flat = pc.list_flatten(lists)
        keys = commits.select(list(RUN_KEY_COLUMNS)).take(parents)
        columns = [keys[name] for name in RUN_KEY_COLUMNS] + [flat.field(f.name) for f in flat.type]
        out[table] = pa.table(columns, schema=schema)
    return out


def empty_tables() -> dict[str, pa.Table]:
    """Zero-row runs / metrics / curves / artifacts tables with their schemas."""
    return {"runs": RUNS.empty_table(), **{t: s.empty_table() for t, s in NESTED.items()}}


def latest_status(runs: pa.Table) -> pa.Table:
    """One row per attempt, the highest status rank (succeeded > failed > running)."""
    rank = pc.if_else(pc.equal(runs["status"], "succeeded"), STATUS_RANK["succeeded"],
                      pc.if_else(pc.equal(runs["status"], "failed"), STATUS_RANK["failed"], STATUS_RANK["running"]))
    ordered = runs.append_column("_rank", rank).sort_by([("_rank", "descending")])
    seen, keep = set(), []
    for i, key in enumerate(zip(*(ordered[k].to_pylist() for k in RUN_KEY_COLUMNS))):
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return ordered.take(keep).drop_columns(["_rank"]).sort_by([(k, "ascending") for k in RUN_KEY_COLUMNS])
