"""The package version (one place; read by the package metadata and OpenLineage producer)."""

from __future__ import annotations

__version__ = "0.1.0"
