"""The object store: atomic writes with SHA-256, integrity checks, and no escaping the root."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from loopline.errors import IntegrityError, ObjectStoreError
from loopline.store import ObjectStore


def test_put_and_get_round_trip_with_hash(tmp_path: Path) -> None:
    objects = ObjectStore(str(tmp_path / "objects"))
    ref = objects.put_bytes("models/a/model.bin", b"weights")
    assert ref.sha256 == hashlib.sha256(b"weights").hexdigest()
    assert ref.size == 7
    assert objects.get_bytes("models/a/model.bin", sha256=ref.sha256) == b"weights"


def test_put_file_streams_and_hashes(tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    source.write_bytes(b"a,b\n" * 100_000)
    objects = ObjectStore(str(tmp_path / "objects"))
    ref = objects.put_file("sources/data.csv", source)
    assert ref.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    objects.verify("sources/data.csv", ref.sha256)


def test_no_temporary_files_remain(tmp_path: Path) -> None:
    objects = ObjectStore(str(tmp_path / "objects"))
    objects.put_bytes("x/y.txt", b"1")
    files = [p.name for p in (tmp_path / "objects").rglob("*") if p.is_file()]
    assert files == ["y.txt"]
    assert list(objects.list()) == ["x/y.txt"]


def test_tampered_object_is_refused(tmp_path: Path) -> None:
    objects = ObjectStore(str(tmp_path / "objects"))
    ref = objects.put_bytes("m/model.bin", b"original")
    (tmp_path / "objects" / "m" / "model.bin").write_bytes(b"tampered")
    with pytest.raises(IntegrityError, match="modified after it was written"):
        objects.get_bytes("m/model.bin", sha256=ref.sha256)
    with pytest.raises(IntegrityError):
        objects.verify("m/model.bin", ref.sha256)


@pytest.mark.parametrize(
    "key",
    ["../outside", "/etc/passwd", "a/../../b", "a//b", "a\\b", "", "~/x", "s3://b/k", "a/./../b"],
)
def test_escaping_keys_are_refused(tmp_path: Path, key: str) -> None:
    objects = ObjectStore(str(tmp_path / "objects"))
    with pytest.raises(ObjectStoreError, match="Refusing object key"):
        objects.put_bytes(key, b"x")
    assert not (tmp_path / "outside").exists()


def test_missing_object_is_a_clear_error(tmp_path: Path) -> None:
    objects = ObjectStore(str(tmp_path / "objects"))
    with pytest.raises(ObjectStoreError, match="No object"):
        objects.get_bytes("nope")


def test_fsspec_memory_backend_works_too() -> None:
    objects = ObjectStore("memory://loopline-test")
    ref = objects.put_bytes("a/b", b"xyz")
    assert objects.get_bytes("a/b", sha256=ref.sha256) == b"xyz"
    assert objects.exists("a/b")
