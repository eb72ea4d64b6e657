"""The frozen code list: the benchmark's 2,500 architectures, fixed once, checked on every use.

``sample_codes(2500, seed=0)`` is machine-independent, but a list on disk is
what a months-long sweep must be pinned to: if the sampler or the code type
ever changed, a resumed sweep would silently train a different benchmark. So
the list lives in ``data_manifests/codes-2500-seed0.txt`` (one official code
string per line) beside ``codes-2500-seed0.txt.sha256`` (``sha256sum`` format),
and ``sweep=full`` refuses a list whose hash does not match.

Command line::

    python -m bench.sched.codes freeze   # (re)write the list and its hash from the sampler
    python -m bench.sched.codes verify   # check the list against its hash and the sampler
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from bench.code import ArchCode, parse_many
from bench.errors import BenchError
from bench.space import DEFAULT_NUM_CODES, DEFAULT_SEED, sample_codes

REPO_ROOT = Path(__file__).resolve().parents[2]
MANIFEST_DIR = REPO_ROOT / "data_manifests"
FROZEN_CODES = MANIFEST_DIR / f"codes-{DEFAULT_NUM_CODES}-seed{DEFAULT_SEED}.txt"


class CodeListError(BenchError):
    """A code list file is missing, unreadable or does not match its hash."""


def hash_path(path: Path) -> Path:
    """Where the sha256 of a code list lives: ``<list>.sha256`` beside it."""
    return path.with_name(path.name + ".sha256")


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_code_list(path: Path, codes: list[ArchCode], header: tuple[str, ...] = ()) -> str:
    """Write ``codes`` (one official string a line, after ``# header`` lines) and their sha256 beside; return it."""
    text = "".join(f"# {line}\n" for line in header) + "".join(code.to_string() + "\n" for code in codes)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    digest = hashlib.sha256(text.encode()).hexdigest()
    hash_path(path).write_text(f"{digest}  {path.name}\n")
    return digest


def freeze_codes(path: Path = FROZEN_CODES, n: int = DEFAULT_NUM_CODES, seed: int = DEFAULT_SEED) -> str:
    """Write ``n`` sampled codes to ``path`` and their sha256 beside it; return the hash."""
    return write_code_list(path, sample_codes(n, seed))


def expected_sha256(path: Path) -> str:
    """The hash recorded beside ``path`` (first field of its ``.sha256`` file)."""
    recorded = hash_path(path)
    if not recorded.is_file():
        raise CodeListError(f"no hash file {recorded} beside code list {path}; a frozen list needs one")
    fields = recorded.read_text().split()
    if not fields or len(fields[0]) != 64:
        raise CodeListError(f"hash file {recorded} does not start with a 64-digit sha256: {recorded.read_text()!r}")
    return fields[0]


def read_code_list(path: Path | str, sha256: str | None = None) -> list[ArchCode]:
    """Parse a file of official code strings (one per line, ``#`` comments and blanks ignored).

    With ``sha256`` given, the file's bytes must hash to it. Duplicates are an
    error: a sweep over a list with repeats would train an architecture twice.

    Example:
        >>> codes = read_code_list(FROZEN_CODES, expected_sha256(FROZEN_CODES))
        >>> len(codes)
        2500
    """
    path = Path(path)
    if not path.is_file():
        raise CodeListError(f"code list {path} does not exist; give a file of official code strings, one per line")
    if sha256 is not None:
        actual = file_sha256(path)
        if actual != sha256:
            raise CodeListError(
                f"code list {path} has sha256 {actual}, expected {sha256}: the frozen list was modified. "
                f"Restore it (git checkout {path.name}) or, for a different list, use sweep=file"
            )
    lines = [line.strip() for line in path.read_text().splitlines()]
    numbered = [(number, line) for number, line in enumerate(lines, start=1) if line and not line.startswith("#")]
    try:
        codes = parse_many(line for _, line in numbered)
    except BenchError as err:
        raise CodeListError(f"code list {path}: {err}") from None
    seen: dict[ArchCode, int] = {}
    for (number, _), code in zip(numbered, codes):
        if code in seen:
            raise CodeListError(f"code list {path}: line {number} repeats line {seen[code]} ({code.to_string()})")
        seen[code] = number
    return codes


def load_frozen(path: Path = FROZEN_CODES) -> list[ArchCode]:
    """The frozen benchmark list, verified against its recorded hash."""
    return read_code_list(path, expected_sha256(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sched.codes", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("freeze", "verify"))
    parser.add_argument("--path", type=Path, default=FROZEN_CODES)
    args = parser.parse_args(argv)
    if args.command == "freeze":
        print(f"{freeze_codes(args.path)}  {args.path}")
        return 0
    try:
        codes = load_frozen(args.path)
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if codes != sample_codes(len(codes), DEFAULT_SEED):
        print(f"error: {args.path} matches its hash but not sample_codes(seed={DEFAULT_SEED})", file=sys.stderr)
        return 1
    print(f"ok: {len(codes)} codes, sha256 {expected_sha256(args.path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
