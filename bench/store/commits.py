"""Commit files (one nested row per run attempt) flattened into the store's long tables."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from bench.store.schema import ARTIFACTS, COMMIT, CURVES, METRICS_TABLE, RUN_KEY_COLUMNS, RUNS

NESTED = {"metrics": METRICS_TABLE, "curves": CURVES, "artifacts": ARTIFACTS}
_LIST_COLUMN = {"metrics": "metrics", "curves": "curve", "artifacts": "artifacts"}


def split_commits(commits: pa.Table) -> dict[str, pa.Table]:
    """runs / metrics / curves / artifacts tables from commit rows (schema ``COMMIT``)."""
    commits = commits.cast(COMMIT)
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
