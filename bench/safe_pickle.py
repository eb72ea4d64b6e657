"""Reading untrusted pickles (the authors' published files) through an allow-list.

A pickle can name any importable callable and call it while loading, so the
plain ``pickle`` module must never see these files. This unpickler resolves
only the few globals that plain data and numpy arrays need; anything else is
refused with :class:`UnsafePickleError`, before it is imported.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any, BinaryIO

from bench.errors import BenchError

# numpy arrays and scalars pickle through these; older numpy wrote numpy.core, newer numpy._core.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "complex"),
    ("collections", "OrderedDict"),
}


class UnsafePickleError(BenchError):
    """The pickle asked for a global that is not on the allow-list."""


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only allow-listed globals (plain data and numpy arrays)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise UnsafePickleError(
                f"refusing to load global {module}.{name} from an untrusted pickle; "
                "only builtins containers and numpy arrays are allowed"
            )
        import importlib

        return getattr(importlib.import_module(module), name)


def load_untrusted(source: str | Path | bytes | BinaryIO) -> Any:
    """Load an untrusted pickle from a path, bytes or binary file.

    Example:
        >>> load_untrusted(pickle.dumps([{"top1": 1.5}]))
        [{'top1': 1.5}]
    """
    if isinstance(source, bytes):
        return RestrictedUnpickler(io.BytesIO(source)).load()
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            with path.open("rb") as f:
                return RestrictedUnpickler(f).load()
        except FileNotFoundError:
            raise BenchError(f"pickle file {str(path)!r} does not exist") from None
        except (pickle.UnpicklingError, EOFError) as err:
            if isinstance(err, UnsafePickleError):
                raise UnsafePickleError(f"{path}: {err}") from None
            raise BenchError(f"{path} is not a valid pickle: {err}") from None
    return RestrictedUnpickler(source).load()
