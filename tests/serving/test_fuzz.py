"""Schemathesis fuzzes every operation of our own OpenAPI description: no input gives a 5xx."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.serving.conftest import Server


def test_no_generated_request_gets_a_server_error(served: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    server_errors: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def exercise(case: Any) -> None:
            nonlocal calls
            response = case.call(base_url=served.url, timeout=30)
            calls += 1
            if response.status_code >= 500:
                server_errors.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} "
                    f"{response.text[:200]}"
                )

        exercise()
    assert calls >= 200
    assert server_errors == []
