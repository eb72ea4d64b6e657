"""Functions run in separate processes by the store tests (importable, so spawn can find them)."""

from __future__ import annotations

import time
from pathlib import Path

from bench.store import Store
from bench.store.fs import StoreFS
from tests.store.helpers import CODES, failed, succeeded


def commit_many(uri: str, jobs: list[tuple[int, int, int, str]]) -> int:
    """Commit (code index, seed, attempt, status) records; returns how many calls were made."""
    store = Store.open(uri)
    for index, seed, attempt, status in jobs:
        if status == "succeeded":
            store.commit_run(succeeded(CODES[index], seed=seed, attempt=attempt, top1=float(index + seed)))
        else:
            store.commit_run(failed(CODES[index], seed=seed, attempt=attempt, error=f"error {index}/{seed}/{attempt}"))
    return len(jobs)


def commit_and_hang_mid_write(uri: str, flag: str) -> None:
    """Start a commit, write half of the file's bytes, say so through ``flag``, then hang until killed."""

    def half_then_hang(self: StoreFS, target: Path, data: bytes) -> Path:
        tmp = target.parent / f".tmp-killed-{target.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data[: len(data) // 2])
            f.flush()
        Path(flag).write_text("half written")
        time.sleep(600)
        raise AssertionError("should have been killed")

    StoreFS._write_tmp = half_then_hang
    Store.open(uri).commit_run(succeeded(CODES[0]))


def read_until(uri: str, stop_flag: str) -> tuple[int, list[str]]:
    """Read the setting over and over until ``stop_flag`` exists; returns (reads, problems seen)."""
    store = Store.open(uri)
    reads, problems, seen = 0, [], 0
    while not Path(stop_flag).exists():
        runs = store.load_runs("cls_a")
        attempts = list(zip(*(runs[c].to_pylist() for c in ("arch_id", "seed", "attempt"))))
        ids = store.load_setting("cls_a")["arch_id"].to_pylist()
        if len(attempts) != len(set(attempts)):
            problems.append(f"read {reads}: an attempt appeared twice")
        if len(ids) != len(set(ids)):
            problems.append(f"read {reads}: an architecture appeared twice")
        if len(attempts) < seen:
            problems.append(f"read {reads}: {seen - len(attempts)} committed attempts vanished")
        seen = max(seen, len(attempts))
        reads += 1
    return reads, problems


def commit_in_two_halves(uri: str, jobs: list[tuple[int, int, int, str]], go_on_flag: str) -> int:
    """Commit the first half of ``jobs``, wait until ``go_on_flag`` exists, then commit the rest.

    A test that creates the flag only after a compaction absorbed some of the
    first halves knows the compaction overlapped live writers, however slow
    the machine is.
    """
    half = len(jobs) // 2
    commit_many(uri, jobs[:half])
    deadline = time.monotonic() + 300
    while not Path(go_on_flag).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{go_on_flag} never appeared")
        time.sleep(0.05)
    return commit_many(uri, jobs[half:]) + half
