"""JSON documents of the search: plain Python values, non-finite numbers as null, written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np


def jsonable(value: Any) -> Any:
    """numpy scalars/arrays -> plain Python, NaN/inf -> None, recursively (for ``json.dumps``).

    Example:
        >>> jsonable({"a": np.float32(1.5), "b": [float("nan")], "c": np.arange(2)})
        {'a': 1.5, 'b': [None], 'c': [0, 1]}
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_json(path: str | Path, document: Any) -> Path:
    """Write ``document`` as indented JSON (through a temporary file, so a reader never sees half of it)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(jsonable(document), indent=2, allow_nan=False))
    os.replace(tmp, path)
    return path
