"""How a query names an architecture, and how close two architectures of one space are.

A NAS-Bench-MR architecture can be given as its official string, an
:class:`~bench.code.ArchCode`, the list of 27 integers, or its 16-hex-digit
``arch_id``; a NAS-Bench-201 cell (setting ``nb201``) as its six per-edge
operation indices (``"3_1_0_4_3_2"`` or a list) or its ``arch_id``.

Distances (for :meth:`bench.Benchmark.neighbours`): NAS-Bench-MR codes are
compared field by field on each field's position among its choices, scaled to
[0, 1] (a channel step of 8 is 1/15, a block step 1/3), summed; NAS-Bench-201
cells by the number of edges whose operation differs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pyarrow as pa

from bench import nb201
from bench.code import FIELD_CHOICES, FIELD_NAMES, ArchCode
from bench.errors import CodeError

ARCH_ID = re.compile(r"[0-9a-f]{16}")

CodeLike = str | ArchCode | Sequence[int]


def arch_id_of(code: CodeLike, space: str) -> str:
    """The ``arch_id`` of ``code`` in ``space`` (``nasbench_mr`` or ``nb201``); CodeError if it is no valid code.

    Example:
        >>> arch_id_of("0123456789abcdef", "nasbench_mr")
        '0123456789abcdef'
    """
    if isinstance(code, str):
        text = code.strip()
        return text if ARCH_ID.fullmatch(text) else _id_of_string(text, space)
    if isinstance(code, ArchCode):
        if space == "nb201":
            raise CodeError(f"an ArchCode cannot name a NAS-Bench-201 cell; give its six op indices such as "
                            f"{nb201.EXAMPLE!r} or its arch_id")
        return code.arch_id
    if isinstance(code, (list, tuple, np.ndarray)):
        return nb201.cell_arch_id(nb201.ops_of(code)) if space == "nb201" else ArchCode.from_list(list(code)).arch_id
    raise CodeError(f"code {code!r} ({type(code).__name__}) is invalid; give an official string, an ArchCode, "
                    "a list of 27 integers or a 16-hex-digit arch_id")


@lru_cache(maxsize=1 << 16)
def _id_of_string(text: str, space: str) -> str:
    # Search loops ask for the same few thousand strings over and over: parse and hash each once.
    if space == "nb201":
        return nb201.cell_arch_id(nb201.ops_of(text))
    return ArchCode.from_string(text).arch_id



def code_matrix(view: pa.Table, space: str) -> np.ndarray:
    """One row per row of ``view``: positions in [0, 1] (NAS-Bench-MR) or op indices (NAS-Bench-201)."""
    if space == "nb201":
        return np.array([nb201.ops_of(c) for c in view["code"].to_pylist()], dtype=np.int8).reshape(-1, nb201.EDGES)
    columns = [_positions(name, view[name].to_numpy()) for name in FIELD_NAMES]
    return np.stack(columns, axis=1) if columns else np.zeros((0, len(FIELD_NAMES)))


def code_vector(code: CodeLike, space: str) -> np.ndarray:
    """The row :func:`code_matrix` would give ``code`` (it need not be in any table)."""
    if space == "nb201":
        return np.array(nb201.ops_of(code), dtype=np.int8)
    values = ArchCode.parse(code).to_list()
    return np.array([_positions(n, np.array([v]))[0] for n, v in zip(FIELD_NAMES, values)])


def distances(matrix: np.ndarray, vector: np.ndarray, space: str) -> np.ndarray:
    """Distance of ``vector`` to every row of ``matrix`` (see the module docstring)."""
    if space == "nb201":
        return (matrix != vector).sum(axis=1).astype(np.float64)
    return np.abs(matrix - vector).sum(axis=1)


def _positions(field: str, values: np.ndarray) -> np.ndarray:
    choices = np.array(FIELD_CHOICES[field])
    return np.searchsorted(choices, values) / (len(choices) - 1)
