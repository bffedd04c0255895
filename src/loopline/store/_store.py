"""The metadata store: one SQLAlchemy engine, migrated to the latest schema on open."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from loopline.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["Store", "open_store"]

_MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATION = "[0-9][0-9][0-9][0-9]_*.py"  # a migration file: its number is its revision id
_PG_MIGRATION_LOCK = 0x6C6F6F70  # "loop": advisory lock id held while migrating PostgreSQL


class Store:
    """The metadata store: datasets, versions, lineage, audit trail and (later) models, cases…

    Use :func:`open_store`, which migrates the schema; then :meth:`transaction` for every unit
    of work. A transaction commits as a whole or not at all.

    Args:
        url: A SQLAlchemy URL: ``sqlite:///path.db`` or ``postgresql+psycopg://…``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = _create_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error.

        Raises:
            StoreError: The database cannot be reached or refused the write.
        """
        session = self._sessions()
        try:
            yield session
            session.commit()
        except OperationalError as exc:
            session.rollback()
            raise _unavailable(self.url, exc) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def revision(self) -> str | None:
        """The schema revision the database is at (``None`` before the first migration).

        Read from Alembic's ``alembic_version`` table directly: opening the store does not
        import Alembic unless there is a migration to run (its import cost every command
        a few tenths of a second).
        """
        try:
            with self.engine.connect() as connection:
                if not inspect(connection).has_table("alembic_version"):
                    return None
                found = connection.execute(text("SELECT version_num FROM alembic_version"))
                revisions = list(found.scalars())
        except OperationalError as exc:
            raise _unavailable(self.url, exc) from exc
        if len(revisions) > 1:
            raise StoreError(
                f"The database records several schema revisions: {sorted(revisions)}.",
                hint="loopline's migrations are linear; was the database migrated by another "
                "tool? Check its alembic_version table.",
            )
        return revisions[0] if revisions else None

    @staticmethod
    def head() -> str:
        """The newest schema revision this version of loopline knows: the highest migration
        file's number (each file ``NNNN_*.py`` is revision ``NNNN``; a test checks this equals
        Alembic's own head)."""
        numbers = [path.name[:4] for path in _MIGRATIONS.joinpath("versions").glob(_MIGRATION)]
        if not numbers:  # pragma: no cover - the package always ships migrations
            raise StoreError("loopline ships no migrations; the installation is broken.")
        return max(numbers)

    def upgrade(self) -> tuple[str | None, str]:
        """Apply every pending migration; safe when several processes open the store at once.

        Returns:
            The revision before and after.
        """
        before = self.revision()
        if before == self.head():
            return before, before
        with self._migration_lock():
            before = self.revision()
            if before != self.head():
                from alembic import command

                try:
                    with self.engine.begin() as connection:
                        config = _alembic_config(self.url)
                        config.attributes["connection"] = connection
                        command.upgrade(config, "head")
                except OperationalError as exc:
                    raise _unavailable(self.url, exc) from exc
                except SQLAlchemyError as exc:
                    raise StoreError(
                        f"Migrating the metadata store failed: {exc}",
                        hint="The database was left at its previous revision. "
                        "Check the database user may create tables, then run "
                        "`loopline db upgrade`.",
                    ) from exc
        return before, self.head()

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if self.dialect == "postgresql":
            with self.engine.connect() as connection:
                connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
                try:
                    yield
                finally:
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK}
                    )
            return
        database = self.engine.url.database
        if not database or database == ":memory:":
            yield
            return
        with open(f"{database}.migrate.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open the metadata store at ``url`` and bring its schema to the latest revision.

    For SQLite the folder is created when missing.

    Raises:
        StoreError: The database cannot be reached, with what to check.
    """
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    store = Store(url)
    if migrate:
        store.upgrade()
    return store


def _create_engine(url: str) -> Engine:
    try:
        if url.startswith("sqlite"):
            engine = create_engine(
                url,
                poolclass=NullPool,
                connect_args={"timeout": 30},
                json_serializer=_json_text,
            )
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin_immediate)
            return engine
        return create_engine(
            url, pool_pre_ping=True, pool_size=5, max_overflow=10, json_serializer=_json_text
        )
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise StoreError(
            f"Cannot use the database URL {_redact(url)}: {exc}",
            hint="Use sqlite:///path/to/file.db, or postgresql+psycopg://user@host:5432/db "
            "with `pip install 'loopline[postgres]'`.",
        ) from exc


_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _json_text(value: Any) -> str:
    """JSON columns' text: orjson, several times faster than ``json.dumps`` (the serving path
    writes five JSON values per review case). Non-finite floats become ``null``, as JSON has no
    NaN (PostgreSQL's ``jsonb`` refuses the ``NaN`` that ``json.dumps`` writes)."""
    return orjson.dumps(value, option=_JSON_OPTIONS).decode()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Python's sqlite3 opens transactions lazily; take control so BEGIN IMMEDIATE works.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    # Writers take the lock when the transaction starts, so two writers queue up instead of
    # failing with "database is locked" half-way through.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _redact(url: str) -> str:
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else f"{scheme}://{user}@{host}"


def _unavailable(url: str, exc: DBAPIError) -> StoreError:
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    return StoreError(
        f"Cannot reach the metadata store at {_redact(url)}: {reason}",
        hint="Check LOOPLINE_DATABASE_URL, that the database server is running and accepts "
        "connections, and that the user may log in.",
    )
