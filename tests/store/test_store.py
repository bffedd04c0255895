"""The metadata store on SQLite and PostgreSQL: migrations, atomic transactions, the audit trail."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import DBAPIError

from loopline.errors import StoreError
from loopline.store import AuditEvent, Base, Dataset, Store, list_audit, open_store, record_audit


def test_open_migrates_to_head(store: Store) -> None:
    assert store.revision() == Store.head()
    tables = set(inspect(store.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_the_head_and_the_revision_are_alembic_s(store: Store) -> None:
    # the store reads both without Alembic (head from the files' numbers, the revision from
    # alembic_version): they must be what Alembic itself says
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from loopline.store._store import _alembic_config

    assert (
        Store.head() == ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head()
    )
    with store.engine.connect() as connection:
        assert store.revision() == MigrationContext.configure(connection).get_current_revision()


def test_a_database_before_its_first_migration_has_no_revision(tmp_path: Path) -> None:
    blank = Store(f"sqlite:///{tmp_path / 'blank.db'}")
    assert blank.revision() is None
    before, after = blank.upgrade()
    assert (before, after) == (None, Store.head())
    assert blank.revision() == Store.head()
    blank.dispose()


def test_migrations_match_the_models(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_second_open_is_a_no_op(database_url: str) -> None:
    first = open_store(database_url)
    second = open_store(database_url)
    before, after = second.upgrade()
    assert before == after == Store.head()
    first.dispose()
    second.dispose()


def test_interrupted_transaction_leaves_nothing(store: Store) -> None:
    def write_then_crash() -> None:
        with store.transaction() as session:
            session.add(Dataset(name="half", created_by="me"))
            session.flush()
            record_audit(
                session, actor="me", action="dataset.create", target_type="dataset", target="half"
            )
            raise RuntimeError("crash half-way")

    with pytest.raises(RuntimeError):
        write_then_crash()
    with store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Dataset)) == 0
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_committed_transaction_is_visible_to_a_new_connection(database_url: str) -> None:
    writer = open_store(database_url)
    with writer.transaction() as session:
        session.add(Dataset(name="kept", created_by="me"))
    reader = open_store(database_url)
    with reader.transaction() as session:
        assert session.scalars(select(Dataset.name)).all() == ["kept"]
    writer.dispose()
    reader.dispose()


def test_audit_event_records_who_what_why(store: Store) -> None:
    with store.transaction() as session:
        record_audit(
            session,
            actor="ana",
            action="model.promote",
            target_type="model_version",
            target="credit@3",
            before={"state": "challenger"},
            after={"state": "champion"},
            reason="won the A/B test",
        )
    with store.transaction() as session:
        [event] = list_audit(session, action="model.")
        assert (event.actor, event.target, event.reason) == ("ana", "credit@3", "won the A/B test")
        assert event.after == {"state": "champion"}
        assert event.at.tzinfo is not None


def test_audit_trail_is_append_only_in_the_database(store: Store) -> None:
    with store.transaction() as session:
        record_audit(session, actor="a", action="x.y", target_type="t", target="1")
    for statement in ("UPDATE audit_events SET actor = 'b'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), store.transaction() as session:
            session.execute(text(statement))


def test_audit_filters(store: Store) -> None:
    with store.transaction() as session:
        for actor, action in [
            ("a", "dataset.ingest"),
            ("b", "dataset.ingest"),
            ("a", "model.promote"),
        ]:
            record_audit(session, actor=actor, action=action, target_type="t", target="x")
    with store.transaction() as session:
        assert len(list_audit(session, actor="a")) == 2
        assert len(list_audit(session, action="dataset")) == 2
        assert [e.action for e in list_audit(session, limit=1)] == ["model.promote"]


def test_unreachable_database_is_a_clear_store_error() -> None:
    with pytest.raises(StoreError) as caught:
        open_store("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    assert "Cannot reach the metadata store" in caught.value.message
    assert caught.value.hint is not None
    assert "LOOPLINE_DATABASE_URL" in caught.value.hint


def test_password_is_redacted_in_errors() -> None:
    with pytest.raises(StoreError) as caught:
        open_store("postgresql+psycopg://u:secret@127.0.0.1:1/db?connect_timeout=2")
    assert "secret" not in str(caught.value)
