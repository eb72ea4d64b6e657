"""The scan behind :meth:`Store.resume_status`: file names and key columns only.

Per key of the sweep the scan keeps one small int: bit ``3 * (attempt - 1) +
rank`` is set when that attempt was seen with that status rank (running 0,
failed 1, succeeded 2). Metrics, curves and configs are never loaded, commit
files are listed lazily, compacted runs are read in batches, and error texts
are read only for the failed keys. So the driver's memory is bounded by the
sweep's size, however many runs have finished.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bench.errors import BenchError, check_int
from bench.settings import get_setting
from bench.store import layout
from bench.store.fs import iter_files
from bench.store.layout import STATUS_RANK, CommitName
from bench.store.record import RunKey
from bench.store.resume import ResumeStatus

if TYPE_CHECKING:
    from bench.store.store import Store

SUCCEEDED, FAILED = STATUS_RANK["succeeded"], STATUS_RANK["failed"]
FEW_ARCHS = 64


def _check_keys(keys: Sequence[RunKey]) -> None:
    for key in keys:
        if not (isinstance(key, tuple) and len(key) == 3 and isinstance(key[0], str) and isinstance(key[1], str)
                and isinstance(key[2], int)):
            raise BenchError(f"sweep key {key!r} is invalid; valid is a tuple (arch_id: str, setting: str, seed: int)")


def _attempt_ranks(bits: int) -> dict[int, int]:
    """attempt -> best status rank seen, from a key's bit set."""
    ranks: dict[int, int] = {}
    position = 0
    while bits:
        if bits & 1:
            attempt, rank = position // 3 + 1, position % 3
            ranks[attempt] = max(rank, ranks.get(attempt, -1))
        bits >>= 1
        position += 1
    return ranks


def scan_attempts(store: Store, keys: Sequence[RunKey], max_attempts: int) -> ResumeStatus:
    """Classify every key of the sweep (the body of :meth:`Store.resume_status`)."""
    check_int("max_attempts", max_attempts, 1)
    keys = [k if isinstance(k, tuple) else tuple(k) for k in keys]
    _check_keys(keys)
    seen: dict[RunKey, int] = dict.fromkeys(keys, 0)
    snapshot = store.snapshot()
    for setting in sorted({k[1] for k in keys}):
        get_setting(setting)
        arch_ids = {k[0] for k in keys if k[1] == setting}
        # A few keys (a driver checking one lost job): list their directories, not the whole setting.
        roots = [layout.commit_dir(setting, a) for a in arch_ids] if len(arch_ids) <= FEW_ARCHS else [
            f"{layout.COMMITS}/{setting}"]
        for path in (p for root in roots for p in iter_files(store.fs, root)):
            name = CommitName.parse(path)
            if name is None:
                continue
            key = (name.arch_id, setting, name.seed)
            bits = seen.get(key)
            if bits is not None:
                seen[key] = bits | 1 << (3 * (name.attempt - 1) + STATUS_RANK[name.status])
        for path, sha in store.snapshot_parts(snapshot, "runs", setting):
            for batch in store.iter_batches(path, sha, ["arch_id", "seed", "attempt", "status"]):
                for arch_id, seed, attempt, status in zip(*(c.to_pylist() for c in batch.columns)):
                    key = (arch_id, setting, seed)
                    bits = seen.get(key)
                    if bits is not None:
                        seen[key] = bits | 1 << (3 * (attempt - 1) + STATUS_RANK[status])

    status = ResumeStatus(max_attempts=max_attempts)
    failed_last: dict[RunKey, int] = {}
    for key in keys:
        bits = seen[key]
        if not bits:
            status.missing.append(key)
            continue
        ranks = _attempt_ranks(bits)
        if SUCCEEDED in ranks.values():
            status.done.add(key)
            continue
        status.last_attempt[key] = max(ranks)  # only keys that will run again need their next number
        failures = [a for a, r in ranks.items() if r == FAILED]
        if failures:
            status.failed[key] = (len(failures), "")
            failed_last[key] = max(failures)
        else:
            status.missing.append(key)
            status.running.add(key)
    for key, error in _errors(store, snapshot, failed_last).items():
        status.failed[key] = (status.failed[key][0], error)
    return status


def _errors(store: Store, snapshot: dict, failed_last: dict[RunKey, int]) -> dict[RunKey, str]:
    """The error text of each failed key's last failed attempt (only these files are opened)."""
    out: dict[RunKey, str] = {}
    by_setting: dict[str, dict[tuple[str, int, int], RunKey]] = {}
    for key, attempt in failed_last.items():
        by_setting.setdefault(key[1], {})[(key[0], key[2], attempt)] = key
    for setting, wanted in by_setting.items():
        for arch_id, seed, attempt in wanted:
            for name in store.commit_names(setting, arch_id):
                if (name.seed, name.attempt, name.status) == (seed, attempt, "failed"):
                    table = store.read_table(name.path, name.sha, ["error"])
                    if table is not None and len(table):
                        out[wanted[(arch_id, seed, attempt)]] = table["error"][0].as_py() or ""
        remaining = {k: v for k, v in wanted.items() if v not in out}
        for path, sha in store.snapshot_parts(snapshot, "runs", setting) if remaining else ():
            for batch in store.iter_batches(path, sha, ["arch_id", "seed", "attempt", "status", "error"]):
                for arch_id, seed, attempt, status, error in zip(*(c.to_pylist() for c in batch.columns)):
                    key = remaining.get((arch_id, seed, attempt))
                    if key is not None and status == "failed":
                        out[key] = error or ""
    for key in failed_last:
        out.setdefault(key, "(error text unavailable: its file was quarantined)")
    return out
