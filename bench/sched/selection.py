"""Which architectures a sweep trains: the frozen list, the published list, a file, a shard, a range, the smallest few.

A selection is data (one frozen dataclass, filled from ``conf/sweep/*.yaml``)
and :func:`select_codes` turns it into codes in one place. The steps compose
in a fixed order: source list -> ``smallest`` -> ``start:stop`` range ->
shard ``index`` of ``count``. Sharding is round-robin (code ``i`` goes to
shard ``i % count``), so shards stay balanced in cost whatever the range.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.code import ArchCode
from bench.cost import CostSpec, cost_batch
from bench.errors import BenchError, check_int
from bench.sched.codes import FROZEN_CODES, REPO_ROOT, expected_sha256, read_code_list
from bench.sched.published import PUBLISHED_CODES

SOURCES = ("frozen", "published", "imported", "file", "retry_failed")
STORE_SOURCES = ("imported", "retry_failed")
"""Sources whose codes come from the store: the sweep resolves them (:func:`bench.sched.sweep.sweep_jobs`)."""


@dataclass(frozen=True)
class Selection:
    """A sweep's choice of codes.

    - ``source``: ``frozen`` (the hashed 2,500-code list), ``published`` (the hashed list of
      the published benchmark's 2,507 codes, in published row order), ``imported`` (the
      codes of the store's imported published tables, in the same order), ``file``
      (``codes_file``, unchecked unless ``sha256`` is given) or ``retry_failed`` (the
      failed runs already in the store). ``imported`` and ``retry_failed`` are resolved
      against the store by the sweep, not here.
    - ``smallest``: keep only the N cheapest codes by classification GFLOPs
      (smoke runs: real benchmark codes that train in seconds on a CPU).
    - ``start``/``stop``: a Python-style slice of the list.
    - ``shard_index``/``num_shards``: round-robin shard.
    """

    name: str = "full"
    source: str = "frozen"
    codes_file: str | None = None
    sha256: str | None = None
    smallest: int | None = None
    start: int | None = None
    stop: int | None = None
    shard_index: int = 0
    num_shards: int = 1

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise BenchError(f"sweep source {self.source!r} is unknown; valid sources are {list(SOURCES)}")
        if self.source == "file" and not self.codes_file:
            raise BenchError("sweep source 'file' needs sweep.codes_file=PATH (official code strings, one per line)")
        check_int("sweep.num_shards", self.num_shards, 1)
        if not isinstance(self.shard_index, int) or not 0 <= self.shard_index < self.num_shards:
            raise BenchError(
                f"sweep.shard_index={self.shard_index!r} is invalid; valid is 0..{self.num_shards - 1} "
                f"for sweep.num_shards={self.num_shards}"
            )
        if self.smallest is not None and (not isinstance(self.smallest, int) or self.smallest < 1):
            raise BenchError(f"sweep.smallest={self.smallest!r} is invalid; valid is null or an integer >= 1")
        for name in ("start", "stop"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise BenchError(f"sweep.{name}={value!r} is invalid; valid is null or an integer index")


def resolve_path(path: str) -> Path:
    """A relative code-list path is taken from the repository root (where data_manifests/ lives)."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else REPO_ROOT / candidate


def source_codes(selection: Selection) -> list[ArchCode]:
    """The list a selection starts from (the frozen list is verified against its hash)."""
    if selection.source in ("frozen", "published"):
        default = FROZEN_CODES if selection.source == "frozen" else PUBLISHED_CODES
        path = resolve_path(selection.codes_file) if selection.codes_file else default
        return read_code_list(path, selection.sha256 or expected_sha256(path))
    if selection.source == "file":
        return read_code_list(resolve_path(selection.codes_file), selection.sha256)
    raise BenchError(f"sweep source {selection.source!r} is resolved from the store by the sweep, not from a file")


def select_codes(selection: Selection, codes: list[ArchCode] | None = None) -> list[ArchCode]:
    """Apply a selection to ``codes`` (default: its source list), keeping the list's order.

    Example:
        >>> from bench.space import sample_codes
        >>> codes = sample_codes(10, seed=0)
        >>> picked = select_codes(Selection(start=2, stop=8, shard_index=1, num_shards=2), codes)
        >>> picked == [codes[3], codes[5], codes[7]]
        True
    """
    codes = source_codes(selection) if codes is None else list(codes)
    if selection.smallest is not None and codes:
        _, flops = cost_batch(np.array([c.to_list() for c in codes]), CostSpec())
        keep = set(np.argsort(flops, kind="stable")[: selection.smallest].tolist())
        codes = [c for i, c in enumerate(codes) if i in keep]
    codes = codes[selection.start : selection.stop]
    return codes[selection.shard_index :: selection.num_shards]
