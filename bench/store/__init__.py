"""The NAS-Bench-MR results store (Parquet on any filesystem); see docs/store.md.

Example:
    >>> import tempfile
    >>> from bench.store import Store
    >>> Store.open(tempfile.mkdtemp()).settings()
    []
"""

from bench.store.compact import CompactionReport, compact
from bench.store.fs import StoreError
from bench.store.query import join_settings
from bench.store.record import RUN_STATUSES, RunKey, RunRecord
from bench.store.resume import ResumeStatus, resume_status
from bench.store.schema import SCHEMA_VERSION
from bench.store.store import Store, StoreWarning
from bench.store.verify import VerifyReport, verify

__all__ = [
    "RUN_STATUSES", "SCHEMA_VERSION", "CompactionReport", "ResumeStatus", "RunKey", "RunRecord", "Store", "StoreError",
    "StoreWarning", "VerifyReport", "compact", "join_settings", "resume_status", "verify",
]
