"""Access to the authors' reference data in ../shared, for tests that compare against it.

Tests that need it call :func:`reference_rows`, which skips with a clear
message where ../shared is absent; the data is never copied into the project.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from bench.safe_pickle import load_untrusted

REFERENCE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "nasbench_mr"


@cache
def _load(name: str) -> list:
    return load_untrusted(REFERENCE_DIR / name)


def reference_rows(name: str) -> list:
    """Rows of ``../shared/nasbench_mr/<name>``, or skip the test saying what is missing."""
    path = REFERENCE_DIR / name
    if not path.exists():
        pytest.skip(f"reference data {path} is absent (the authors' pickles live in ../shared/nasbench_mr)")
    return _load(name)
