"""Reading users' dataset files: hidden files skipped, text decoded strictly, decoder errors made readable.

Every dataset scan goes through :func:`visible` so that hidden files (``.*``)
and the ``._*`` AppleDouble files a Mac writes beside every file it copies
(binary, and named like the file they describe) are never taken for data.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from bench.errors import DataError
from bench.userfiles import read_user_bytes


class DataLayoutError(DataError):
    """A dataset root is missing or is not laid out as the dataset's distribution is."""


def is_hidden(name: str) -> bool:
    """True for ``.DS_Store``, ``._n01440764_10026.JPEG`` and other dot files.

    Example:
        >>> is_hidden("._brush_hair_test_split1.txt"), is_hidden("brush_hair_test_split1.txt")
        (True, False)
    """
    return name.startswith(".")


def visible(folder: Path) -> Iterator[os.DirEntry[str]]:
    """The entries of ``folder`` that are not hidden, in no particular order."""
    with os.scandir(folder) as entries:
        yield from (e for e in entries if not is_hidden(e.name))


def read_text_lines(path: Path, what: str, error: type[DataError] = DataLayoutError) -> list[str]:
    """The lines of a UTF-8 text file (a byte-order mark is allowed), or one DataError line naming it.

    Example:
        >>> import tempfile
        >>> f = Path(tempfile.mkdtemp()) / "split.txt"
        >>> _ = f.write_bytes(b"\\x00\\x05\\x16\\x07\\x00\\x02\\x00\\x00Mac OS X \\xff")
        >>> read_text_lines(f, "split file")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        tasks.data.files.DataLayoutError: split file ... is not UTF-8 text (byte 0xff at offset 17); ...
    """
    data = read_user_bytes(path, what, error, allow_empty=True)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise error(
            f"{what} {str(path)!r} is not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start}); "
            "is it a binary file?"
        ) from None
    if "\x00" in text:
        raise error(f"{what} {str(path)!r} holds NUL bytes; it is a binary file, not text")
    return text.splitlines()


# torchvision prefixes its C++ errors with "<function>, <source file>:<line>, ": say what, not where.
_CPP_LOCATION = re.compile(r"^[\w:<>() ]+, \S+\.(?:cpp|cc|h):\d+, ")


def decoder_reason(err: BaseException) -> str:
    """A decoder's error as one short line (torchvision's C++ source location dropped).

    Example:
        >>> decoder_reason(RuntimeError("decode_jpeg, /w/csrc/decode_jpeg.cpp:171, Image is incomplete"))
        'Image is incomplete'
    """
    text = " ".join(str(err).split()) or type(err).__name__
    return _CPP_LOCATION.sub("", text)
