"""Closed-form params and FLOPs of a code, in the benchmark's counting convention.

Convention (SPEC section 3): params = conv weights + 2 per BatchNorm channel +
classifier weight and bias; FLOPs = per conv ``H_out * W_out * C_in * C_out * k * k``
+ 2 x the elements every BatchNorm outputs + the classifier's bias elements.
ReLU, additions, interpolation and pooling count nothing. The published
columns are the classification network, 50 classes, 1 x 3 x 128 x 128.

The formula works on plain ints (one code) and on numpy integer columns
(many codes at once, which is what search needs), since it only uses
arithmetic. It reads the code by field name (``bench.code.FIELD_NAMES``),
never by position.

Command line (official strings, one per line; ``-`` reads stdin)::

    python -m bench.cost codes.txt [--input H W] [--classes K] [--head cls|seg|video|det] [--frames T]

prints ``code,params_m,gflops``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from bench.code import FIELD_NAMES, NUM_STAGES, ArchCode
from bench.errors import BenchError, CodeError, check_int

COST_HEADS = ("cls", "seg", "video", "det")


@dataclass(frozen=True)
class CostSpec:
    """What network and input to count: the benchmark's convention by default.

    ``frames`` is used by the video head only (clips of T frames; the 2D network
    runs once per frame). ``det`` is the fused-map network of 3D detection (no
    classifier; stem input channels ``in_channels``, 64 for PointPillars).
    """

    head: str = "cls"
    input_hw: tuple[int, int] = (128, 128)
    num_classes: int = 50
    in_channels: int = 3
    frames: int = 8

    def __post_init__(self) -> None:
        if self.head not in COST_HEADS:
            raise BenchError(f"head={self.head!r} is unknown; valid heads are {list(COST_HEADS)}")
        for name, value in (("input height", self.input_hw[0]), ("input width", self.input_hw[1]),
                            ("num_classes", self.num_classes), ("in_channels", self.in_channels),
                            ("frames", self.frames)):
            check_int(name, value, 1)


BENCHMARK_SPEC = CostSpec()


@dataclass(frozen=True)
class Cost:
    """Exact integer counts; ``params_m`` and ``gflops`` are the published units."""

    params: int
    flops: int

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    @property
    def gflops(self) -> float:
        return self.flops / 1e9


def _halve(size: int) -> int:
    return (size + 1) // 2  # output size of a 3x3 stride-2 conv with padding 1


# Field names per stage, built once: f-strings in the hot loop cost more than the arithmetic.
_STAGE_KEYS = tuple(
    (f"b{s}", tuple(f"n{s}_{k}" for k in range(1, s + 1)), tuple(f"c{s}_{k}" for k in range(1, s + 1)))
    for s in range(1, NUM_STAGES + 1)
)


@lru_cache(maxsize=64)
def _areas(input_hw: tuple[int, int]) -> tuple[int, ...]:
    return tuple(h * w for h, w in branch_sizes(input_hw))


def branch_sizes(input_hw: tuple[int, int]) -> list[tuple[int, int]]:
    """(height, width) of branches 0..3 for an input size: 1/4, 1/8, 1/16, 1/32."""
    h, w = _halve(_halve(input_hw[0])), _halve(_halve(input_hw[1]))
    sizes = [(h, w)]
    for _ in range(NUM_STAGES - 1):
        h, w = _halve(h), _halve(w)
        sizes.append((h, w))
    return sizes


def cost_of_fields(fields: Mapping[str, Any], spec: CostSpec = BENCHMARK_SPEC) -> tuple[Any, Any]:
    """(params, flops) from the code's named fields; values may be ints or numpy arrays.

    Written as straight arithmetic with few calls: it is the lookup table T(.) of
    winner-takes-all search and runs in tight loops.
    """
    areas = _areas(spec.input_hw)
    h, w = spec.input_hw
    i1, i2 = fields["i1"], fields["i2"]
    # stem: CBR(3, 2) in -> i1 at 1/2, CBR(3, 2) i1 -> i2 at 1/4
    params = 9 * spec.in_channels * i1 + 2 * i1 + 9 * i1 * i2 + 2 * i2
    flops = _halve(h) * _halve(w) * (9 * spec.in_channels * i1 + 2 * i1) + areas[0] * (9 * i1 * i2 + 2 * i2)

    channels = [i2]
    for s, (block_key, depth_keys, channel_keys) in enumerate(_STAGE_KEYS, start=1):
        blocks = fields[block_key]
        out = [fields[key] for key in channel_keys]
        # The first fusion of a stage may differ (new branch); the other b - 1 are s -> s.
        first_p, first_f = _fusion(channels, out, areas)
        same_p, same_f = _fusion(out, out, areas)
        unit_p = unit_f = 0
        for k, depth_key in enumerate(depth_keys):
            c = out[k]
            per_unit = fields[depth_key] * (18 * c * c + 4 * c)  # two conv3x3 + two BN
            unit_p = unit_p + per_unit
            unit_f = unit_f + per_unit * areas[k]
        params = params + first_p + (blocks - 1) * same_p + blocks * unit_p
        flops = flops + first_f + (blocks - 1) * same_f + blocks * unit_f
        channels = out

    concat, o, k = channels[0] + channels[1] + channels[2] + channels[3], fields["o"], spec.num_classes
    transform = concat * o + 2 * o  # CBR(1, 1)
    if spec.head == "cls":
        params = params + transform + o * k + k
        flops = flops + areas[-1] * transform + o * k + k
    elif spec.head in ("seg", "det"):
        params = params + transform
        flops = flops + areas[0] * transform
        if spec.head == "seg":
            params, flops = params + o * k + k, flops + areas[0] * (o * k + k)
    else:  # video: per-frame 2D network, then a 3x3x3 Conv3d + BN3d over (T, h, w)
        t = spec.frames
        params = params + concat * o * 27 + 2 * o + o * k + k
        flops = flops * t + t * areas[-1] * (concat * o * 27 + 2 * o) + o * k + k
    return params, flops


def _fusion(in_ch: Sequence[Any], out_ch: Sequence[Any], areas: Sequence[int]) -> tuple[Any, Any]:
    """Cost of one fusion module from len(in_ch) branches to len(out_ch)."""
    params: Any = 0
    flops: Any = 0
    m = len(in_ch)
    for i in range(m):
        c_out = out_ch[i]
        bn = 2 * c_out
        same = 9 * in_ch[i] * c_out + bn  # CBR(3, 1) from the same branch
        params = params + same
        flops = flops + areas[i] * same
        if i + 1 < m:  # CBR(1, 1) from the lower branch, at its own (smaller) size
            up = in_ch[i + 1] * c_out + bn
            params = params + up
            flops = flops + areas[i + 1] * up
        if i > 0:  # CBR(3, 2) from the higher branch
            down = 9 * in_ch[i - 1] * c_out + bn
            params = params + down
            flops = flops + areas[i] * down
    if len(out_ch) > m:  # new branch: CBR(3, 2) from the fused branch m - 1
        new = 9 * out_ch[m - 1] * out_ch[m] + 2 * out_ch[m]
        params = params + new
        flops = flops + areas[m] * new
    return params, flops


def cost(code: ArchCode | str, spec: CostSpec = BENCHMARK_SPEC) -> Cost:
    """Exact params and FLOPs of one code.

    Example:
        >>> c = cost("16_16-1_1_1_16-1_2_1_1_16_16-1_3_1_1_1_16_16_16-1_4_1_1_1_1_16_16_16_16-16")
        >>> c.params_m, c.gflops
        (0.082658, 0.040917842)
    """
    code = ArchCode.parse(code)
    params, flops = cost_of_fields(dict(zip(FIELD_NAMES, code.to_list())), spec)
    return Cost(int(params), int(flops))


def cost_batch(codes: np.ndarray, spec: CostSpec = BENCHMARK_SPEC) -> tuple[np.ndarray, np.ndarray]:
    """Params and FLOPs (int64 arrays) of an (N, 27) integer array of codes, vectorised.

    The array is trusted to hold valid codes (search clips and rounds before it
    calls this); use :class:`ArchCode` to validate user input.
    """
    codes = np.asarray(codes, dtype=np.int64)
    if codes.ndim != 2 or codes.shape[1] != len(FIELD_NAMES):
        raise CodeError(f"cost_batch needs an (N, {len(FIELD_NAMES)}) array of codes, got shape {codes.shape}")
    fields = {name: codes[:, i] for i, name in enumerate(FIELD_NAMES)}
    params, flops = cost_of_fields(fields, spec)
    n = len(codes)
    return np.broadcast_to(params, (n,)).astype(np.int64), np.broadcast_to(flops, (n,)).astype(np.int64)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("file", help="official code strings, one per line; '-' reads stdin")
    parser.add_argument("--input", nargs=2, type=int, metavar=("H", "W"), default=list(BENCHMARK_SPEC.input_hw))
    parser.add_argument("--classes", type=int, default=None, help="default: 50 (cls), 19 (seg), 51 (video)")
    parser.add_argument("--head", choices=COST_HEADS, default="cls")
    parser.add_argument("--frames", type=int, default=BENCHMARK_SPEC.frames, help="clip length for --head video")
    parser.add_argument("--in-channels", type=int, default=None, help="stem input channels (default 3; 64 for det)")
    args = parser.parse_args(argv)
    classes = args.classes if args.classes is not None else {"seg": 19, "video": 51}.get(args.head, 50)
    in_channels = args.in_channels if args.in_channels is not None else (64 if args.head == "det" else 3)
    try:
        spec = CostSpec(args.head, tuple(args.input), classes, in_channels, args.frames)
    except BenchError as err:
        parser.error(str(err))
    try:
        stream = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")
    except OSError as err:
        print(f"error: cannot read {args.file!r}: {err.strerror}", file=sys.stderr)
        return 2
    with stream:
        lines = stream.read().splitlines()
    rows, errors = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            code = ArchCode.from_string(line)
        except CodeError as err:
            errors.append(f"line {number}: {err}")
            continue
        c = cost(code, spec)
        rows.append(f"{code.to_string()},{c.params / 1e6:.6f},{c.flops / 1e9:.9f}\n")
    sys.stdout.write("code,params_m,gflops\n" + "".join(rows))
    for message in errors:
        print(f"error: {message}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
