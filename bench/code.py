"""The NAS-Bench-MR architecture code: the one place the 27 integers are decoded.

The code (SPEC section 1) is::

    [i1, i2,
     b1, n1_1, c1_1,
     b2, n2_1, n2_2, c2_1, c2_2,
     b3, n3_1..n3_3, c3_1..c3_3,
     b4, n4_1..n4_4, c4_1..c4_4,
     o]

Everything downstream takes an :class:`ArchCode`, never a raw list, so the
positional layout lives here and nowhere else. Construction validates every
field; an invalid code raises :class:`~bench.errors.CodeError` naming the
field, the value and what is valid, and no partial object is returned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from bench.errors import CodeError

NUM_STAGES = 4
CODE_LENGTH = 27
BLOCK_CHOICES = (1, 2, 3, 4)  # b_s and n_s_k
CHANNEL_CHOICES = tuple(range(8, 129, 8))  # i1, i2, c_s_k, o


def _sequence(row: Mapping[str, Any], key: str) -> list:
    """``row[key]`` as a list, refusing text and scalars by name (``list("96_128")`` would split a string into characters)."""
    value = row[key]
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise CodeError(f"{key}={value!r:.80} ({type(value).__name__}) is not a sequence; valid is a list, tuple or array")
    return list(value)


def _fields() -> tuple[tuple[str, tuple[int, ...]], ...]:
    fields = [("i1", CHANNEL_CHOICES), ("i2", CHANNEL_CHOICES)]
    for s in range(1, NUM_STAGES + 1):
        fields.append((f"b{s}", BLOCK_CHOICES))
        fields += [(f"n{s}_{k}", BLOCK_CHOICES) for k in range(1, s + 1)]
        fields += [(f"c{s}_{k}", CHANNEL_CHOICES) for k in range(1, s + 1)]
    fields.append(("o", CHANNEL_CHOICES))
    return tuple(fields)


FIELD_CHOICES: dict[str, tuple[int, ...]] = dict(_fields())
"""The valid values of every field: :data:`CHANNEL_CHOICES` for i, c and o, :data:`BLOCK_CHOICES` for b and n."""

FIELD_NAMES: tuple[str, ...] = tuple(FIELD_CHOICES)
"""Column names of the 27 integers, in code order (also the store's columns)."""

CHANNEL_FIELDS: frozenset[str] = frozenset(n for n, c in FIELD_CHOICES.items() if c is CHANNEL_CHOICES)
"""The fields that are channel widths (they move in steps of 8); the others count blocks or units."""


def _check_int(field: str, value: Any, choices: tuple[int, ...]) -> int:
    # bool is an int subclass; True as a channel count is a bug, not a 1.
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            as_int = int(value)
        except (TypeError, ValueError, OverflowError):
            as_int = None
        if as_int is None or isinstance(value, bool) or as_int != value:
            raise CodeError(f"{field}={value!r} is not an integer; valid values are {_describe(choices)}")
        value = as_int
    if value not in choices:
        hint = " (channels must be a multiple of 8)" if choices is CHANNEL_CHOICES and 8 <= value <= 128 else ""
        raise CodeError(f"{field}={value} is out of range{hint}; valid values are {_describe(choices)}")
    return value


def _describe(choices: tuple[int, ...]) -> str:
    if choices is CHANNEL_CHOICES:
        return "multiples of 8 from 8 to 128"
    return "{" + ", ".join(map(str, choices)) + "}"


@dataclass(frozen=True)
class Stage:
    """One stage: ``blocks`` modular blocks of ``len(depths)`` parallel branches.

    ``depths[k]`` is the number of residual units in branch k, ``channels[k]``
    its width.
    """

    blocks: int
    depths: tuple[int, ...]
    channels: tuple[int, ...]

    @property
    def num_branches(self) -> int:
        return len(self.depths)


@dataclass(frozen=True)
class ArchCode:
    """A validated NAS-Bench-MR architecture.

    Example:
        >>> code = ArchCode.from_string("96_128-1_1_1_48-1_2_1_1_128_8-1_3_1_1_1_128_128_120-4_4_4_4_4_4_128_128_128_128-64")
        >>> code.stages[1].channels
        (128, 8)
        >>> ArchCode.from_list(code.to_list()) == code
        True
    """

    stem: tuple[int, int]
    stages: tuple[Stage, Stage, Stage, Stage]
    out_channels: int

    def __post_init__(self) -> None:
        if len(self.stem) != 2:
            raise CodeError(f"stem has {len(self.stem)} convolutions; valid is exactly 2 (i1, i2)")
        if len(self.stages) != NUM_STAGES:
            raise CodeError(f"code has {len(self.stages)} stages; valid is exactly {NUM_STAGES}")
        for s, stage in enumerate(self.stages, start=1):
            if len(stage.depths) != s or len(stage.channels) != s:
                raise CodeError(
                    f"stage {s} has {len(stage.depths)} depths and {len(stage.channels)} channels; "
                    f"stage {s} must have exactly {s} of each"
                )
        # Validate through the flat form so every message uses the field names.
        for name, value in zip(FIELD_NAMES, self.to_list()):
            _check_int(name, value, FIELD_CHOICES[name])

    # ----------------------------------------------------------------- flat list
    @classmethod
    def from_list(cls, values: Sequence[int]) -> ArchCode:
        """Decode the 27-integer list (the published ``embedding``)."""
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
            raise CodeError(f"a code list must be a sequence of {CODE_LENGTH} integers, got {type(values).__name__}")
        if len(values) != CODE_LENGTH:
            raise CodeError(f"a code has {CODE_LENGTH} integers, got {len(values)}: {list(values)!r}")
        checked = [
            _check_int(name, v, FIELD_CHOICES[name])
            for name, v in zip(FIELD_NAMES, values)
        ]
        stages, pos = [], 2
        for s in range(1, NUM_STAGES + 1):
            stages.append(
                Stage(
                    blocks=checked[pos],
                    depths=tuple(checked[pos + 1 : pos + 1 + s]),
                    channels=tuple(checked[pos + 1 + s : pos + 1 + 2 * s]),
                )
            )
            pos += 1 + 2 * s
        return cls(stem=(checked[0], checked[1]), stages=tuple(stages), out_channels=checked[-1])

    def to_list(self) -> list[int]:
        """The 27 integers in code order."""
        out = list(self.stem)
        for stage in self.stages:
            out += [stage.blocks, *stage.depths, *stage.channels]
        out.append(self.out_channels)
        return out

    # --------------------------------------------------------------- string form
    @classmethod
    def from_string(cls, text: str) -> ArchCode:
        """Parse the official string form ``i1_i2-b1_1_n_c-b2_2_n_n_c_c-...-o``."""
        if not isinstance(text, str):
            raise CodeError(f"a code string must be a str, got {type(text).__name__}")
        groups = text.strip().split("-")
        if len(groups) != NUM_STAGES + 2:
            raise CodeError(
                f"code string {text!r} has {len(groups)} '-'-separated groups; valid is {NUM_STAGES + 2} "
                "(stem, four stages, output), e.g. 16_16-1_1_1_16-1_2_1_1_16_16-1_3_1_1_1_16_16_16-1_4_1_1_1_1_16_16_16_16-16"
            )
        parsed: list[list[int]] = []
        for g, group in enumerate(groups):
            try:
                parsed.append([int(tok) for tok in group.split("_")])
            except ValueError:
                raise CodeError(f"group {g + 1} {group!r} of code string {text!r} is not '_'-separated integers") from None
        stem, *stage_groups, out = parsed
        if len(stem) != 2:
            raise CodeError(f"stem group {groups[0]!r} has {len(stem)} values; valid is 2 (i1_i2)")
        if len(out) != 1:
            raise CodeError(f"output group {groups[-1]!r} has {len(out)} values; valid is 1 (o)")
        values = list(stem)
        for s, group in enumerate(stage_groups, start=1):
            if len(group) != 2 + 2 * s:
                raise CodeError(
                    f"stage {s} group {groups[s]!r} has {len(group)} values; valid is {2 + 2 * s} "
                    f"(b{s}, branch count {s}, {s} depths, {s} channels)"
                )
            if group[1] != s:
                raise CodeError(f"stage {s} group {groups[s]!r} declares {group[1]} branches; stage {s} has exactly {s}")
            values += [group[0], *group[2:]]
        values += out
        return cls.from_list(values)

    def to_string(self) -> str:
        """The official string form (branch count included in each stage group)."""
        groups = ["_".join(map(str, self.stem))]
        for s, stage in enumerate(self.stages, start=1):
            groups.append("_".join(map(str, (stage.blocks, s, *stage.depths, *stage.channels))))
        groups.append(str(self.out_channels))
        return "-".join(groups)

    def __str__(self) -> str:
        return self.to_string()

    # --------------------------------------------------------- published pickle row
    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ArchCode:
        """Decode a published pickle row, checking its redundant forms agree.

        The row carries ``embedding`` (27 ints) and the expanded per-block form
        (``inverted_residual_setting``, ``input_channel``, ``last_channel``).
        Either may be missing; if both are there they must describe one code.
        """
        expanded = None
        if "inverted_residual_setting" in row:
            expanded = cls._from_expanded(row)
        if "embedding" in row:
            code = cls.from_list(_sequence(row, "embedding"))
            if expanded is not None and expanded != code:
                raise CodeError(
                    f"row's embedding {code.to_string()} contradicts its inverted_residual_setting "
                    f"form {expanded.to_string()}"
                )
            return code
        if expanded is None:
            raise CodeError(f"row has neither 'embedding' nor 'inverted_residual_setting'; keys are {sorted(row)}")
        return expanded

    @classmethod
    def _from_expanded(cls, row: Mapping[str, Any]) -> ArchCode:
        for key in ("input_channel", "last_channel"):
            if key not in row:
                raise CodeError(f"row has 'inverted_residual_setting' but no {key!r}")
        stem = _sequence(row, "input_channel")
        if len(stem) != 2:
            raise CodeError(f"input_channel={stem!r} has {len(stem)} values; valid is 2 (i1, i2)")
        blocks = _sequence(row, "inverted_residual_setting")
        stages: list[list[int]] = []
        previous_branches = 0
        for index, block in enumerate(blocks):
            try:
                branches, depths, channels = block
                branches, depths, channels = int(branches), [*depths], [*channels]
            except (TypeError, ValueError):
                raise CodeError(f"inverted_residual_setting[{index}]={block!r} is not [branches, [n...], [c...]]") from None
            if len(depths) != branches or len(channels) != branches:
                raise CodeError(
                    f"inverted_residual_setting[{index}]={block!r} declares {branches} branches "
                    f"but lists {len(depths)} depths and {len(channels)} channels"
                )
            if branches == previous_branches:
                prev = stages[-1]
                if prev[1:] != [*depths, *channels]:
                    raise CodeError(
                        f"inverted_residual_setting[{index}]={block!r} differs from the earlier blocks of stage "
                        f"{branches}; all blocks of a stage share depths and channels"
                    )
                prev[0] += 1
            elif branches == previous_branches + 1:
                stages.append([1, *depths, *channels])
            else:
                raise CodeError(
                    f"inverted_residual_setting[{index}] has {branches} branches after a block of "
                    f"{previous_branches}; stages must go 1, 2, 3, 4 branches in order"
                )
            previous_branches = branches
        if len(stages) != NUM_STAGES:
            raise CodeError(f"inverted_residual_setting describes {len(stages)} stages; valid is {NUM_STAGES}")
        values = stem + [v for stage in stages for v in stage] + [row["last_channel"]]
        return cls.from_list(values)

    def to_row(self) -> dict[str, Any]:
        """The published pickle row's code fields (metrics not included)."""
        expanded = []
        for s, stage in enumerate(self.stages, start=1):
            expanded += [[s, list(stage.depths), list(stage.channels)] for _ in range(stage.blocks)]
        return {
            "embedding": self.to_list(),
            "inverted_residual_setting": expanded,
            "input_channel": list(self.stem),
            "last_channel": self.out_channels,
        }

    # -------------------------------------------------------------- identity
    @cached_property
    def arch_id(self) -> str:
        """Stable content hash of the canonical string: 16 hex digits, same everywhere."""
        return hashlib.sha256(self.to_string().encode("ascii")).hexdigest()[:16]

    @classmethod
    def parse(cls, value: ArchCode | str | Sequence[int] | Mapping[str, Any]) -> ArchCode:
        """Accept any of the code's forms: an ArchCode, a string, a list or a row."""
        if isinstance(value, ArchCode):
            return value
        if isinstance(value, str):
            return cls.from_string(value)
        if isinstance(value, Mapping):
            return cls.from_row(value)
        return cls.from_list(value)


def parse_many(lines: Iterable[str]) -> list[ArchCode]:
    """Parse official strings, one per item; errors name the 1-based line."""
    out = []
    for number, line in enumerate(lines, start=1):
        try:
            out.append(ArchCode.from_string(line))
        except CodeError as err:
            raise CodeError(f"line {number}: {err}") from None
    return out
