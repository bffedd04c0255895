"""Escalated answers open cases that a person decides; labels come back as feedback."""

from __future__ import annotations

from typing import Any

import httpx

from tests.serving.conftest import Server


def _review_answer(served: Server, rows: list[dict[str, Any]]) -> dict[str, Any]:
    body = httpx.post(
        f"{served.url}/api/v1/predict/credit-default", json={"records": rows[:60]}
    ).json()
    return next(p for p in body["predictions"] if p["decision"] == "review")


def test_escalated_answer_opens_a_case_a_person_decides(
    served: Server, rows: list[dict[str, Any]]
) -> None:
    answer = _review_answer(served, rows)
    case_id = answer["case_id"]
    case = httpx.get(f"{served.url}/api/v1/cases/{case_id}").json()
    assert case["status"] == "open"
    assert case["reasons"] == answer["reasons"]
    assert case["recommendation"]["probability"] == answer["probability"]
    queue = httpx.get(f"{served.url}/api/v1/cases", params={"status": "open"}).json()["cases"]
    assert case_id in [c["id"] for c in queue]
    assert httpx.post(f"{served.url}/api/v1/cases/{case_id}/claim").status_code == 200
    decided = httpx.post(
        f"{served.url}/api/v1/cases/{case_id}/decision",
        json={"action": "override", "label": 1 - answer["prediction"], "comment": "x"},
    )
    assert decided.status_code == 200
    final = httpx.get(f"{served.url}/api/v1/cases/{case_id}").json()
    assert final["status"] == "decided"
    assert final["decision"]["label"] == 1 - answer["prediction"]
    assert [e["action"] for e in final["history"]] == ["open", "claim", "decide"]
    again = httpx.post(f"{served.url}/api/v1/cases/{case_id}/decision", json={"action": "accept"})
    assert again.status_code == 409


def test_feedback_by_prediction_id_any_time(served: Server, rows: list[dict[str, Any]]) -> None:
    body = httpx.post(
        f"{served.url}/api/v1/predict/credit-default", json={"records": rows[:2]}
    ).json()
    first = body["predictions"][0]["prediction_id"]
    posted = httpx.post(f"{served.url}/api/v1/feedback", json={"prediction_id": first, "label": 1})
    assert posted.json() == {"results": [{"prediction_id": first, "status": "created"}]}
    duplicate = httpx.post(
        f"{served.url}/api/v1/feedback", json=[{"prediction_id": first, "label": 1}]
    )
    assert duplicate.json()["results"][0]["status"] == "duplicate"
    conflict = httpx.post(
        f"{served.url}/api/v1/feedback", json={"prediction_id": first, "label": 0}
    )
    assert conflict.status_code == 409
    unknown = httpx.post(
        f"{served.url}/api/v1/feedback", json={"prediction_id": "nope", "label": 1}
    )
    assert unknown.status_code == 404


def test_request_id_serves_for_one_record_requests(
    served: Server, rows: list[dict[str, Any]]
) -> None:
    one = httpx.post(
        f"{served.url}/api/v1/predict/credit-default", json={"records": rows[3:4]}
    ).json()
    posted = httpx.post(
        f"{served.url}/api/v1/feedback", json={"request_id": one["request_id"], "label": 0}
    )
    assert posted.status_code == 200
    assert posted.json()["results"][0]["prediction_id"] == one["predictions"][0]["prediction_id"]
    many = httpx.post(
        f"{served.url}/api/v1/predict/credit-default", json={"records": rows[:3]}
    ).json()
    refused = httpx.post(
        f"{served.url}/api/v1/feedback", json={"request_id": many["request_id"], "label": 0}
    )
    assert refused.status_code == 400


def test_feedback_becomes_a_dataset_version_with_lineage(
    served: Server, rows: list[dict[str, Any]]
) -> None:
    import time

    from loopline import _api
    from loopline.review._feedback_data import version_feedback
    from loopline.serving import read_predictions

    answer = _review_answer(served, rows)
    httpx.post(f"{served.url}/api/v1/cases/{answer['case_id']}/claim")
    httpx.post(f"{served.url}/api/v1/cases/{answer['case_id']}/decision", json={"action": "accept"})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = read_predictions(served.ws.settings.home / "predictions", "credit-default")
        if answer["prediction_id"] in set(log["prediction_id"].to_list()):
            break
        time.sleep(0.2)
    result = version_feedback(served.ws)
    assert result is not None
    assert result.status == "accepted", result.refusal_reasons
    assert result.rows_in == result.rows_versioned + result.rows_quarantined
    frame = _api.load(f"{result.dataset}", project=served.ws.settings.project_dir)
    decided = frame.filter(frame["prediction_id"] == answer["prediction_id"])
    assert decided["default_payment_next_month"].to_list() == [answer["prediction"]]
    assert decided["feedback_source"].to_list() == ["review"]
    tree = _api.lineage(served.ws, f"{result.dataset}@{result.version}", up=True)
    assert f"case:{answer['case_id']}" in tree.names()
    assert version_feedback(served.ws) is None  # nothing new the second time
