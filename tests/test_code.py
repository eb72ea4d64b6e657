"""The architecture code: forms, round trips, validation and identity."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.code import BLOCK_CHOICES, CHANNEL_CHOICES, CODE_LENGTH, FIELD_NAMES, ArchCode, parse_many
from bench.errors import CodeError
from tests.reference import reference_rows

EXAMPLE = "96_128-1_1_1_48-1_2_1_1_128_8-1_3_1_1_1_128_128_120-4_4_4_4_4_4_128_128_128_128-64"

codes = st.builds(
    list,
    st.tuples(*[st.sampled_from(CHANNEL_CHOICES if n[0] in "ico" else BLOCK_CHOICES) for n in FIELD_NAMES]),
).map(ArchCode.from_list)


def test_field_names_follow_the_spec_layout():
    assert len(FIELD_NAMES) == CODE_LENGTH == 27
    assert FIELD_NAMES[:5] == ("i1", "i2", "b1", "n1_1", "c1_1")
    assert FIELD_NAMES[17:] == ("b4", "n4_1", "n4_2", "n4_3", "n4_4", "c4_1", "c4_2", "c4_3", "c4_4", "o")


def test_example_string_decodes_field_by_field():
    code = ArchCode.from_string(EXAMPLE)
    assert code.stem == (96, 128)
    assert code.stages[0].blocks == 1 and code.stages[0].channels == (48,)
    assert code.stages[1].channels == (128, 8)
    assert code.stages[3].blocks == 4 and code.stages[3].depths == (4, 4, 4, 4)
    assert code.out_channels == 64
    assert code.to_string() == EXAMPLE


def test_arch_id_is_a_stable_content_hash():
    # A literal on purpose: the id must be the same on every machine and Python version.
    assert ArchCode.from_string(EXAMPLE).arch_id == "66ba1d06b558b00f"
    assert ArchCode.from_string(EXAMPLE.replace("-64", "-72")).arch_id != "66ba1d06b558b00f"


@given(codes)
def test_every_form_round_trips(code):
    assert ArchCode.from_string(code.to_string()) == code
    assert ArchCode.from_list(code.to_list()) == code
    assert ArchCode.from_row(code.to_row()) == code
    assert ArchCode.from_row({"embedding": code.to_list()}) == code
    row = code.to_row()
    del row["embedding"]
    assert ArchCode.from_row(row) == code
    assert len(code.to_row()["inverted_residual_setting"]) == sum(s.blocks for s in code.stages)


@given(codes, st.integers(0, CODE_LENGTH - 1), st.integers(-300, 300))
def test_out_of_range_values_name_the_field(code, index, value):
    values = code.to_list()
    choices = CHANNEL_CHOICES if FIELD_NAMES[index][0] in "ico" else BLOCK_CHOICES
    values[index] = value
    if value in choices:
        assert ArchCode.from_list(values).to_list() == values
    else:
        with pytest.raises(CodeError, match=rf"{FIELD_NAMES[index]}={value}\b.*valid"):
            ArchCode.from_list(values)


@settings(max_examples=300)
@given(st.text(alphabet="0123456789_-x ", max_size=80))
def test_malformed_strings_raise_code_error_or_round_trip(text):
    try:
        code = ArchCode.from_string(text)
    except CodeError:
        return
    assert ArchCode.from_string(code.to_string()) == code


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "groups"),
        ("96_128-1_1_1_48-1_2_1_1_128_8-1_3_1_1_1_128_128_120-64", "groups"),
        ("96-1_1_1_48-1_2_1_1_128_8-1_3_1_1_1_128_128_120-4_4_4_4_4_4_128_128_128_128-64", "stem"),
        (EXAMPLE.replace("1_2_1_1_128_8", "1_3_1_1_128_8"), "declares 3 branches"),
        (EXAMPLE.replace("1_2_1_1_128_8", "1_2_1_128_8"), "stage 2 group"),
        (EXAMPLE.replace("-64", "-60"), "multiple of 8"),
        (EXAMPLE.replace("-64", "-136"), "o=136"),
        (EXAMPLE.replace("96_128", "96_a"), "not '_'-separated integers"),
        (EXAMPLE.replace("4_4_4_4_4_4_", "5_4_4_4_4_4_"), "b4=5"),
        (EXAMPLE + "-8", "groups"),
    ],
)
def test_malformed_strings_say_what_is_wrong(text, message):
    with pytest.raises(CodeError, match=message):
        ArchCode.from_string(text)


@pytest.mark.parametrize("values", [[8] * 26, [8] * 28, "8" * 27, None, [8.5] + [8] * 26, [True] + [8] * 26])
def test_bad_lists_are_refused(values):
    with pytest.raises(CodeError):
        ArchCode.from_list(values)


def test_integral_floats_and_numpy_ints_are_accepted():
    import numpy as np

    values = ArchCode.from_string(EXAMPLE).to_list()
    assert ArchCode.from_list([float(v) for v in values]).to_list() == values
    assert ArchCode.from_list(np.array(values)).to_list() == values


def test_a_self_contradicting_row_is_refused():
    row = ArchCode.from_string(EXAMPLE).to_row()
    row["embedding"] = row["embedding"][:-1] + [72]
    with pytest.raises(CodeError, match="contradicts"):
        ArchCode.from_row(row)
    row = ArchCode.from_string(EXAMPLE).to_row()
    row["inverted_residual_setting"][-1] = [4, [4, 4, 4, 3], [128, 128, 128, 128]]
    with pytest.raises(CodeError, match="differs from the earlier blocks"):
        ArchCode.from_row(row)
    row = ArchCode.from_string(EXAMPLE).to_row()
    row["inverted_residual_setting"][1] = [3, [1, 1, 1], [8, 8, 8]]
    with pytest.raises(CodeError, match="stages must go 1, 2, 3, 4"):
        ArchCode.from_row(row)
    with pytest.raises(CodeError, match="neither"):
        ArchCode.from_row({"top1": 1.0})


def test_parse_many_names_the_line():
    with pytest.raises(CodeError, match="^line 2: "):
        parse_many([EXAMPLE, "nonsense"])


def test_published_rows_decode_consistently():
    for name in ("seg.pkl", "cls-50-1000.pkl", "video.pkl"):
        rows = reference_rows(name)
        decoded = [ArchCode.from_row(row) for row in rows]
        assert len({c.arch_id for c in decoded}) == len({c.to_string() for c in decoded})
        for row, code in zip(rows[:200], decoded):
            assert code.to_row()["inverted_residual_setting"] == row["inverted_residual_setting"]
