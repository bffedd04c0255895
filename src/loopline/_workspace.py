"""A workspace: one project's settings, project file, metadata store and object store."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from loopline.settings import Settings, load_settings
from loopline.spec import Project, load_project
from loopline.store import ObjectStore, Store, open_store

__all__ = ["Workspace", "open_workspace"]


class Workspace:
    """Everything one command or notebook needs, opened lazily.

    Args:
        settings: Where state lives and who acts; read from the environment by default.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def project(self) -> Project:
        """The validated ``loopline.yaml`` (raises ``ProjectError`` when missing or invalid)."""
        return load_project(self.settings.project_dir)

    @cached_property
    def store(self) -> Store:
        """The metadata store, migrated to the latest schema."""
        return open_store(self.settings.database_url)

    @cached_property
    def objects(self) -> ObjectStore:
        """The object store for artifacts and source files."""
        return ObjectStore(self.settings.object_store_url)

    @property
    def actor(self) -> str:
        """Who is acting, for the audit trail."""
        return self.settings.actor

    def close(self) -> None:
        """Release database connections."""
        if "store" in self.__dict__:
            self.store.dispose()


def open_workspace(project_dir: Path | str | None = None) -> Workspace:
    """Open the workspace of ``project_dir`` (default: ``LOOPLINE_PROJECT`` or the cwd)."""
    return Workspace(load_settings(project_dir=project_dir))
