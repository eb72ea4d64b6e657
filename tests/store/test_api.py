"""The store API other parts code against: commit, read back, resume, checkpoints."""

from __future__ import annotations

import dataclasses
import uuid

import pyarrow.compute as pc
import pytest

from bench.code import FIELD_NAMES, ArchCode
from bench.cost import cost
from bench.errors import BenchError
from bench.job import Artifact
from bench.store import RunRecord, Store, StoreError, join_settings, resume_status
from bench.store.compact import compact
from bench.store.verify import verify
from tests.store.helpers import CODES, failed, job_spec, succeeded


@pytest.fixture
def store(tmp_path):
    return Store.open(str(tmp_path / "store"))


def test_commit_then_load_setting_has_code_columns_cost_and_mean_over_seeds(store):
    store.commit_run(succeeded(CODES[0], seed=0, top1=50.0))
    store.commit_run(succeeded(CODES[0], seed=1, top1=60.0))
    store.commit_run(succeeded(CODES[1], seed=0, top1=40.0))
    table = store.load_setting("cls_a").to_pandas().set_index("arch_id")
    code = ArchCode.from_string(CODES[0])
    row = table.loc[code.arch_id]
    assert row["top1"] == pytest.approx(55.0) and row["n_seeds"] == 2 and row["data_kind"] == "real"
    assert [row[name] for name in FIELD_NAMES] == code.to_list()
    assert row["params_m"] == cost(code).params_m and row["gflops"] == cost(code).gflops
    assert len(table) == 2


def test_same_attempt_twice_is_one_row_and_conflicting_status_is_refused(store):
    record = succeeded(CODES[0])
    first = store.commit_run(record)
    assert store.commit_run(record) == first
    assert store.load_runs("cls_a").num_rows == 1
    with pytest.raises(StoreError, match="attempt 2 instead"):
        store.commit_run(failed(CODES[0]))


def test_provenance_and_curves_are_kept(store):
    store.commit_run(succeeded(CODES[2]))
    run = store.load_runs("cls_a").to_pylist()[0]
    assert run["host"] == "test-host" and run["git_sha"] == "0" * 40 and run["dataset_id"] == "manifest:" + "d" * 64
    assert run["wall_seconds"] == 12.5 and run["gpu_hours"] == 0.0  # cpu devices: no GPU time
    assert '"lr":0.1' in run["config_json"] and len(run["config_hash"]) == 16
    assert run["data_kind"] == "real" and run["variant"] == "" and len(run["identity"]) == 8
    curves = store.load_curves("cls_a", ArchCode.from_string(CODES[2]).arch_id)
    assert curves["step"].to_pylist() == [25, 50, 75, 100]


@pytest.mark.parametrize("compacted", [False, True])
def test_resume_status_done_failed_missing_and_attempt_budget(store, compacted):
    a, b, c = (ArchCode.from_string(x).arch_id for x in CODES[:3])
    store.commit_run(succeeded(CODES[0]))
    store.commit_run(failed(CODES[1], attempt=1, error="first"))
    store.commit_run(failed(CODES[1], attempt=2, error="second"))
    store.commit_run(RunRecord.from_job(job_spec(CODES[2]), None, attempt=1, status="running"))
    keys = [(a, "cls_a", 0), (b, "cls_a", 0), (c, "cls_a", 0), (a, "cls_a", 5)]
    if compacted:
        compact(store)
        assert store.commit_names() == []
        with pytest.raises(StoreError, match="already committed"):
            store.commit_run(succeeded(CODES[1], attempt=2))  # compacted attempts are still checked
    identity = job_spec(CODES[0]).identity
    status = resume_status(store, keys, identity, max_attempts=3)
    assert status.done == {keys[0]}
    assert status.failed == {keys[1]: (2, "second")}
    assert status.missing == [keys[2], keys[3]] and status.running == {keys[2]}
    assert status.runnable == [keys[2], keys[3], keys[1]]
    assert status.next_attempt(keys[1]) == 3 and status.next_attempt(keys[3]) == 1
    assert resume_status(store, keys, identity, max_attempts=2).runnable == [keys[2], keys[3]]


def test_failed_then_succeeded_is_done(store):
    store.commit_run(failed(CODES[3], attempt=1))
    store.commit_run(succeeded(CODES[3], attempt=2))
    key = (ArchCode.from_string(CODES[3]).arch_id, "cls_a", 0)
    assert resume_status(store, [key], job_spec(CODES[3]).identity).done == {key}


def test_find_checkpoint_newest_of_succeeded_run(store):
    arch = ArchCode.from_string(CODES[4]).arch_id
    assert store.find_checkpoint(arch, "cls_a", 0) is None
    store.commit_run(succeeded(CODES[4]))
    assert store.find_checkpoint(arch, "cls_a", 0) == "work/0/ep100.pt"


def test_log_uri_directory_exists(store, tmp_path):
    uri = store.log_uri("0123456789abcdef", "seg", 2, 1)
    assert uri.endswith("logs/seg/0123456789abcdef/s2.a1.log")
    open(uri, "w").close()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"setting": "cls_z"}, "unknown setting"),
        ({"setting": "nb201"}, "imported only"),
        ({"metrics": {"top1": float("inf")}}, "infinite"),
        ({"metrics": {"top1": float("nan")}}, "finite main metric"),
        # a metric named like a store column would make a second column of that name: an unreadable table
        ({"metrics": {"top1": 70.0, "gflops": 1.0}}, "metric name 'gflops' is one of the store's own columns"),
        ({"seed": -1}, "seed=-1"),
        ({"attempt": 0}, "attempt=0"),
        ({"status": "done"}, "status='done'"),
        ({"metrics": {"top5": 1.0}}, "main metric 'top1'"),
        ({"code": "1_2-3"}, "groups"),
    ],
)
def test_bad_records_are_refused_with_the_value_named(change, message):
    fields = {"code": CODES[0], "setting": "cls_a", "seed": 0, "attempt": 1, "status": "succeeded",
              "metrics": {"top1": 1.0}}
    fields.update(change)
    with pytest.raises(BenchError, match=message):
        RunRecord(**fields)


def test_failed_record_needs_its_error():
    with pytest.raises(BenchError, match="error text"):
        RunRecord.from_job(job_spec(CODES[0]), None, attempt=1)


def test_open_refuses_foreign_directory_and_missing_store(tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="non-empty directory"):
        Store.open(str(tmp_path / "other"))
    with pytest.raises(StoreError, match=r"not a store \(the path does not exist\); give an existing store"):
        Store.open(str(tmp_path / "absent"), create=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match=r"not a store \(no STORE.json\)"):
        Store.open(str(tmp_path / "empty"), create=False)


def test_a_uri_its_back_end_cannot_reach_is_one_line_naming_it(monkeypatch, tmp_path):
    # A back-end's own failure at the first touch (S3 without credentials: botocore's NoCredentialsError, no
    # OSError) is a StoreError naming the URI, so the commands print one line instead of a traceback.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookup either
    s3fs = pytest.importorskip("s3fs")
    s3fs.S3FileSystem.clear_instance_cache()  # fsspec caches clients: neither take nor leave one with other credentials
    try:
        with pytest.raises(StoreError, match="cannot reach the store 's3://no-such-bucket/x': NoCredentialsError"):
            Store.open("s3://no-such-bucket/x", create=False)
    finally:
        s3fs.S3FileSystem.clear_instance_cache()


def test_fsspec_memory_filesystem_store_commits_compacts_and_verifies():
    store = Store.open(f"memory://bench-store-{uuid.uuid4().hex}")
    store.commit_run(succeeded(CODES[5]))
    store.commit_run(succeeded(CODES[5]))  # idempotent there too
    store.commit_run(failed(CODES[6]))
    assert store.load_setting("cls_a")["top1"].to_pylist() == [50.0]
    assert compact(store).commits_absorbed == 2 and store.commit_names() == []
    assert store.load_runs("cls_a").num_rows == 2 and store.load_setting("cls_a").num_rows == 1
    key = (ArchCode.from_string(CODES[6]).arch_id, "cls_a", 0)
    assert resume_status(store, [key], job_spec(CODES[6]).identity).failed == {key: (1, "CUDA OOM")}
    assert verify(store).ok
    assert store.log_uri("0123456789abcdef", "seg", 0, 1).startswith("memory://")


def test_join_settings_on_arch_id(store):
    store.commit_run(succeeded(CODES[0], top1=10.0))
    store.commit_run(succeeded(CODES[1], top1=20.0))
    store.commit_run(succeeded(CODES[1], setting="cls_b", top1=30.0))
    inner = join_settings(store, ["cls_a", "cls_b"], metrics=["top1"])
    assert inner["arch_id"].to_pylist() == [ArchCode.from_string(CODES[1]).arch_id]
    assert (inner["cls_a.top1"][0].as_py(), inner["cls_b.top1"][0].as_py()) == (20.0, 30.0)
    assert inner["c4_4"][0].as_py() == ArchCode.from_string(CODES[1]).stages[3].channels[3]
    outer = join_settings(store, ["cls_a", "cls_b"], metrics=["top1"], how="left outer")
    assert outer.num_rows == 2 and outer["cls_b.top1"].null_count == 1
    with pytest.raises(BenchError, match="how="):
        join_settings(store, ["cls_a"], how="cross")


def test_load_setting_filters_and_columns(store):
    for i, code in enumerate(CODES[:6]):
        store.commit_run(succeeded(code, top1=float(i)))
    assert store.load_setting("cls_a", filters=[("top1", ">=", 3.0)]).num_rows == 3
    table = store.load_setting("cls_a", columns=["arch_id", "top1"], filters=pc.field("top1") < 1.0)
    assert table.schema.names == ["arch_id", "top1"] and table.num_rows == 1
    with pytest.raises(StoreError, match="unknown column"):
        store.load_setting("cls_a", columns=["accuracy"])


def test_find_checkpoint_after_compaction_and_newer_attempt(store):
    arch = ArchCode.from_string(CODES[6]).arch_id
    store.commit_run(succeeded(CODES[6], attempt=1))
    compact(store)
    assert store.find_checkpoint(arch, "cls_a", 0) == "work/0/ep100.pt"
    store.commit_run(failed(CODES[6], seed=1))
    assert store.find_checkpoint(arch, "cls_a", 1) is None  # a failed run's checkpoints are not offered
    newer = (Artifact("checkpoint", "work/0/retry-ep100.pt", 1, "ee" * 32, 100),)
    store.commit_run(dataclasses.replace(succeeded(CODES[6], seed=0, attempt=2), artifacts=newer))
    assert store.find_checkpoint(arch, "cls_a", 0) == "work/0/retry-ep100.pt"


def test_record_survives_the_commit_file_round_trip(store):
    record = succeeded(CODES[7], seed=3, attempt=2)
    path = store.commit_run(record)
    name = next(n for n in store.commit_names("cls_a") if path.endswith(n.path))
    (row,) = store.read_table(name.path, name.sha).to_pylist()
    assert RunRecord.from_row(row) == record
    assert record.started_at is not None and RunRecord.from_row(row).started_at == record.started_at


def test_commit_on_a_filesystem_without_hard_links(store, monkeypatch):
    def no_links(src: object, dst: object) -> None:
        raise PermissionError("hard links not supported here")

    monkeypatch.setattr("bench.store.fs.os.link", no_links)
    first = store.commit_run(succeeded(CODES[8]))
    assert store.commit_run(succeeded(CODES[8])) == first
    assert store.load_runs("cls_a").num_rows == 1
    assert store.fs.write_new("x/once.bin", b"a") and not store.fs.write_new("x/once.bin", b"b")
    assert store.fs.read("x/once.bin") == b"a"
    assert not [p for p in store.fs.root.rglob(".tmp-*")]
