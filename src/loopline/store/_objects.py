"""The object store: artifacts and data files on fsspec, written atomically with SHA-256.

Keys are relative POSIX paths (``models/credit/3/model.pkl``). A key that is absolute, contains
``..``, a backslash or a NUL byte is refused, so no caller can reach outside the store's root.
Writes go to a temporary name first and are renamed into place, so a reader never sees a
half-written object; on stores without atomic rename (S3) the upload itself is atomic.
"""

from __future__ import annotations

import hashlib
import posixpath
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import fsspec

from loopline.errors import IntegrityError, ObjectStoreError

__all__ = ["ObjectRef", "ObjectStore"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ObjectRef:
    """A stored object: its key, size and SHA-256 of its bytes."""

    key: str
    sha256: str
    size: int


class ObjectStore:
    """Artifacts and files under one root URL (a local folder or ``s3://bucket/prefix``).

    Args:
        url: The root: a local path or any fsspec URL.
        storage_options: Extra options for the fsspec file system (credentials, endpoint).
    """

    def __init__(self, url: str, **storage_options: Any) -> None:
        self.url = url.rstrip("/")
        try:
            self.fs, root = fsspec.core.url_to_fs(self.url, **storage_options)
        except (ImportError, ValueError) as exc:
            raise ObjectStoreError(
                f"Cannot open the object store {url!r}: {exc}",
                hint="For s3:// URLs install the extra: pip install 'loopline[s3]'.",
            ) from exc
        self.root = str(root).rstrip("/")
        self._local = "file" in _protocols(self.fs)
        if self._local:
            Path(self.root).mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> str:
        """The full path of ``key`` inside the store.

        Raises:
            ObjectStoreError: The key would escape the store or is malformed.
        """
        return f"{self.root}/{_safe_key(key)}"

    def put_bytes(self, key: str, data: bytes) -> ObjectRef:
        """Store ``data`` under ``key`` atomically and return its reference."""
        return self._write(key, [data])

    def put_file(self, key: str, source: Path | str) -> ObjectRef:
        """Copy a local file into the store atomically, hashing it on the way."""
        try:
            with open(source, "rb") as handle:
                return self._write(key, iter(lambda: handle.read(_CHUNK), b""))
        except OSError as exc:
            raise ObjectStoreError(
                f"Cannot read {source}: {exc.strerror or exc}",
                hint="Check that the file exists and is readable.",
            ) from exc

    def get_bytes(self, key: str, *, sha256: str | None = None) -> bytes:
        """Read an object whole; with ``sha256``, refuse it when its bytes do not match.

        Raises:
            ObjectStoreError: The object does not exist.
            IntegrityError: The object's SHA-256 differs from the one given.
        """
        path = self.path(key)
        try:
            with self.fs.open(path, "rb") as handle:
                data: bytes = handle.read()
        except FileNotFoundError as exc:
            raise ObjectStoreError(
                f"No object {key!r} in the store at {self.url}.",
                hint="It may have been deleted; check the store's root and the key.",
            ) from exc
        if sha256 is not None:
            _verify(key, hashlib.sha256(data).hexdigest(), sha256)
        return data

    def open(self, key: str, mode: str = "rb") -> IO[bytes]:
        """Open an object for reading (writes must go through ``put_*``)."""
        if "r" not in mode or "+" in mode:
            raise ValueError("objects are opened read-only; write with put_bytes or put_file")
        try:
            handle: IO[bytes] = self.fs.open(self.path(key), mode)
        except FileNotFoundError as exc:
            raise ObjectStoreError(f"No object {key!r} in the store at {self.url}.") from exc
        return handle

    def verify(self, key: str, sha256: str) -> None:
        """Check an object's bytes against its recorded SHA-256 without loading it whole.

        Raises:
            IntegrityError: The bytes changed since they were written.
        """
        digest = hashlib.sha256()
        with self.open(key) as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(chunk)
        _verify(key, digest.hexdigest(), sha256)

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        return bool(self.fs.exists(self.path(key)))

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys under ``prefix``, sorted."""
        base = self.path(prefix) if prefix else self.root
        if not self.fs.exists(base):
            return
        for path in sorted(self.fs.find(base)):
            key = str(path)[len(self.root) + 1 :]
            if ".tmp-" not in posixpath.basename(key):
                yield key

    def delete(self, key: str) -> None:
        """Remove an object (used to discard artifacts of a failed, unregistered run)."""
        path = self.path(key)
        if self.fs.exists(path):
            self.fs.rm(path)

    def _write(self, key: str, chunks: Any) -> ObjectRef:
        final = self.path(key)
        parent = posixpath.dirname(final)
        temporary = f"{parent}/.{posixpath.basename(final)}.tmp-{uuid.uuid4().hex}"
        digest = hashlib.sha256()
        size = 0
        try:
            if self._local:
                Path(parent).mkdir(parents=True, exist_ok=True)
            with self.fs.open(temporary, "wb") as handle:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    handle.write(chunk)
            self.fs.mv(temporary, final)
        except OSError as exc:
            if self.fs.exists(temporary):
                self.fs.rm(temporary)
            raise ObjectStoreError(
                f"Cannot write {key!r} to the object store at {self.url}: {exc}",
                hint="Check free space and write permission on the store's root.",
            ) from exc
        return ObjectRef(key=_safe_key(key), sha256=digest.hexdigest(), size=size)


def _safe_key(key: str) -> str:
    bad = (
        not isinstance(key, str)
        or not key
        or key.startswith(("/", "~"))
        or "\\" in key
        or "\x00" in key
        or "://" in key
        or any(part in ("..", "") for part in key.split("/"))
    )
    if bad:
        raise ObjectStoreError(
            f"Refusing object key {key!r}: keys are relative paths inside the store.",
            hint="Use a relative POSIX path without '..', empty parts or a leading '/'.",
        )
    return posixpath.normpath(key)


def _verify(key: str, actual: str, expected: str) -> None:
    if actual != expected:
        raise IntegrityError(
            f"Object {key!r} was modified after it was written: its SHA-256 is {actual[:12]}…, "
            f"the recorded one is {expected[:12]}….",
            hint="Do not edit stored artifacts. Restore the original, or register a new version.",
        )


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
