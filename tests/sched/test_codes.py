"""The frozen code list and sweep selection (no Ray)."""

from __future__ import annotations

import shutil

import pytest

from bench.errors import BenchError
from bench.sched.codes import FROZEN_CODES, expected_sha256, file_sha256, hash_path, load_frozen, read_code_list
from bench.sched.selection import Selection, select_codes
from bench.space import sample_codes


def test_frozen_list_is_the_seeded_sample_and_matches_its_hash():
    assert file_sha256(FROZEN_CODES) == expected_sha256(FROZEN_CODES)
    assert load_frozen() == sample_codes(2500, seed=0)


def test_a_modified_frozen_list_is_refused(tmp_path):
    copy = tmp_path / FROZEN_CODES.name
    shutil.copy(hash_path(FROZEN_CODES), hash_path(copy))
    lines = FROZEN_CODES.read_text().splitlines()
    lines[7], lines[8] = lines[8], lines[7]  # same codes, another order: still another benchmark
    copy.write_text("\n".join(lines) + "\n")
    with pytest.raises(BenchError, match="expected .* modified"):
        load_frozen(copy)
    with pytest.raises(BenchError, match="modified"):
        select_codes(Selection(source="frozen", codes_file=str(copy)))


def test_a_frozen_list_without_hash_file_is_refused(tmp_path):
    copy = tmp_path / "codes.txt"
    shutil.copy(FROZEN_CODES, copy)
    with pytest.raises(BenchError, match="no hash file"):
        load_frozen(copy)


def test_code_file_errors_name_the_line(tmp_path):
    path = tmp_path / "codes.txt"
    good = sample_codes(2, seed=0)
    path.write_text(f"# my codes\n{good[0].to_string()}\n\n{good[1].to_string()}\n{good[0].to_string()}\n")
    with pytest.raises(BenchError, match="line 5 repeats line 2"):
        read_code_list(path)
    path.write_text(f"{good[0].to_string()}\n1_2_3\n")
    with pytest.raises(BenchError, match="line 2"):
        read_code_list(path)
    with pytest.raises(BenchError, match="does not exist"):
        read_code_list(tmp_path / "nope.txt")


def test_selection_shards_partition_the_range():
    codes = sample_codes(50, seed=0)
    shards = [select_codes(Selection(start=5, stop=45, shard_index=i, num_shards=3), codes) for i in range(3)]
    assert sorted(c.to_string() for s in shards for c in s) == sorted(c.to_string() for c in codes[5:45])
    assert [len(s) for s in shards] == [14, 13, 13]


def test_smallest_picks_the_cheapest_codes_in_list_order():
    from bench.cost import cost

    codes = sample_codes(40, seed=0)
    picked = select_codes(Selection(smallest=3), codes)
    flops = sorted(cost(c).flops for c in codes)
    assert sorted(cost(c).flops for c in picked) == flops[:3]
    assert picked == [c for c in codes if c in picked]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"source": "nope"}, "valid sources"),
        ({"source": "file"}, "codes_file"),
        ({"shard_index": 3, "num_shards": 3}, "0..2"),
        ({"num_shards": 0}, "num_shards"),
        ({"smallest": 0}, "smallest"),
        ({"start": "a"}, "start"),
    ],
)
def test_bad_selections_are_explained(kwargs, message):
    with pytest.raises(BenchError, match=message):
        Selection(**kwargs)
