"""sweep=published: the published codes from the shipped list, from pickles and from a store's imports (no Ray)."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path

import pytest

from bench.code import ArchCode
from bench.errors import BenchError
from bench.sched import published
from bench.sched.codes import expected_sha256, file_sha256, load_frozen, read_code_list
from bench.sched.selection import Selection, select_codes
from bench.sched.sweep import execute, sweep_jobs
from bench.store import Store
from bench.store.official import import_official
from tests.sched.conftest import scripted_run
from tests.store.official_fixtures import mr_rows, write_published_dir

SHARED = Path(__file__).resolve().parents[3] / "shared" / "nasbench_mr"


def pickle_codes(setting: str) -> list[ArchCode]:
    """The codes of the generated published-style rows, in row order (what the fixtures write)."""
    return [ArchCode.from_row(row) for row in mr_rows(setting)]


def test_the_shipped_list_is_hashed_and_has_the_published_size():
    path = published.PUBLISHED_CODES
    assert file_sha256(path) == expected_sha256(path)
    codes = published.load_published()
    assert len(codes) == 2507 == len({c.arch_id for c in codes})


@pytest.mark.slow  # reads and validates the three published pickles (~7 s on 2 cores)
@pytest.mark.skipif(not SHARED.is_dir(), reason=f"the published pickles are not at {SHARED}")
def test_the_shipped_list_is_the_one_every_published_pickle_holds():
    codes, digests = published.codes_from_pickles(SHARED)
    assert codes == published.load_published() and {"cls-50-1000.pkl", "seg.pkl", "video.pkl"} <= set(digests)


def test_the_frozen_sample_shares_no_architecture_with_the_published_list(capsys):
    assert published.main(["overlap"]) == 0
    assert capsys.readouterr().out.startswith("0 of the 2500 frozen codes are among the 2507 published codes")
    frozen, others = load_frozen()[:10], pickle_codes("seg")
    assert published.overlap(frozen, others + frozen[2:4]) == frozen[2:4]  # it does count what is shared


def test_freeze_writes_the_pickles_codes_in_row_order_with_a_hash(tmp_path):
    write_published_dir(tmp_path / "src", ("cls_a", "seg", "video"))
    out = tmp_path / "published.txt"
    digest = published.freeze(tmp_path / "src", out)
    assert expected_sha256(out) == digest == file_sha256(out)
    assert read_code_list(out, digest) == pickle_codes("seg")
    text = out.read_text()
    assert "seg.pkl sha256" in text and "no results" in text  # provenance in the file's own header
    assert published.main(["verify", str(tmp_path / "src"), "--path", str(out)]) == 0


def test_pickles_with_different_code_lists_are_refused(tmp_path):
    paths = write_published_dir(tmp_path, ("cls_a", "seg"))
    paths["seg"].write_bytes(pickle.dumps(mr_rows("seg")[::-1]))
    with pytest.raises(BenchError, match="cls-50-1000.pkl and seg.pkl hold different .* first difference at row 0"):
        published.codes_from_pickles(tmp_path)


@pytest.fixture
def imported_store(tmp_path) -> Store:
    write_published_dir(tmp_path / "src", ("cls_a", "seg"))
    store = Store.open(str(tmp_path / "store"))
    import_official(store, tmp_path / "src")
    return store


def test_a_store_gives_its_imported_codes_in_published_row_order(imported_store):
    expected = pickle_codes("seg")
    assert published.codes_from_store(imported_store, "seg") == expected
    assert published.codes_from_store(imported_store, "cls_b") == expected  # not imported: the others, which agree


def test_a_store_without_imports_says_how_to_import(tmp_path):
    with pytest.raises(BenchError, match="no imported published setting.*import-official"):
        published.codes_from_store(Store.open(str(tmp_path / "empty")), "seg")


def test_every_selection_key_combines_with_the_published_list():
    codes = published.load_published()
    assert select_codes(Selection(source="published")) == codes
    picked = select_codes(Selection(source="published", start=10, stop=30, shard_index=1, num_shards=3))
    assert picked == codes[10:30][1::3]
    smallest = select_codes(Selection(source="published", smallest=4))
    assert smallest == select_codes(Selection(smallest=4), codes) and len(smallest) == 4


def test_the_sweep_reads_imported_codes_from_its_store_and_shards_them(imported_store):
    run = scripted_run(Path(imported_store.uri), {}, setting="seg")
    run = replace(run, selection=Selection(name="published", source="imported", stop=20, shard_index=1, num_shards=2))
    jobs = sweep_jobs(run, imported_store)
    assert [j.code for j in jobs] == [c.to_string() for c in pickle_codes("seg")[:20][1::2]]


def test_an_imported_sweep_on_a_missing_store_creates_nothing(tmp_path):
    run = scripted_run(tmp_path / "nope", {}, setting="seg")
    run = replace(run, selection=Selection(name="published", source="imported"))
    with pytest.raises(BenchError, match="does not exist; import the pickles first"):
        execute(run)
    assert not (tmp_path / "nope").exists()
