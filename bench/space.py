"""The search space: seeded, machine-independent uniform sampling of codes.

Sampling must give the same 2,500 codes on every machine, Python and numpy
version, because the frozen code list of the benchmark is defined by it.
Library PRNG streams are not promised to stay stable across versions, so
candidates are drawn from SHA-256 of ``(seed, index)``: each of the 27 fields
takes one digest byte, and since both choice sets have a power-of-two size
(4 and 16) ``byte % size`` is exactly uniform.

Command line::

    python -m bench.space sample --n 2500 --seed 0
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys

from bench.code import FIELD_CHOICES, ArchCode
from bench.errors import BenchError, check_int

DEFAULT_NUM_CODES = 2500
DEFAULT_SEED = 0
SPACE_SIZE = math.prod(len(choices) for choices in FIELD_CHOICES.values())


def code_at(seed: int, index: int) -> ArchCode:
    """The ``index``-th candidate of the stream for ``seed`` (may repeat earlier ones)."""
    digest = hashlib.sha256(f"nasbench-mr:{seed}:{index}".encode()).digest()
    values = [
        choices[byte % len(choices)] for choices, byte in zip(FIELD_CHOICES.values(), digest)
    ]
    return ArchCode.from_list(values)


def sample_codes(n: int = DEFAULT_NUM_CODES, seed: int = DEFAULT_SEED) -> list[ArchCode]:
    """``n`` distinct codes drawn uniformly at random, identical for the same seed everywhere.

    Example:
        >>> [c.to_string() for c in sample_codes(2, seed=0)] == [c.to_string() for c in sample_codes(2, seed=0)]
        True
    """
    check_int("n", n, 0)
    seen: set[ArchCode] = set()
    out: list[ArchCode] = []
    index = 0
    while len(out) < n:
        code = code_at(seed, index)
        index += 1
        if code not in seen:
            seen.add(code)
            out.append(code)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.space", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sample = sub.add_parser("sample", help="print N official code strings, one per line")
    sample.add_argument("--n", type=int, default=DEFAULT_NUM_CODES)
    sample.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    try:
        codes = sample_codes(args.n, args.seed)
    except BenchError as err:
        parser.error(str(err))
    sys.stdout.write("".join(c.to_string() + "\n" for c in codes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
