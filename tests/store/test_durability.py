"""Many writers, killed writers, damaged files and interrupted compactions lose and duplicate nothing."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from bench.code import ArchCode
from bench.store import Store, StoreWarning, resume_status
from bench.store import compact as compact_module  # the module (not the function)
from bench.store.compact import compact
from bench.store.verify import verify
from tests.store.helpers import CODES, succeeded
from tests.store.workers import commit_and_hang_mid_write, commit_many, read_until

N_CODES, N_WORKERS = 24, 4


def _jobs_for(worker: int) -> list[tuple[int, int, int, str]]:
    # Every (code, seed) is committed by two workers (the same record: idempotent),
    # and odd codes fail once before they succeed.
    jobs = []
    for index in range(N_CODES):
        if index % N_WORKERS in (worker, (worker + 1) % N_WORKERS):
            if index % 2:
                jobs.append((index, 0, 1, "failed"))
                jobs.append((index, 0, 2, "succeeded"))
            else:
                jobs.append((index, 0, 1, "succeeded"))
            jobs.append((index, 1, 1, "succeeded"))
    return jobs


@pytest.mark.slow
def test_many_processes_committing_while_compacting_lose_and_duplicate_nothing(tmp_path):
    uri = str(tmp_path / "store")
    store = Store.open(uri)
    context = multiprocessing.get_context("spawn")
    stop = tmp_path / "stop-reading"
    with context.Pool(N_WORKERS + 1) as pool:
        reader = pool.apply_async(read_until, (uri, str(stop)))  # another process reads all along
        pending = pool.starmap_async(commit_many, [(uri, _jobs_for(w)) for w in range(N_WORKERS)])
        seen_rows, absorbed_while_writing = 0, 0
        while not pending.ready():
            absorbed_while_writing += compact(store).commits_absorbed  # compaction races the writers
            table = store.load_setting("cls_a")
            ids = table["arch_id"].to_pylist()
            assert len(ids) == len(set(ids)), "a reader saw an architecture twice"
            assert len(ids) >= seen_rows, "a reader saw rows disappear"
            seen_rows = len(ids)
            time.sleep(0.05)
        pending.get()
        stop.write_text("done")
        reads, problems = reader.get(timeout=120)
    assert problems == [] and reads > 0
    assert absorbed_while_writing > 0, "no compaction overlapped the writers; the test proved nothing"
    for final_compaction in (False, True):
        if final_compaction:
            compact(store)
            assert store.commit_names() == []
        runs = store.load_runs("cls_a")
        attempts = Counter(zip(*(runs[c].to_pylist() for c in ("arch_id", "seed", "attempt"))))
        expected_attempts = N_CODES * 2 + N_CODES // 2  # two seeds, plus one failed attempt per odd code
        assert len(attempts) == expected_attempts and set(attempts.values()) == {1}
        table = store.load_setting("cls_a").to_pandas().set_index("arch_id")
        assert len(table) == N_CODES
        for index, code in enumerate(CODES[:N_CODES]):
            row = table.loc[ArchCode.from_string(code).arch_id]
            assert row["top1"] == pytest.approx(index + 0.5) and row["n_seeds"] == 2  # mean of seeds 0 and 1
        assert store.load_metrics("cls_a").num_rows == 2 * 2 * N_CODES  # top1 + top5 per succeeded run
        assert store.load_curves("cls_a").num_rows == 4 * 2 * N_CODES


def test_process_killed_mid_write_leaves_nothing_visible(tmp_path):
    uri, flag = str(tmp_path / "store"), tmp_path / "flag"
    store = Store.open(uri)
    process = multiprocessing.get_context("spawn").Process(target=commit_and_hang_mid_write, args=(uri, str(flag)))
    process.start()
    deadline = time.time() + 120  # a spawned interpreter on 2 busy cores can take a while to start
    while not flag.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert flag.exists(), "the writer never reached the middle of its write"
    os.kill(process.pid, signal.SIGKILL)
    process.join()
    leftovers = [p for p in (tmp_path / "store").rglob("*") if p.is_file() and p.name.startswith(".tmp-")]
    assert len(leftovers) == 1  # the half-written temporary is there, hidden
    assert store.commit_names() == [] and store.load_runs().num_rows == 0
    assert store.load_setting("cls_a").num_rows == 0
    key = (ArchCode.from_string(CODES[0]).arch_id, "cls_a", 0)
    assert resume_status(store, [key]).missing == [key]
    old = time.time() - 2 * compact_module.STALE_TMP_S
    os.utime(leftovers[0], (old, old))
    store.commit_run(succeeded(CODES[1]))
    compact(store)
    assert not leftovers[0].exists()  # a stale temporary is cleaned up by compaction


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupted_commit_is_quarantined_and_reported_not_read(tmp_path):
    store = Store.open(str(tmp_path / "store"))
    store.commit_run(succeeded(CODES[0]))
    damaged = Path(store.commit_run(succeeded(CODES[1])))
    _flip_a_byte(damaged)
    with pytest.warns(StoreWarning, match="quarantined"):
        table = store.load_setting("cls_a")
    assert table["arch_id"].to_pylist() == [ArchCode.from_string(CODES[0]).arch_id]
    assert not damaged.exists()
    moved = tmp_path / "store" / "quarantine" / damaged.relative_to(tmp_path / "store")
    assert moved.exists() and "does not match" in Path(f"{moved}.reason.json").read_text()
    assert len(store.quarantined) == 1
    key = (ArchCode.from_string(CODES[1]).arch_id, "cls_a", 0)
    assert resume_status(store, [key]).missing == [key]  # it will be run again


def test_corrupted_compacted_part_is_quarantined_by_verify(tmp_path):
    store = Store.open(str(tmp_path / "store"))
    for code in CODES[:3]:
        store.commit_run(succeeded(code))
    compact(store)
    part = next((tmp_path / "store" / "tables" / "results").rglob("part-*.parquet"))
    _flip_a_byte(part)
    with pytest.warns(StoreWarning):
        report = verify(store)
    assert not report.ok and len(report.quarantined) == 1 and "results" in report.quarantined[0]


def test_truncated_file_with_matching_name_is_quarantined(tmp_path):
    store = Store.open(str(tmp_path / "store"))
    path = Path(store.commit_run(succeeded(CODES[0])))
    from bench.store.layout import sha16

    truncated = path.read_bytes()[:40]
    forged = path.with_name(path.name.rsplit(".", 2)[0] + f".{sha16(truncated)}.arrow")
    path.unlink()
    forged.write_bytes(truncated)  # the name matches the bytes, but the bytes are not Parquet
    with pytest.warns(StoreWarning, match="not a readable Arrow IPC file"):
        assert store.load_runs().num_rows == 0


def test_compaction_interrupted_after_its_snapshot_duplicates_nothing(tmp_path, monkeypatch):
    store = Store.open(str(tmp_path / "store"))
    for code in CODES[:5]:
        store.commit_run(succeeded(code))

    def crash(*args: object) -> int:
        raise RuntimeError("killed after publishing the snapshot")

    monkeypatch.setattr(compact_module, "_remove_leftovers", crash)
    with pytest.raises(RuntimeError):
        compact(store)
    monkeypatch.undo()
    assert len(store.commit_names()) == 5  # still on disk, and also in the snapshot
    assert store.load_runs().num_rows == 5 and store.load_setting("cls_a").num_rows == 5
    compact(store)
    assert store.commit_names() == [] and store.load_runs().num_rows == 5


def _compact_rounds(uri: str, rounds: int, out) -> None:
    from bench.store.compact import CompactionRaced

    store = Store.open(uri)
    for _ in range(rounds):
        try:
            compact(store)
            out.put("ok")
        except CompactionRaced as err:
            out.put(f"raced: {err}")
        except Exception as err:  # noqa: BLE001 - anything else is the failure this test looks for
            out.put(f"ERROR {type(err).__name__}: {err}")


def test_concurrent_compactions_lose_nothing_and_a_loser_says_it_lost(tmp_path):
    uri = str(tmp_path / "store")
    store = Store.open(uri)
    for i in range(8):
        store.commit_run(succeeded(CODES[i], top1=float(i)))
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    workers = [context.Process(target=_compact_rounds, args=(uri, 3, out)) for _ in range(2)]
    for worker in workers:
        worker.start()
    writer = Store.open(uri)
    for i in range(8, 16):  # commits keep arriving while the two compact
        writer.commit_run(succeeded(CODES[i], top1=float(i)))
    for worker in workers:
        worker.join(timeout=120)
    answers = [out.get(timeout=5) for _ in range(6)]
    assert all(a == "ok" or a.startswith("raced: another compaction published snapshot") for a in answers), answers
    compact(Store.open(uri))
    view = Store.open(uri).load_setting("cls_a")
    assert sorted(view["top1"].to_pylist()) == [float(i) for i in range(16)]
    versions = [p.name for p in (tmp_path / "store" / "snapshots").iterdir() if p.suffix == ".json"]
    assert len(versions) == len({v.split(".")[0] for v in versions})  # never two snapshots of one version


def test_a_temporary_renamed_into_place_during_cleanup_is_not_an_error(tmp_path, monkeypatch):
    # The race CI hit: compaction lists a commit directory, a live writer renames its
    # temporary into place, then cleanup looks at the listed name. Replayed deterministically.
    from bench.store import fs as fs_module
    from bench.store.fs import TMP_PREFIX

    store = Store.open(str(tmp_path / "store"))
    directory = tmp_path / "store" / "commits" / "cls_a" / "x"
    directory.mkdir(parents=True)
    live, stale = directory / f"{TMP_PREFIX}live.arrow", directory / f"{TMP_PREFIX}stale.arrow"
    live.write_bytes(b"live")
    stale.write_bytes(b"stale")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    real_walk = os.walk

    def walk_then_rename(top):
        for entry in real_walk(top):
            if live.name in entry[2]:
                live.rename(directory / "live.arrow")  # the writer finishes between listing and looking
            yield entry

    monkeypatch.setattr(fs_module.os, "walk", walk_then_rename)
    assert store.fs.remove_stale_tmp("commits", older_than_s=60) == 1
    assert not stale.exists() and (directory / "live.arrow").read_bytes() == b"live"
