"""Reading untrusted pickles (the authors' published files) through an allow-list.

A pickle can name any importable callable and call it while loading, so the
plain ``pickle`` module must never see these files. This unpickler resolves
only the few globals that plain data and numpy arrays need; anything else is
refused with :class:`UnsafePickleError`, before it is imported.

Every way a file can be damaged (truncated, not a pickle at all, arguments the
allowed callables reject) becomes one :class:`~bench.errors.DataError` line
naming the file.
"""

from __future__ import annotations

import _compat_pickle
import io
import os
import pickle
from pathlib import Path
from typing import Any, BinaryIO

from bench.errors import BenchError, DataError

# What numpy arrays and scalars pickle through. Older numpy writes numpy.core, numpy 2 numpy._core:
# _reconstruct (protocols 0-4 and object arrays), _frombuffer (protocol 5: the raw bytes of the
# array, which numpy refuses to turn into object arrays), scalar (numpy scalars). None of them
# calls anything it is given: they only build arrays from bytes, a dtype and a shape.
_NUMPY = {
    (f"numpy.{core}.{module}", name)
    for core in ("core", "_core")
    for module, name in (("multiarray", "_reconstruct"), ("multiarray", "scalar"), ("numeric", "_frombuffer"))
}
_ALLOWED = _NUMPY | {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "complex"),
    ("collections", "OrderedDict"),
}
# Protocol 2 has no bytes opcode: bytes are written as _codecs.encode(<str>, "latin1"). Only that
# form is allowed (another codec name would make the loader import and run a codec module).
_LATIN1 = {"latin1", "latin-1", "iso-8859-1", "iso8859-1"}


class UnsafePickleError(DataError):
    """The pickle asked for a global that is not on the allow-list."""


def _latin1_encode(text: object, encoding: object = "utf-8", errors: object = "strict") -> bytes:
    latin1 = isinstance(encoding, str) and encoding.lower() in _LATIN1
    if not (isinstance(text, str) and latin1 and errors == "strict"):
        raise UnsafePickleError(
            f"refusing _codecs.encode with encoding {encoding!r}; "
            "only the latin1 form that protocol 2 uses for bytes is allowed"
        )
    return text.encode("latin-1")


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only allow-listed globals (plain data and numpy arrays)."""

    def find_class(self, module: str, name: str) -> Any:
        # Protocols 0-2 write Python 2 names (__builtin__.set); map them as pickle itself does, then
        # apply the allow-list to the Python 3 name.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        if (module, name) not in _ALLOWED:
            raise UnsafePickleError(
                f"refusing to load global {module}.{name} from an untrusted pickle; "
                "only builtins containers and numpy arrays are allowed"
            )
        import importlib
        import warnings

        with warnings.catch_warnings():  # numpy 2 warns that numpy.core is now numpy._core
            warnings.simplefilter("ignore", DeprecationWarning)
            return getattr(importlib.import_module(module), name)


def load_untrusted(source: str | Path | bytes | BinaryIO, name: str | None = None) -> Any:
    """Load an untrusted pickle from a path, bytes or binary file; ``name`` names bytes or a stream in errors.

    Example:
        >>> load_untrusted(pickle.dumps([{"top1": 1.5}]))
        [{'top1': 1.5}]
        >>> load_untrusted(pickle.dumps([1, 2])[:-3], name="half.pkl")
        Traceback (most recent call last):
        bench.errors.DataError: half.pkl is truncated: the pickle data ends early (an interrupted download?)
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        label = name or str(path)
        try:
            with path.open("rb") as f:
                if os.fstat(f.fileno()).st_size == 0:
                    raise DataError(f"pickle file {label!r} is empty (0 bytes)")
                return _load(f, label)
        except FileNotFoundError:
            raise BenchError(f"pickle file {label!r} does not exist") from None
        except OSError as err:
            raise DataError(f"pickle file {label!r} cannot be read: {err.strerror or err}") from None
    if isinstance(source, bytes):
        if not source:
            raise DataError(f"{name or 'pickle data'} is empty (0 bytes)")
        return _load(io.BytesIO(source), name or "pickle data")
    return _load(source, name or getattr(source, "name", None) or "pickle stream")


def _load(stream: BinaryIO, label: str) -> Any:
    try:
        return RestrictedUnpickler(stream).load()
    except UnsafePickleError as err:
        raise UnsafePickleError(f"{label}: {err}") from None
    except (EOFError, pickle.UnpicklingError) as err:
        if isinstance(err, EOFError) or "truncated" in str(err):
            raise DataError(f"{label} is truncated: the pickle data ends early (an interrupted download?)") from None
        raise DataError(f"{label} is not a valid pickle: {err}") from None
    except RecursionError:
        raise DataError(f"{label} nests its data too deeply to be loaded") from None
    except MemoryError:
        raise DataError(f"{label} asks for more memory than there is (damaged or not a pickle)") from None
    except Exception as err:  # noqa: BLE001 - any other failure is damaged content (bad opcode arguments)
        raise DataError(f"{label} is not a valid pickle: {type(err).__name__}: {err}") from None
