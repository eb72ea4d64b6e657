"""The NAS-Bench-MR results store (Parquet on any filesystem); see docs/store.md.

Example:
    >>> import tempfile
    >>> from bench.store import Store
    >>> Store.open(tempfile.mkdtemp()).settings()
    []
"""

from bench.store.fs import StoreError
from bench.store.record import RUN_STATUSES, RunKey, RunRecord
from bench.store.resume import ResumeStatus
from bench.store.schema import SCHEMA_VERSION
from bench.store.store import Store, StoreWarning

__all__ = ["RUN_STATUSES", "SCHEMA_VERSION", "ResumeStatus", "RunKey", "RunRecord", "Store", "StoreError", "StoreWarning"]
