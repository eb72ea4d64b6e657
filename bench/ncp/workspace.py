"""Reusable scratch arrays for the search's hot loop.

A propagation step on 1,000 codes makes megabyte-sized intermediates; allocating them
fresh every step lets the allocator hand the pages back to the system and fault them in
again, which measured about as slow as the arithmetic itself (``benchmarks/bench_ncp.py``).
Each step writes into the same arrays instead (numpy's ``out=``).
"""

from __future__ import annotations

import numpy as np


class Workspace:
    """Named scratch arrays, reallocated only when the requested shape or dtype changes.

    An array handed out is overwritten by the next request of the same name, so only
    intermediates go here, never results; not for concurrent use.

    Example:
        >>> ws = Workspace()
        >>> a = ws.get("h", (2, 3), np.float32)
        >>> ws.get("h", (2, 3), np.float32) is a, ws.get("h", (4, 3), np.float32).shape
        (True, (4, 3))
    """

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
        """An uninitialised array of ``shape`` and ``dtype`` under ``name``."""
        array = self._arrays.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = self._arrays[name] = np.empty(shape, dtype=dtype)
        return array
