"""Train/validation splits of a setting's table (``predictor.split=``).

- ``arch_id`` (ours): arch ids ordered by ``sha256(f"{seed}:{arch_id}")``; the first
  ``n_val`` validate, the next ``n_train`` train. Independent of row order and the same
  for every setting holding the same architectures.
- ``authors`` (the released code's, SPEC section 5): the PUBLISHED row order
  (``official_index``), ``numpy.random.seed(233)``, then scikit-learn's
  ``train_test_split(test_size=0.2)``, i.e. validation = the first ceil(0.2 N) entries of
  ``numpy.random.permutation(N)``, training = the rest (502 / 2,005 of 2,507 rows).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from bench.errors import BenchError

SPLITS = ("arch_id", "authors")
AUTHORS_SEED = 233
AUTHORS_VAL_SHARE = 0.2


@dataclass(frozen=True)
class Split:
    """Which arch ids train and which validate (validation in the split's own order)."""

    kind: str
    seed: int
    train_ids: tuple[str, ...]
    val_ids: tuple[str, ...]

    def rows(self, arch_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row indices (train, val) of a table with these ``arch_ids``, each in the split's order."""
        position = {a: i for i, a in enumerate(map(str, arch_ids))}
        return (np.array([position[a] for a in self.train_ids if a in position], dtype=np.int64),
                np.array([position[a] for a in self.val_ids if a in position], dtype=np.int64))


def split_by_arch_id(arch_ids: np.ndarray, seed: int, n_train: int = 2000, n_val: int = 500) -> Split:
    """Order ids by ``sha256(seed:arch_id)``: the first ``n_val`` validate, the next ``n_train`` train.

    With fewer than ``n_train + n_val`` ids the two parts keep their ratio.

    Example:
        >>> s = split_by_arch_id(np.array(["a", "b", "c", "d", "e"]), seed=0, n_train=4, n_val=1)
        >>> len(s.train_ids), len(s.val_ids), set(s.train_ids) & set(s.val_ids)
        (4, 1, set())
    """
    ids = sorted(set(map(str, arch_ids)), key=lambda a: hashlib.sha256(f"{seed}:{a}".encode()).hexdigest())
    if len(ids) < n_train + n_val:
        n_val = max(1, round(len(ids) * n_val / (n_train + n_val)))
        n_train = len(ids) - n_val
    return Split("arch_id", seed, tuple(ids[n_val : n_val + n_train]), tuple(ids[:n_val]))


def arch_id_folds(arch_ids: np.ndarray, seed: int, k: int) -> list[Split]:
    """K-fold cross-validation by arch id: ids ordered by ``sha256(seed:arch_id)`` are dealt
    round-robin into ``k`` folds; split ``f`` validates on fold ``f`` and trains on the rest,
    so every id validates exactly once over the ``k`` splits.

    Raises:
        BenchError: ``k`` < 2 or more folds than ids.

    Example:
        >>> folds = arch_id_folds(np.array(list("abcdefg")), seed=0, k=3)
        >>> sorted(a for f in folds for a in f.val_ids) == list("abcdefg"), [len(f.val_ids) for f in folds]
        (True, [3, 2, 2])
    """
    ids = sorted(set(map(str, arch_ids)), key=lambda a: hashlib.sha256(f"{seed}:{a}".encode()).hexdigest())
    if not 2 <= k <= len(ids):
        raise BenchError(f"cross-validation needs 2 <= folds <= {len(ids)} (the arch ids); got folds={k}")
    return [Split(f"arch_id_fold{f}/{k}", seed, tuple(a for i, a in enumerate(ids) if i % k != f), tuple(ids[f::k]))
            for f in range(k)]


def authors_split(official_index: np.ndarray, arch_ids: np.ndarray, setting: str = "?") -> Split:
    """The released code's split of a published table, by its row order ``official_index``.

    Needs every published row (``official_index`` exactly 0..N-1): the permutation is
    over N, so a table with rows missing or added would shift every other row.

    Example:
        >>> s = authors_split(np.arange(2507), np.array([f"a{i}" for i in range(2507)]))
        >>> len(s.train_ids), len(s.val_ids), s.val_ids[:3]
        (2005, 502, ('a979', 'a71', 'a675'))
    """
    index = np.asarray(official_index)
    n = len(index)
    if n == 0 or np.any(index < 0) or not np.array_equal(np.sort(index), np.arange(n)):
        missing = int((index < 0).sum())
        raise BenchError(
            f"predictor.split=authors needs setting {setting!r} as published: every row with its published position "
            f"(official_index 0..N-1); this table has {n} rows, {missing} without a published position"
            f"{'' if missing else ' and positions that are not 0..N-1'}. Use predictor.split=arch_id"
        )
    permutation = np.random.RandomState(AUTHORS_SEED).permutation(n)  # == numpy.random.seed(233); permutation(n)
    n_val = math.ceil(AUTHORS_VAL_SHARE * n)
    by_position = np.empty(n, dtype=object)
    by_position[index] = np.asarray(arch_ids, dtype=str)
    return Split("authors", AUTHORS_SEED, tuple(by_position[permutation[n_val:]]), tuple(by_position[permutation[:n_val]]))
