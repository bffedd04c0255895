"""Fixtures for the lineage tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.lineage.ol_validation import validate_event


@pytest.fixture
def validate_openlineage() -> Callable[[dict[str, Any]], list[str]]:
    """The OpenLineage schema check: ``validate_openlineage(event)`` lists the problems."""
    return validate_event
