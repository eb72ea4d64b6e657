"""Reading a user's file: its bytes, or one line naming the file and what is wrong with it."""

from __future__ import annotations

from pathlib import Path

from bench.errors import BenchError, DataError


def read_user_bytes(path: str | Path, what: str, error: type[DataError] = DataError, *, allow_empty: bool = False,
                    hint: str = "") -> bytes:
    """The bytes of ``path`` (a ``what``: "image", "published file", ...); unreadable or (unless
    ``allow_empty``) empty raises ``error`` naming the file, with ``hint`` saying what to do.

    Example:
        >>> import tempfile
        >>> empty = Path(tempfile.mkdtemp()) / "a.png"; _ = empty.write_bytes(b"")
        >>> read_user_bytes(empty, "image")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        bench.errors.DataError: image '...a.png' is empty (0 bytes)
    """
    path = Path(path)
    tail = f"; {hint}" if hint else ""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise error(f"{what} {str(path)!r} cannot be read: {err.strerror or err}{tail}") from None
    if not data and not allow_empty:
        raise error(f"{what} {str(path)!r} is empty (0 bytes){tail}")
    return data


def check_output_dir(name: str, path: str | Path) -> Path:
    """``path`` (the option ``name``, e.g. ``out``) as a Path that is a directory or can be made one: no file stands
    in its place or on its way. Nothing is created (a refused request then leaves nothing behind).

    Example:
        >>> check_output_dir("out", "/dev/null/x")
        Traceback (most recent call last):
        bench.errors.BenchError: out='/dev/null/x' cannot be a directory (its parent '/dev/null' is a file); valid is a directory, created when absent
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise BenchError(f"{name}={str(path)!r} cannot be a directory; valid is a directory, created when absent")
    _check_parents(name, path, "cannot be a directory", "a directory, created when absent")
    return path


def check_output_file(name: str, path: str | Path) -> Path:
    """``path`` (the option ``name``) as a Path a file can be written to: not a directory, no file on its way.

    Example:
        >>> check_output_file("--out", "/tmp")
        Traceback (most recent call last):
        bench.errors.BenchError: --out='/tmp' is a directory; valid is a file path (its folder is created when absent)
    """
    path = Path(path)
    if path.is_dir():
        raise BenchError(f"{name}={str(path)!r} is a directory; valid is a file path (its folder is created when absent)")
    _check_parents(name, path, "cannot be written", "a file path (its folder is created when absent)")
    return path


def _check_parents(name: str, path: Path, refusal: str, valid: str) -> None:
    """The nearest existing ancestor of ``path`` must be a directory."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise BenchError(f"{name}={str(path)!r} {refusal} (its parent {str(parent)!r} is a file); valid is {valid}")
            return
