"""The NAS-Bench-MR results store (Parquet on any filesystem); see docs/store.md.

Compaction and the integrity check are :func:`bench.store.compact.compact` and
:func:`bench.store.verify.verify`; the published files are imported by
:func:`bench.store.official.import_official`.

Example:
    >>> import tempfile
    >>> from bench.store import Store
    >>> Store.open(tempfile.mkdtemp()).settings()
    []
"""

from bench.store.fs import StoreError
from bench.store.query import join_settings
from bench.store.record import RUN_STATUSES, RunKey, RunRecord
from bench.store.resume import ResumeStatus, resume_status
from bench.store.schema import SCHEMA_VERSION
from bench.store.store import Store, StoreWarning

__all__ = [
    "RUN_STATUSES", "SCHEMA_VERSION", "ResumeStatus", "RunKey", "RunRecord", "Store", "StoreError", "StoreWarning",
    "join_settings", "resume_status",
]
