"""Settings: the only place that reads the ``LOOPLINE_*`` environment.

Everything else receives a :class:`Settings` object. Defaults give the embedded setup: SQLite and
local files under ``<project>/.loopline``.

- ``LOOPLINE_PROJECT``: the project folder (holds ``loopline.yaml``); default: current folder.
- ``LOOPLINE_HOME``: where local state lives; default ``<project>/.loopline``.
- ``LOOPLINE_DATABASE_URL``: SQLAlchemy URL of the metadata store;
  default ``sqlite:///<home>/loopline.db``.
- ``LOOPLINE_OBJECT_STORE``: fsspec URL of the object store; default ``<home>/objects``.
- ``LOOPLINE_DATA_URI``: root of the Delta Lake dataset tables; default ``<home>/datasets``.
- ``LOOPLINE_OPENLINEAGE_URL``: HTTP endpoint for OpenLineage events; default: unset (file).
- ``LOOPLINE_OPENLINEAGE_FILE``: file events are appended to; default
  ``<home>/openlineage.jsonl``.
- ``LOOPLINE_ACTOR``: who is acting, for the audit trail; default: the OS user name.
- ``LOOPLINE_AUTH``: ``on`` or ``off`` (off only on loopback addresses); default ``on``.
- ``LOOPLINE_WEBHOOK_SECRET``: signs case-decision webhooks (HMAC-SHA256); default: unsigned.
- ``CI``: ``true`` makes ``loopline demo`` exit instead of serving.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from loopline.errors import SettingsError

__all__ = ["Settings", "load_settings"]


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Where loopline keeps its state and who is acting.

    Attributes:
        project_dir: The project folder, holding ``loopline.yaml``.
        home: The folder for local state (database, objects, datasets).
        database_url: SQLAlchemy URL of the metadata store.
        object_store_url: fsspec URL or local path of the object store.
        data_uri: Root of the Delta Lake tables holding dataset versions and quarantine.
        openlineage_url: HTTP endpoint OpenLineage events are posted to, if any.
        openlineage_file: JSON Lines file OpenLineage events are appended to.
        actor: The name recorded in the audit trail for actions taken.
        auth: Whether the HTTP server requires authentication.
        ci: Whether we run in CI (no interactive server after the demo).
    """

    project_dir: Path
    home: Path
    database_url: str
    object_store_url: str
    data_uri: str
    openlineage_url: str | None = None
    openlineage_file: Path
    actor: str
    auth: bool = True
    webhook_secret: str | None = None
    ci: bool = False

    @property
    def is_sqlite(self) -> bool:
        """Whether the metadata store is the embedded SQLite database."""
        return self.database_url.startswith("sqlite")

    def evolve(self, **changes: object) -> Settings:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(
        f"{name}={raw!r} is not a yes/no value.",
        hint=f"Set {name} to one of: on, off, true, false, 1, 0.",
    )


def load_settings(
    env: Mapping[str, str] | None = None, *, project_dir: Path | str | None = None
) -> Settings:
    """Read settings from the environment.

    Args:
        env: The environment to read; ``os.environ`` when not given.
        project_dir: The project folder; overrides ``LOOPLINE_PROJECT``.

    Returns:
        The settings, with every path absolute.
    """
    env = os.environ if env is None else env
    project = Path(project_dir or env.get("LOOPLINE_PROJECT") or Path.cwd()).resolve()
    home = Path(env.get("LOOPLINE_HOME") or project / ".loopline").resolve()
    database_url = env.get("LOOPLINE_DATABASE_URL") or f"sqlite:///{home / 'loopline.db'}"
    if "://" not in database_url:
        raise SettingsError(
            f"LOOPLINE_DATABASE_URL={database_url!r} is not a database URL.",
            hint="Use sqlite:///path/to/file.db or postgresql+psycopg://user@host:5432/db.",
        )
    try:
        actor = env.get("LOOPLINE_ACTOR") or getpass.getuser()
    except (KeyError, OSError):
        actor = "unknown"
    return Settings(
        project_dir=project,
        home=home,
        database_url=_normalise_database_url(database_url),
        object_store_url=env.get("LOOPLINE_OBJECT_STORE") or str(home / "objects"),
        data_uri=env.get("LOOPLINE_DATA_URI") or str(home / "datasets"),
        openlineage_url=env.get("LOOPLINE_OPENLINEAGE_URL") or None,
        openlineage_file=Path(
            env.get("LOOPLINE_OPENLINEAGE_FILE") or home / "openlineage.jsonl"
        ).resolve(),
        actor=actor,
        auth=_flag(env, "LOOPLINE_AUTH", True),
        webhook_secret=env.get("LOOPLINE_WEBHOOK_SECRET") or None,
        ci=_flag(env, "CI", False),
    )


def _normalise_database_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs (SQLAlchemy would pick psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
