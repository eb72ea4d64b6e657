"""Continuous views of a search space's codes: standardise, clip, round, decode.

Propagation moves codes through a continuous space. We fix that space from the
search space itself, not from any data set, so that every setting's predictor
and every multi-task gradient live in ONE coordinate system:

    z = (x - center) / scale

with ``center``/``scale`` the mean and standard deviation of each field under
the space's uniform sampling (b, n uniform on {1..4}; i, c, o uniform on
{8, 16, .., 128}). The same z is the "standardised code space" in which the
nearest stored architecture is found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench import nb201
from bench.code import BLOCK_CHOICES, CHANNEL_CHOICES, CHANNEL_FIELDS, FIELD_NAMES, ArchCode
from bench.errors import BenchError


@dataclass(frozen=True)
class CodeEncoding:
    """Per-dimension bounds, grid step and standardisation of a code space.

    ``lo``/``hi``/``unit`` describe the valid integer grid of every dimension
    (a channel moves by 8, a block count by 1); ``center``/``scale`` map raw
    values to the standardised space.
    """

    space: str
    names: tuple[str, ...]
    lo: np.ndarray
    hi: np.ndarray
    unit: np.ndarray
    center: np.ndarray
    scale: np.ndarray

    @property
    def dim(self) -> int:
        return len(self.names)

    def standardise(self, x: np.ndarray) -> np.ndarray:
        """Raw values (N, D) -> standardised z (N, D), float32."""
        return ((np.asarray(x, dtype=np.float64) - self.center) / self.scale).astype(np.float32)

    def unstandardise(self, z: np.ndarray) -> np.ndarray:
        """Standardised z (N, D) -> raw (continuous) values, float64."""
        return np.asarray(z, dtype=np.float64) * self.scale + self.center

    @property
    def z_lo(self) -> np.ndarray:
        return ((self.lo - self.center) / self.scale).astype(np.float32)

    @property
    def z_hi(self) -> np.ndarray:
        return ((self.hi - self.center) / self.scale).astype(np.float32)

    def round_raw(self, x: np.ndarray) -> np.ndarray:
        """Continuous raw values -> the nearest valid grid point of every dimension (int64)."""
        x = np.clip(np.asarray(x, dtype=np.float64), self.lo, self.hi)
        steps = np.rint((x - self.lo) / self.unit)
        return (self.lo + steps * self.unit).astype(np.int64)


def _uniform_stats(choices: tuple[int, ...]) -> tuple[float, float]:
    values = np.asarray(choices, dtype=np.float64)
    return float(values.mean()), float(values.std())


def _mr_encoding() -> CodeEncoding:
    is_channel = np.array([name in CHANNEL_FIELDS for name in FIELD_NAMES])
    ch_mean, ch_std = _uniform_stats(CHANNEL_CHOICES)
    bl_mean, bl_std = _uniform_stats(BLOCK_CHOICES)
    return CodeEncoding(
        space="nasbench_mr",
        names=FIELD_NAMES,
        lo=np.where(is_channel, CHANNEL_CHOICES[0], BLOCK_CHOICES[0]).astype(np.float64),
        hi=np.where(is_channel, CHANNEL_CHOICES[-1], BLOCK_CHOICES[-1]).astype(np.float64),
        unit=np.where(is_channel, 8, 1).astype(np.float64),
        center=np.where(is_channel, ch_mean, bl_mean),
        scale=np.where(is_channel, ch_std, bl_std),
    )


def _nb201_encoding() -> CodeEncoding:
    names = tuple(f"e{e}_op{k}" for e in range(nb201.EDGES) for k in range(nb201.NUM_OPS))
    p = 1.0 / nb201.NUM_OPS  # a uniformly drawn op sets each indicator with probability 1/5
    d = len(names)
    return CodeEncoding(
        space="nb201",
        names=names,
        lo=np.zeros(d),
        hi=np.ones(d),
        unit=np.ones(d),
        center=np.full(d, p),
        scale=np.full(d, np.sqrt(p * (1 - p))),
    )


MR_ENCODING = _mr_encoding()
NB201_ENCODING = _nb201_encoding()
ENCODINGS = {"nasbench_mr": MR_ENCODING, "nb201": NB201_ENCODING}


def encoding_for(space: str) -> CodeEncoding:
    """The encoding of a search space by name (``nasbench_mr`` or ``nb201``)."""
    try:
        return ENCODINGS[space]
    except KeyError:
        raise BenchError(f"unknown search space {space!r}; valid spaces are {sorted(ENCODINGS)}") from None


def codes_to_array(codes: list[ArchCode]) -> np.ndarray:
    """ArchCodes -> (N, 27) int64 array in FIELD_NAMES order."""
    return np.asarray([c.to_list() for c in codes], dtype=np.int64).reshape(len(codes), len(FIELD_NAMES))


def decode_mr(x: np.ndarray) -> list[ArchCode]:
    """Round continuous raw values (N, 27) to the grid and decode each row (validated).

    Example:
        >>> decode_mr(np.array([[59.0, 70, 2.4, 1.6, 20, 2, 2, 2, 64, 64, 2, 2, 2, 2, 64, 64, 64,
        ...                      2, 2, 2, 2, 2, 64, 64, 64, 64, 131]]))[0].to_string()
        '56_72-2_1_2_24-2_2_2_2_64_64-2_3_2_2_2_64_64_64-2_4_2_2_2_2_64_64_64_64-128'
    """
    return [ArchCode.from_list(row.tolist()) for row in MR_ENCODING.round_raw(x)]


def nb201_argmax(x: np.ndarray) -> np.ndarray:
    """Project (N, 30) scores to one-hot per edge (argmax of each edge's 5 values)."""
    x = np.asarray(x).reshape(len(x), nb201.EDGES, nb201.NUM_OPS)
    out = np.zeros_like(x, dtype=np.float32)
    np.put_along_axis(out, x.argmax(-1)[..., None], 1.0, axis=-1)
    return out.reshape(len(out), nb201.EDGES * nb201.NUM_OPS)
