"""Dataset write locks on PostgreSQL: one writer per dataset and store, not per database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopline.data._locks import dataset_lock
from loopline.store import Store, open_store
from tests.conftest import _postgres_schema_url


@pytest.fixture
def two_stores() -> Iterator[tuple[Store, Store]]:
    """Two stores that are two schemas of one PostgreSQL database."""
    first, second = _postgres_schema_url(), _postgres_schema_url()
    stores = open_store(next(first)), open_store(next(second))
    yield stores
    for store, urls in zip(stores, (first, second), strict=True):
        store.dispose()
        next(urls, None)  # drops the schema


def _lock_in_thread(home: Path, store: Store, held: threading.Event, done: threading.Event) -> None:
    with dataset_lock(home, store, "credit"):
        held.set()
        done.wait(60)


def test_a_dataset_of_another_schema_is_not_blocked(
    two_stores: tuple[Store, Store], tmp_path: Path
) -> None:
    mine, theirs = two_stores
    held, done = threading.Event(), threading.Event()
    with dataset_lock(tmp_path / "a", mine, "credit"):
        # the same dataset name in the other project's store: taken while ours is held
        other = threading.Thread(target=_lock_in_thread, args=(tmp_path / "b", theirs, held, done))
        other.start()
        taken_meanwhile = held.wait(30)
    done.set()
    other.join()
    assert taken_meanwhile


def test_the_same_dataset_of_the_same_store_waits(
    two_stores: tuple[Store, Store], tmp_path: Path
) -> None:
    mine, _ = two_stores
    held, done = threading.Event(), threading.Event()
    waiter = threading.Thread(target=_lock_in_thread, args=(tmp_path / "b", mine, held, done))
    with dataset_lock(tmp_path / "a", mine, "credit"):
        waiter.start()
        assert not held.wait(0.5)  # another machine's writer (another home) waits for ours
    assert held.wait(30)  # and takes the lock once ours is released
    done.set()
    waiter.join()
