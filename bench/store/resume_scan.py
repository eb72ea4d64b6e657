"""The scan behind :meth:`Store.resume_status`: names and key columns only.

Memory is per key of the sweep (a few small ints); metrics, curves and
configs are never loaded, and error texts are read only for failed keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pyarrow as pa

from bench.errors import BenchError
from bench.settings import check_setting
from bench.store.layout import STATUS_RANK
from bench.store.record import RunKey
from bench.store.resume import ResumeStatus

if TYPE_CHECKING:
    from bench.store.store import Store


def _check_keys(keys: Sequence[RunKey]) -> None:
    for key in keys:
        if not (isinstance(key, tuple) and len(key) == 3 and isinstance(key[0], str) and isinstance(key[2], int)):
            raise BenchError(f"sweep key {key!r} is invalid; valid is a tuple (arch_id: str, setting: str, seed: int)")


def scan_attempts(store: Store, keys: Sequence[RunKey], max_attempts: int) -> ResumeStatus:
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise BenchError(f"max_attempts={max_attempts!r} is invalid; valid is an integer >= 1")
    keys = [tuple(k) for k in keys]
    _check_keys(keys)
    # key -> {attempt: status rank}; where the last failed attempt's error lives
    attempts: dict[RunKey, dict[int, int]] = {key: {} for key in keys}
    error_at: dict[tuple[RunKey, int], tuple[str, str] | None] = {}
    snapshot = store.snapshot()
    for setting in sorted({k[1] for k in keys}):
        check_setting(setting)
        for name in store.commit_names(setting):
            key = (name.arch_id, setting, name.seed)
            seen = attempts.get(key)
            if seen is None:
                continue
            rank = STATUS_RANK[name.status]
            if rank >= seen.get(name.attempt, -1):
                seen[name.attempt] = rank
                if name.status == "failed":
                    error_at[(key, name.attempt)] = (name.path, name.sha)
        for path, sha in store.snapshot_parts(snapshot, "runs", setting):
            table = store.read_parquet(path, sha, ["arch_id", "seed", "attempt", "status"])
            if table is None:
                continue
            for arch_id, seed, attempt, status in zip(*(table[c].to_pylist() for c in table.column_names)):
                seen = attempts.get((arch_id, setting, seed))
                if seen is not None and STATUS_RANK[status] >= seen.get(attempt, -1):
                    seen[attempt] = STATUS_RANK[status]
                    if status == "failed":
                        error_at[((arch_id, setting, seed), attempt)] = None  # in the compacted runs

    status = ResumeStatus(max_attempts=max_attempts)
    for key in keys:
        seen = attempts[key]
        if seen:
            status.last_attempt[key] = max(seen)
        if STATUS_RANK["succeeded"] in seen.values():
            status.done.add(key)
            continue
        failures = [a for a, r in seen.items() if r == STATUS_RANK["failed"]]
        if failures:
            status.failed[key] = (len(failures), _error(store, snapshot, key, max(failures), error_at))
            continue
        status.missing.append(key)
        if seen:
            status.running.add(key)
    return status


def _error(store: Store, snapshot: dict, key: RunKey, attempt: int,
           error_at: dict[tuple[RunKey, int], tuple[str, str] | None]) -> str:
    where = error_at.get((key, attempt))
    if where is not None:
        table = store.read_parquet(where[0], where[1], ["error"])
        return table["error"][0].as_py() if table is not None and len(table) else "(commit file quarantined)"
    arch_id, setting, seed = key
    for path, sha in store.snapshot_parts(snapshot, "runs", setting):
        data = store.read_verified(path, sha)
        if data is None:
            continue
        hit = pq.read_table(pa.BufferReader(data), columns=["arch_id", "seed", "attempt", "error"],
                            filters=(pc.field("arch_id") == arch_id) & (pc.field("seed") == seed)
                            & (pc.field("attempt") == attempt))
        if len(hit):
            return hit["error"][0].as_py() or ""
    return ""
