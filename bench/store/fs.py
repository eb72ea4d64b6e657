"""The store's view of its filesystem: a root plus the few operations it needs.

A local directory is handled with ``os`` directly, because that is where the
atomicity guarantees are strongest and cheapest: write a hidden temporary file
in the same directory, fsync it, then ``os.replace`` (or ``os.link`` for
create-if-absent) it into place. A reader therefore sees a file whole or not
at all, and a process killed mid-write leaves only a hidden ``.tmp-*`` file
that no listing returns.

Any other URI goes through fsspec (``s3://``, ``gs://``, ``memory://``, ...).
Object stores make a single PUT visible atomically, so a whole-object write
is the rename's equivalent there; create-if-absent is a conditional PUT
(``If-None-Match: *``, fsspec's ``mode="create"``) where the back-end has one
(S3 and S3-compatible servers such as MinIO), else an existence check followed
by the PUT, which is still safe for the store because every file name is
either content-addressed or deduplicated by key on read.

Two things differ from fsspec's defaults, because several processes share a
store: directory listings are never cached (s3fs and gcsfs cache them per
process, which hid other processes' commits and snapshots), and an object
store's bucket is never created implicitly (``makedirs`` on s3fs creates a
missing bucket; a typo in a URI must be an error, not a new bucket).
Credentials and endpoints come from the back-end's usual sources (environment
variables, its config files, fsspec's configuration); see docs/store.md.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec

from bench.errors import BenchError

TMP_PREFIX = ".tmp-"
OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})
"""URI schemes of bucket-based object stores: no directories, and the bucket must already exist."""
CLOUD_EXTRA = "pip install -e '.[cloud]'"


class StoreError(BenchError):
    """The store cannot do what was asked (bad URI, conflicting data, unreadable file)."""


class StoreFS:
    """Root-relative file operations on a local directory or any fsspec URI.

    Example:
        >>> import tempfile
        >>> fs = StoreFS(tempfile.mkdtemp())
        >>> fs.write_atomic("a/b.txt", b"hi"); fs.read("a/b.txt")
        b'hi'
    """

    def __init__(self, uri: str, fsync: bool = True) -> None:
        self.fsync = fsync
        if not isinstance(uri, (str, os.PathLike)) or not str(uri):
            raise StoreError(f"store URI {uri!r} is invalid; give a directory path or a URI such as s3://bucket/store")
        uri = str(uri)
        self.uri = uri
        self.local = "://" not in uri or uri.startswith("file://")
        self.object_store = False
        if self.local:
            self.root = Path(uri.removeprefix("file://")).expanduser().resolve()
            self._fs = None
        else:
            self.object_store = fsspec.utils.get_protocol(uri) in OBJECT_STORES
            self._bucket_checked = False
            try:
                # Never cache listings: other processes commit and compact under us.
                self._fs, self.root_path = fsspec.core.url_to_fs(uri, use_listings_cache=False)
            except ImportError as err:
                raise StoreError(f"cannot open store URI {uri!r}: {err}; the object-store back-ends "
                                 f"(s3fs, gcsfs, adlfs) come with the cloud extra: {CLOUD_EXTRA}") from None
            except ValueError as err:
                raise StoreError(f"cannot open store URI {uri!r}: {err}") from None

    # ------------------------------------------------------------------ paths
    def full(self, rel: str) -> str:
        """The absolute path (local) or URI (remote) of a root-relative path."""
        if self.local:
            return str(self.root / rel)
        return self._fs.unstrip_protocol(f"{self.root_path}/{rel}")

    def _remote(self, rel: str) -> str:
        return f"{self.root_path}/{rel}" if rel else self.root_path

    # ------------------------------------------------------------------ writes
    def makedirs(self, rel: str) -> None:
        """Create a directory and its parents; on an object store (no directories) check the bucket exists."""
        if self.local:
            (self.root / rel).mkdir(parents=True, exist_ok=True)
        elif self.object_store:
            self._check_bucket()
        else:
            self._fs.makedirs(self._remote(rel), exist_ok=True)

    def _check_bucket(self) -> None:
        if self._bucket_checked:
            return
        bucket = self.root_path.split("/", 1)[0]
        try:
            found = self._fs.exists(bucket)
        except (PermissionError, OSError) as err:
            raise StoreError(f"cannot reach bucket {bucket!r} of store {self.uri!r}: {err}; check the endpoint and "
                             "credentials (docs/store.md, 'Object stores')") from None
        if not found:
            raise StoreError(f"bucket {bucket!r} of store {self.uri!r} does not exist or these credentials cannot see "
                             "it; create it first (the store never creates buckets)")
        self._bucket_checked = True

    def write_atomic(self, rel: str, data: bytes) -> None:
        """Write ``data`` so that readers see the old file, or the new one whole; never a part."""
        if not self.local:
            self._fs.pipe_file(self._remote(rel), data)
            return
        target = self.root / rel
        tmp = self._write_tmp(target, data)
        os.replace(tmp, target)
        self._sync_dir(target.parent)

    def _sync_dir(self, directory: Path) -> None:
        """Make a new directory entry survive a power cut (the file's bytes were synced already)."""
        if not self.fsync:
            return
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def write_new(self, rel: str, data: bytes) -> bool:
        """Create ``rel`` with ``data`` unless it exists; True if this call created it."""
        if not self.local:
            try:
                # A conditional PUT where the back-end has one (S3: If-None-Match), else check-then-write.
                self._fs.pipe_file(self._remote(rel), data, mode="create")
            except FileExistsError:
                return False
            return True
        target = self.root / rel
        tmp = self._write_tmp(target, data)
        try:
            os.link(tmp, target)  # fails if target exists: an atomic create-if-absent
            self._sync_dir(target.parent)
            return True
        except FileExistsError:
            return False
        except OSError:
            # A filesystem without hard links: check, then rename (the names are content-addressed
            # or deduplicated by key on read, so losing this race duplicates nothing).
            if target.exists():
                return False
            os.replace(tmp, target)
            return True
        finally:
            if tmp.exists():
                os.unlink(tmp)

    def _write_tmp(self, target: Path, data: bytes) -> Path:
        tmp = target.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}-{target.name}"
        for _ in range(3):
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with open(tmp, "wb") as f:
                    f.write(data)
                    f.flush()
                    if self.fsync:  # off only for scratch stores (benchmarks): a power cut may lose recent commits
                        os.fsync(f.fileno())
                return tmp
            except FileNotFoundError:
                continue  # a compaction removed the (empty) directory between mkdir and open
        raise StoreError(f"cannot create {tmp}: its directory keeps disappearing")

    def remove(self, rel: str) -> None:
        """Delete a file; a file already gone is fine (another process got there first)."""
        try:
            if self.local:
                os.unlink(self.root / rel)
            else:
                self._fs.rm_file(self._remote(rel))
        except FileNotFoundError:
            pass

    def move(self, rel: str, dest: str) -> None:
        if self.local:
            (self.root / dest).parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.root / rel, self.root / dest)
        else:
            self._fs.mv(self._remote(rel), self._remote(dest))

    # ------------------------------------------------------------------ reads
    def read(self, rel: str) -> bytes:
        if self.local:
            with open(self.root / rel, "rb") as f:
                return f.read()
        return self._fs.cat_file(self._remote(rel))

    def age_s(self, rel: str) -> float:
        """Seconds since the file was last modified (0 where the filesystem cannot say)."""
        try:
            if self.local:
                return time.time() - os.stat(self.root / rel).st_mtime
            info = self._fs.info(self._remote(rel))
            modified = info.get("mtime") or info.get("LastModified")
            return time.time() - modified.timestamp() if hasattr(modified, "timestamp") else 0.0
        except (FileNotFoundError, TypeError, ValueError):
            return 0.0

    def exists(self, rel: str) -> bool:
        if self.local:
            return (self.root / rel).exists()
        return self._fs.exists(self._remote(rel))

    def listdir(self, rel: str) -> list[str]:
        """Names of the visible entries of a directory (no temporaries); [] if it does not exist."""
        if self.local:
            try:
                names = [e.name for e in os.scandir(self.root / rel)]
            except (FileNotFoundError, NotADirectoryError):
                return []
        else:
            try:
                names = [p.rstrip("/").rsplit("/", 1)[-1] for p in self._fs.ls(self._remote(rel), detail=False)]
            except FileNotFoundError:
                return []
        return sorted(n for n in names if not n.startswith(TMP_PREFIX))

    def remove_empty_dirs(self, rel: str) -> None:
        """Remove empty directories under ``rel`` (not ``rel``), so listings stay fast once files are compacted."""
        if not self.local:
            return  # object stores have no directories to leave behind
        for directory, _, _ in sorted(os.walk(self.root / rel), key=lambda entry: -len(entry[0])):
            if Path(directory) != self.root / rel:
                try:
                    os.rmdir(directory)
                except OSError:
                    pass  # not empty (a new commit arrived): keep it

    def remove_stale_tmp(self, rel: str, older_than_s: float) -> int:
        """Delete temporaries left by killed writers anywhere under a local directory; returns how many."""
        if not self.local:
            return 0  # object stores have no temporaries: a PUT is whole or absent
        removed, now = 0, time.time()
        for directory, _, names in os.walk(self.root / rel):
            for name in names:
                if not name.startswith(TMP_PREFIX):
                    continue
                path = Path(directory) / name
                try:  # a live writer renames its temporary into place at any moment: gone is not an error
                    if now - path.stat().st_mtime > older_than_s:
                        path.unlink()
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed


def walk_files(fs: StoreFS, rel: str) -> list[str]:
    """Root-relative paths of every visible file under ``rel`` (recursive, sorted)."""
    return sorted(iter_files(fs, rel))


def iter_files(fs: StoreFS, rel: str) -> Iterator[str]:
    """Like :func:`walk_files`, unsorted and lazy: memory stays bounded however many files there are."""
    if fs.local:
        stack = [rel]
        while stack:
            current = stack.pop()
            try:
                entries = os.scandir(fs.root / current)
            except (FileNotFoundError, NotADirectoryError):
                continue
            with entries:
                for entry in entries:
                    if entry.name.startswith(TMP_PREFIX):
                        continue
                    path = f"{current}/{entry.name}"
                    if entry.is_dir():
                        stack.append(path)
                    else:
                        yield path
        return
    try:
        found = fs._fs.find(fs._remote(rel))
    except FileNotFoundError:
        return
    prefix = fs._remote("")
    for path in found:
        relpath = path[len(prefix):].lstrip("/") if path.startswith(prefix) else path
        if not relpath.rsplit("/", 1)[-1].startswith(TMP_PREFIX):
            yield relpath
