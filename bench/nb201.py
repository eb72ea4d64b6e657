"""A NAS-Bench-201 cell as this project names it: one operation index on each of six edges.

The authors' published ``nb201`` pickle gives each cell as a one-hot ``embedding`` of
6 edges x 5 operations (edge-major). The file does not name its operation order, so the
project reports op INDICES, never guessed names. A cell's ``code`` in the store is its
indices joined by ``_`` (``"3_1_0_4_3_2"``) and its ``arch_id`` 16 hex digits of
``sha256("nb201:" + code)``, apart from every NAS-Bench-MR id. Every reader (the import,
the query API, the search) decodes cells through this module only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.errors import CodeError

EDGES = 6
NUM_OPS = 5
WIDTH = EDGES * NUM_OPS
EXAMPLE = "3_1_0_4_3_2"


def ops_of_onehot(embedding: Any, where: str = "NAS-Bench-201 cell") -> tuple[int, ...]:
    """Op indices of a one-hot ``embedding`` (30 numbers: exactly one 1 per edge of 5).

    Raises:
        CodeError: naming ``where``, when it is not numbers, not 30 of them, or not one-hot per edge.

    Example:
        >>> ops_of_onehot(np.eye(5)[[3, 1, 3, 0, 2, 4]].reshape(-1))
        (3, 1, 3, 0, 2, 4)
    """
    try:
        onehot = np.asarray(embedding, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise CodeError(f"{where}: embedding={embedding!r} is not a list of numbers ({err})") from None
    if onehot.shape != (WIDTH,):
        raise CodeError(f"{where}: embedding has shape {onehot.shape}; valid is ({WIDTH},), one-hot per edge")
    per_edge = onehot.reshape(EDGES, NUM_OPS)
    if not (np.isin(per_edge, (0.0, 1.0)).all() and (per_edge.sum(axis=1) == 1).all()):
        raise CodeError(f"{where}: embedding {onehot.tolist()} is not one one-hot of {NUM_OPS} ops per edge")
    return tuple(int(i) for i in per_edge.argmax(axis=1))


def ops_of(code: str | Sequence[int]) -> tuple[int, ...]:
    """Op indices of a cell given as ``"3_1_0_4_3_2"`` or a sequence of six indices, validated.

    Raises:
        CodeError: when it is not six integers in 0..4.
    """
    try:
        ops = tuple(int(v) for v in (code.split("_") if isinstance(code, str) else code))
    except (TypeError, ValueError):
        ops = ()
    if len(ops) != EDGES or not all(0 <= op < NUM_OPS for op in ops):
        raise CodeError(f"NAS-Bench-201 cell {code!r} is invalid; valid is {EDGES} op indices in "
                        f"0..{NUM_OPS - 1} joined by '_', such as {EXAMPLE!r}")
    return ops


def cell_code(ops: Sequence[int]) -> str:
    """The store's ``code`` of a cell: its op indices joined by ``_``."""
    return "_".join(str(int(op)) for op in ops)


def cell_arch_id(ops: Sequence[int]) -> str:
    """The store's ``arch_id`` of a cell: 16 hex digits of sha256 of ``nb201:`` + its code.

    Example:
        >>> len(cell_arch_id((3, 1, 0, 4, 3, 2)))
        16
    """
    return hashlib.sha256(("nb201:" + cell_code(ops)).encode()).hexdigest()[:16]
