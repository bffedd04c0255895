"""The serving app over real HTTP on loopback: answers, errors, routing, reload, log, metrics."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from scipy.stats import chisquare

from loopline import _api_models, _api_serving
from loopline.serving import read_predictions, unit_position
from tests.serving.conftest import Server, copy_project


def test_native_predict_answers_every_field(served: Server, rows: list[dict[str, Any]]) -> None:
    response = httpx.post(f"{served.url}/api/v1/predict/credit-default", json={"records": rows[:3]})
    assert response.status_code == 200
    body = response.json()
    assert len(body["request_id"]) == 32
    assert len(body["predictions"]) == 3
    for answer in body["predictions"]:
        assert set(answer) >= {
            "prediction_id",
            "prediction",
            "probability",
            "confidence",
            "prediction_set",
            "decision",
            "reasons",
            "model_version",
            "arm",
        }
        assert answer["prediction"] in (0, 1)
        # confidence in the decision made (the threshold is cost-optimal, not 0.5)
        p = answer["probability"]
        assert answer["confidence"] == pytest.approx(p if answer["prediction"] == 1 else 1 - p)
        assert answer["decision"] in ("auto", "review")
        assert (answer["decision"] == "review") == bool(answer["reasons"])
        assert answer["model_version"] == "credit-default@1"
        assert answer["arm"] == "champion"
    assert response.headers["x-loopline-route"] == "credit-default@1"


def test_answers_match_the_registered_model(served: Server, rows: list[dict[str, Any]]) -> None:
    import pandas as pd

    model = _api_models.load_trained_model(served.ws, "credit-default@1")
    expected = model.positive_proba(pd.DataFrame(rows[:50]))
    body = httpx.post(
        f"{served.url}/api/v1/predict/credit-default", json={"records": rows[:50]}
    ).json()
    got = [p["probability"] for p in body["predictions"]]
    assert got == pytest.approx(list(expected), abs=1e-12)


def test_bad_records_get_field_level_422(served: Server, rows: list[dict[str, Any]]) -> None:
    bad = [dict(rows[0], AGE="old"), {k: v for k, v in rows[1].items() if k != "LIMIT_BAL"}]
    response = httpx.post(f"{served.url}/api/v1/predict/credit-default", json={"records": bad})
    assert response.status_code == 422
    problems = response.json()["error"]["problems"]
    assert {tuple(p["loc"]) for p in problems} >= {
        ("records", 0, "AGE"),
        ("records", 1, "LIMIT_BAL"),
    }


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"{not json", 400), (b'{"rows": []}', 400), (b'{"records": []}', 400), (b"[1, 2]", 400)],
)
def test_malformed_bodies_are_4xx_never_500(served: Server, body: bytes, status: int) -> None:
    response = httpx.post(
        f"{served.url}/api/v1/predict/credit-default",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == status
    assert "error" in response.json()


def test_too_many_rows_is_413(served: Server, rows: list[dict[str, Any]]) -> None:
    response = httpx.post(
        f"{served.url}/api/v1/predict/credit-default",
        json={"records": rows[:1] * 10_001},
        timeout=60,
    )
    assert response.status_code == 413


def test_unknown_use_case_is_404(served: Server, rows: list[dict[str, Any]]) -> None:
    response = httpx.post(f"{served.url}/api/v1/predict/nope", json={"records": rows[:1]})
    assert response.status_code == 404
    assert "credit-default" in response.json()["error"]["hint"]


def test_operations_endpoints(served: Server, rows: list[dict[str, Any]]) -> None:
    httpx.post(f"{served.url}/api/v1/predict/credit-default", json={"records": rows[:2]})
    assert httpx.get(f"{served.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{served.url}/readyz").json()["ready"] is True
    metrics = httpx.get(f"{served.url}/metrics").text
    assert 'loopline_requests_total{arm="champion",model_version="credit-default@1"' in metrics
    assert "loopline_log_queue_depth" in metrics
    assert httpx.get(f"{served.url}/openapi.json").json()["info"]["title"] == "loopline"


def _decision_counts(url: str) -> Counter[tuple[str, str]]:
    from prometheus_client.parser import text_string_to_metric_families

    counts: Counter[tuple[str, str]] = Counter()
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        if family.name == "loopline_decisions":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    key = (sample.labels["decision"], sample.labels["reason"])
                    counts[key] = int(sample.value)
    return counts


def test_decisions_are_counted_by_reason(served: Server, rows: list[dict[str, Any]]) -> None:
    before = _decision_counts(served.url)
    outside = [{**row, "AGE": 500} for row in rows[:3]]  # beyond the contract's range
    body = httpx.post(
        f"{served.url}/api/v1/predict/credit-default", json={"records": rows[:300] + outside}
    ).json()
    expected: Counter[tuple[str, str]] = Counter()
    for answer in body["predictions"]:
        for reason in answer["reasons"] or ["none"]:
            expected[answer["decision"], reason.split(":")[0]] += 1
    # both decisions, and a reason with a detail counted by its kind
    assert {"auto", "review"} <= {decision for decision, _ in expected}
    assert expected["review", "out_of_range"] == 3
    after = _decision_counts(served.url)
    assert after - before == expected


def test_concurrent_requests_are_micro_batched(served: Server, rows: list[dict[str, Any]]) -> None:
    runtime = served.app.state.runtime
    batcher = next(iter(runtime.use_cases["credit-default"].models.values())).batcher
    before = len(batcher.batch_sizes)
    errors: list[int] = []

    def call(i: int) -> None:
        r = httpx.post(f"{served.url}/api/v1/predict/credit-default", json={"records": [rows[i]]})
        if r.status_code != 200:
            errors.append(r.status_code)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    sizes = batcher.batch_sizes[before:]
    assert sum(sizes) == 64
    assert len(sizes) < 64  # at least some requests shared a vectorised call


def test_assignment_is_sticky_and_matches_weights() -> None:
    arms = [
        {"model": "a", "role": "champion", "weight": 0.7},
        {"model": "b", "role": "challenger", "weight": 0.3},
    ]
    from loopline.serving import choose_arm

    picks = [choose_arm(arms, salt="exp-1", unit_key=f"user-{i}")["model"] for i in range(4000)]
    again = [choose_arm(arms, salt="exp-1", unit_key=f"user-{i}")["model"] for i in range(4000)]
    assert picks == again
    counts = Counter(picks)
    assert chisquare([counts["a"], counts["b"]], [2800, 1200]).pvalue > 0.001
    assert unit_position("exp-1", "user-1") != unit_position("exp-2", "user-1")


def test_assignment_is_the_same_in_a_restarted_process() -> None:
    import json
    import os
    import subprocess
    import sys

    from loopline.serving import choose_arm

    arms = [
        {"model": "a", "role": "champion", "weight": 0.7},
        {"model": "b", "role": "challenger", "weight": 0.3},
    ]
    script = (
        "import json, sys\n"
        "from loopline.serving import choose_arm\n"
        "arms = json.loads(sys.argv[1])\n"
        "print(json.dumps([choose_arm(arms, salt='exp-1', unit_key=f'user-{i}')['model']"
        " for i in range(2000)]))\n"
    )
    here = [choose_arm(arms, salt="exp-1", unit_key=f"user-{i}")["model"] for i in range(2000)]
    for seed in ("1", "2"):  # string hashing differs between these processes and this one
        done = subprocess.run(
            [sys.executable, "-c", script, json.dumps(arms)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(done.stdout) == here


def test_requests_without_a_unit_key_split_as_the_weights_say(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import random

    from loopline.serving import _router, choose_arm

    monkeypatch.setattr(_router, "_random", random.Random(11).random)
    arms = [
        {"model": "a", "role": "champion", "weight": 0.7},
        {"model": "b", "role": "challenger", "weight": 0.3},
        {"model": "c", "role": "shadow", "weight": 0.0},
    ]
    counts = Counter(choose_arm(arms, salt="exp-1", unit_key=None)["model"] for _ in range(4000))
    assert set(counts) == {"a", "b"}  # a shadow never answers
    assert chisquare([counts["a"], counts["b"]], [2800, 1200]).pvalue > 0.001
    assert choose_arm(arms[:1], salt="exp-1", unit_key=None)["model"] == "a"


def test_hot_reload_switches_champion_with_zero_failed_requests(
    served: Server, rows: list[dict[str, Any]]
) -> None:
    _api_models.train_model(served.ws)
    failures: list[str] = []
    versions: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client() as client:
            while not stop.is_set():
                r = client.post(
                    f"{served.url}/api/v1/predict/credit-default", json={"records": rows[:2]}
                )
                if r.status_code != 200:
                    failures.append(r.text)
                else:
                    versions.append(r.json()["predictions"][0]["model_version"])

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    _api_serving.deploy_model(served.ws, "credit-default@2", strategy="direct", reason="newer")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not versions or versions[-1] != "credit-default@2"):
        time.sleep(0.1)
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    assert failures == []
    assert versions[0] == "credit-default@1"
    assert versions[-1] == "credit-default@2"
    _api_models.rollback_champion(served.ws, "credit-default", reason="back for other tests")


def test_every_answer_is_logged(served: Server, rows: list[dict[str, Any]]) -> None:
    body = httpx.post(
        f"{served.url}/api/v1/predict/credit-default",
        json={"records": rows[:5], "unit_key": "customer-7"},
    ).json()
    ids = {p["prediction_id"] for p in body["predictions"]}
    deadline = time.monotonic() + 10
    logged = set()
    while time.monotonic() < deadline and not ids <= logged:
        frame = read_predictions(served.ws.settings.home / "predictions", "credit-default")
        logged = set(frame["prediction_id"].to_list())
        time.sleep(0.2)
    assert ids <= logged
    frame = read_predictions(served.ws.settings.home / "predictions", "credit-default")
    mine = frame.filter(frame["request_id"] == body["request_id"])
    assert mine["unit_key"].to_list() == ["customer-7"] * 5


@pytest.mark.parametrize("model_process", [True, False])
def test_a_server_scoring_in_a_thread_shortens_the_gil_switch_interval(
    served: Server, model_process: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc
    import sys

    from loopline.serving._factory import SWITCH_INTERVAL, make_app
    from loopline.serving._model_process import GC_THRESHOLDS

    project = tmp_path / "project"
    copy_project(served.ws.settings.project_dir, project)
    spec = project / "loopline.yaml"
    doc = yaml.safe_load(spec.read_text())
    doc.setdefault("serving", {})["model_process"] = model_process
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    monkeypatch.setenv("LOOPLINE_PROJECT", str(project))
    monkeypatch.setenv("LOOPLINE_AUTH", "off")
    before = sys.getswitchinterval()
    assert before > SWITCH_INTERVAL  # Python's default of 5 ms
    thresholds = gc.get_threshold()
    assert thresholds != GC_THRESHOLDS
    try:
        app = make_app()
        assert app.title == "loopline"
        # the model thread must get the GIL back after each tree; a model process needs not
        expected = before if model_process else SWITCH_INTERVAL
        assert sys.getswitchinterval() == pytest.approx(expected)
        assert gc.get_threshold() == GC_THRESHOLDS  # a serving process, either way
    finally:
        sys.setswitchinterval(before)
        gc.set_threshold(*thresholds)
