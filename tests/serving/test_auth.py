"""Every endpoint x every credential: forbidden pairs get 401/403, allowed pairs work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from loopline import _api
from loopline.auth import add_user, create_token
from tests.serving.conftest import Server, deployed_project, start_server

# credential -> (role of its user, scopes of the token)
CREDENTIALS = {
    "maintainer:predict": ("maintainer", ["predict"]),
    "reviewer:feedback": ("reviewer", ["feedback"]),
    "reviewer:review": ("reviewer", ["review"]),
    "admin:admin": ("admin", ["admin"]),
}
# endpoint -> the credentials that may use it (besides none: every one needs a credential)
ALLOWED = {
    "predict": {"maintainer:predict", "admin:admin"},
    "invocations": {"maintainer:predict", "admin:admin"},
    "oip-metadata": {"maintainer:predict", "admin:admin"},
    "oip-infer": {"maintainer:predict", "admin:admin"},
    "feedback": {"reviewer:feedback", "admin:admin"},
    "cases": {"reviewer:review", "admin:admin"},  # a predict token may poll one case, not list
    "review-metrics": {"reviewer:review", "admin:admin"},
}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    ws = deployed_project(tmp_path_factory.mktemp("auth"), auth=True)
    assert ws.settings.auth
    tokens = {}
    with ws.store.transaction() as session:
        for role in ("maintainer", "reviewer", "admin"):
            add_user(session, f"{role}-user", role, actor="tester")
        for key, (role, scopes) in CREDENTIALS.items():
            tokens[key] = create_token(session, f"{role}-user", scopes, name=key, actor="tester")
    server = start_server(ws)
    yield server, tokens
    server.stop()
    ws.close()


def _call(
    server: Server, endpoint: str, headers: dict[str, str], row: dict[str, Any]
) -> httpx.Response:
    url = server.url
    if endpoint == "predict":
        return httpx.post(
            f"{url}/api/v1/predict/credit-default", json={"records": [row]}, headers=headers
        )
    if endpoint == "invocations":
        return httpx.post(f"{url}/invocations", json={"dataframe_records": [row]}, headers=headers)
    if endpoint == "oip-metadata":
        return httpx.get(f"{url}/v2/models/credit-default", headers=headers)
    if endpoint == "oip-infer":
        inputs = [
            {"name": k, "shape": [1], "datatype": "INT64", "data": [v]} for k, v in row.items()
        ]
        return httpx.post(
            f"{url}/v2/models/credit-default/infer", json={"inputs": inputs}, headers=headers
        )
    if endpoint == "feedback":
        return httpx.post(
            f"{url}/api/v1/feedback", json={"prediction_id": "missing", "label": 1}, headers=headers
        )
    if endpoint == "cases":
        return httpx.get(f"{url}/api/v1/cases", headers=headers)
    return httpx.get(f"{url}/api/v1/metrics/review", headers=headers)


@pytest.mark.parametrize("endpoint", sorted(ALLOWED))
@pytest.mark.parametrize("credential", [None, "bogus", *sorted(CREDENTIALS)])
def test_endpoint_by_credential(
    secured: tuple[Server, dict[str, str]], endpoint: str, credential: str | None
) -> None:
    server, tokens = secured
    row = _api.load("credit", project=server.ws.settings.project_dir).head(1)
    row_dict = row.drop("ID", "default_payment_next_month").to_dicts()[0]
    headers = {}
    if credential == "bogus":
        headers["authorization"] = "Bearer ll_000000000000_nope"
    elif credential is not None:
        headers["authorization"] = f"Bearer {tokens[credential]}"
    response = _call(server, endpoint, headers, row_dict)
    if credential in ALLOWED[endpoint]:
        # allowed: the request reaches the endpoint (the feedback id is unknown on purpose)
        assert response.status_code in ((404,) if endpoint == "feedback" else (200,))
    elif credential in (None, "bogus"):
        assert response.status_code == 401
    else:
        assert response.status_code == 403


def test_probes_need_no_credential(secured: tuple[Server, dict[str, str]]) -> None:
    server, _ = secured
    for path in ("/healthz", "/readyz", "/v2/health/live", "/v2/health/ready"):
        assert httpx.get(f"{server.url}{path}").status_code == 200
