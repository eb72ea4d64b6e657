"""The store on a real S3-compatible server (moto's server mode on 127.0.0.1), exactly as on a local directory.

The two central tests run the same operations on a local directory and on
``s3://`` and compare what comes back, so "works on S3" means "gives the
local answer", not merely "does not crash"; the others pin what S3 changed
(listings, conditional writes, buckets, credentials, the missing back-end).
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import threading
import time

import fsspec
import pytest

from bench.code import ArchCode
from bench.store import RunRecord, Store, StoreError, StoreWarning, resume_status
from bench.store.compact import compact
from bench.store.export import export_benchmark
from bench.store.fs import StoreFS
from bench.store.official import import_official
from bench.store.verify import verify
from tests.store.helpers import CODES, failed, job_spec, succeeded
from tests.store.official_fixtures import write_published_dir
from tests.store.s3_server import fresh_uri, s3_server
from tests.store.workers import commit_in_two_halves, commit_many

N_CODES, N_WORKERS = 6, 3


@pytest.fixture(scope="module")
def endpoint():
    with s3_server() as url:
        yield url


@pytest.fixture(scope="module")
def pool(endpoint):
    """Worker processes (spawned after the server, so they inherit its endpoint), shared by the tests."""
    with multiprocessing.get_context("spawn").Pool(N_WORKERS) as workers:
        workers.map_async(_warm_up, range(N_WORKERS))  # imports run while the first test works locally
        yield workers


def _warm_up(_: int) -> None:
    import s3fs  # noqa: F401

    import tests.store.workers  # noqa: F401


def _jobs_for(worker: int) -> list[tuple[int, int, int, str]]:
    # Every (code, seed) is committed by two workers (idempotent), and odd codes fail once before succeeding.
    jobs = []
    for index in range(N_CODES):
        if index % N_WORKERS in (worker, (worker + 1) % N_WORKERS):
            jobs += [(index, 0, 1, "failed"), (index, 0, 2, "succeeded")] if index % 2 else [(index, 0, 1, "succeeded")]
            jobs.append((index, 1, 1, "succeeded"))
    return jobs


def _content(store: Store) -> dict:
    """Everything a reader gets back, in a comparable form."""
    runs = store.load_runs("cls_a").sort_by([("arch_id", "ascending"), ("seed", "ascending"), ("attempt", "ascending")])
    return {
        "runs": runs.to_pylist(),
        "results": store.load_setting("cls_a").sort_by("arch_id").to_pylist(),
        "curves": store.load_curves("cls_a").num_rows,
        "metrics": store.load_metrics("cls_a").num_rows,
    }


def test_concurrent_commits_and_compaction_match_a_local_directory(pool, tmp_path):
    uri, local = fresh_uri(), Store.open(str(tmp_path / "store"))
    for worker in range(N_WORKERS):  # the same commits, one after the other, on a local directory
        commit_many(local.uri, _jobs_for(worker))
    compact(local)
    store, go_on = Store.open(uri), tmp_path / "go-on"
    absorbed = 0
    pending = pool.starmap_async(commit_in_two_halves, [(uri, _jobs_for(w), str(go_on)) for w in range(N_WORKERS)])
    while not pending.ready():
        absorbed += compact(store).commits_absorbed  # compactions race the writers
        if absorbed and not go_on.exists():
            go_on.write_text("a compaction absorbed commits of live writers")
        ids = store.load_setting("cls_a")["arch_id"].to_pylist()
        assert len(ids) == len(set(ids)), "a reader saw an architecture twice"
        time.sleep(0.1)  # let the writers have the CPU too
    pending.get()
    compact(store)
    assert store.commit_names() == [], "the last compaction left commit files behind"
    content = _content(store)
    attempts = [(r["arch_id"], r["seed"], r["attempt"]) for r in content["runs"]]
    assert len(attempts) == len(set(attempts)) == N_CODES * 2 + N_CODES // 2
    assert content == _content(local)


def _fill(store: Store, published: str) -> list[tuple[str, str, int]]:
    """The same small store everywhere: runs of every status, an import, a compaction, then more commits."""
    import_official(store, published)
    store.commit_run(succeeded(CODES[0], seed=0, top1=40.0))
    store.commit_run(succeeded(CODES[0], seed=1, top1=44.0))
    store.commit_run(failed(CODES[1], attempt=1, error="first"))
    store.commit_run(failed(CODES[1], attempt=2, error="second"))
    compact(store)
    store.commit_run(RunRecord.from_job(job_spec(CODES[2]), None, attempt=1, status="running", host="h",
                                        git_sha="0" * 40, packages={}))
    store.commit_run(succeeded(CODES[3], top1=61.0))
    ids = [ArchCode.from_string(c).arch_id for c in CODES[:5]]
    return [(i, "cls_a", 0) for i in ids] + [(ids[0], "cls_a", 1)]


def test_resume_import_export_and_quarantine_match_a_local_directory(endpoint, tmp_path):
    published = tmp_path / "published"
    write_published_dir(published, ("cls_a", "seg"))
    seen = {}
    for where, uri in (("local", str(tmp_path / "store")), ("s3", fresh_uri())):
        store = Store.open(uri)
        keys = _fill(store, str(published))
        status = resume_status(store, keys, max_attempts=3)
        manifest = export_benchmark(store, tmp_path / f"export-{where}").manifest
        victim = [n for n in store.commit_names("cls_a") if n.status == "succeeded"][0]
        store.fs.write_atomic(victim.path, store.fs.read(victim.path)[:-7] + b"damaged")
        with pytest.warns(StoreWarning, match="quarantined"):
            after = store.load_setting("cls_a")
        reason = json.loads(store.fs.read(f"quarantine/{victim.path}.reason.json"))
        seen[where] = {
            "settings": store.settings(),
            "resume": (status.done, status.failed, status.missing, status.running, status.runnable),
            "export": {s: {k: v for k, v in e.items() if k != "created_at"} for s, e in manifest["settings"].items()},
            "coverage": manifest["coverage"],
            "quarantined": store.quarantined,
            "moved": (store.fs.exists(victim.path), store.fs.exists(f"quarantine/{victim.path}")),
            "reason": reason["reason"],
            "rows_after": after.num_rows,
            "missing_after": victim.arch_id in {k[0] for k in resume_status(store, keys).missing},
            "verify": verify(store).ok,
        }
    assert seen["s3"]["moved"] == (False, True) and seen["s3"]["missing_after"]
    assert seen["s3"]["settings"] == ["cls_a", "seg", "nb201"]
    assert seen["s3"] == seen["local"]


def test_other_processes_files_are_seen_at_once(pool):
    """Listings are not cached: a reader sees another process's new setting and compaction without reopening."""
    uri = fresh_uri()
    reader = Store.open(uri)
    assert reader.settings() == [] and reader.commit_names() == []
    pool.apply(commit_many, (uri, [(0, 0, 1, "succeeded"), (1, 0, 1, "succeeded")]))
    assert reader.settings() == ["cls_a"] and len(reader.commit_names()) == 2
    pool.apply(_compact, (uri,))
    assert reader.commit_names() == [] and reader.snapshot()["version"] == 1
    assert reader.load_setting("cls_a").num_rows == 2


def _compact(uri: str) -> None:
    compact(Store.open(uri, create=False))


def test_create_if_absent_is_one_winner_among_racing_writers(endpoint):
    fs = Store.open(fresh_uri()).fs
    won: list[bytes] = []
    start = threading.Barrier(8)

    def write(i: int) -> None:
        data = f"writer {i}".encode()
        start.wait()
        if fs.write_new("snapshots/race.json", data):
            won.append(data)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and fs.read("snapshots/race.json") == won[0]


def test_missing_bucket_is_an_error_not_a_new_bucket(endpoint):
    with pytest.raises(StoreError, match="bucket 'no-such-bucket' .* does not exist"):
        Store.open("s3://no-such-bucket/store")
    assert not StoreFS("s3://bench-store-test/x")._fs.exists("no-such-bucket")


def test_endpoint_and_keys_as_fsspec_storage_options(endpoint, monkeypatch):
    """The documented alternative to AWS_* variables: fsspec's configuration (FSSPEC_S3 or ~/.config/fsspec)."""
    import s3fs

    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": endpoint, "key": "testing", "secret": "testing"})
    s3fs.S3FileSystem.clear_instance_cache()
    store = Store.open(fresh_uri())
    store.commit_run(succeeded(CODES[4]))
    assert store.load_setting("cls_a").num_rows == 1
    s3fs.S3FileSystem.clear_instance_cache()


def test_without_s3fs_the_error_names_the_cloud_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "s3fs", None)  # an install without the back-end
    monkeypatch.delitem(sys.modules["fsspec.registry"]._registry, "s3", raising=False)
    with pytest.raises(StoreError, match=r"s3fs.*pip install -e '\.\[cloud\]'"):
        Store.open("s3://bucket/store")
