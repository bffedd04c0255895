"""Existing clients work unchanged: MLflow's scoring protocol and the Open Inference Protocol v2."""

from __future__ import annotations

from typing import Any

import httpx
import pandas as pd

from tests.serving.conftest import Server


def test_mlflow_dataframe_split_from_pandas(served: Server, rows: list[dict[str, Any]]) -> None:
    frame = pd.DataFrame(rows[:4])
    body = '{"dataframe_split": ' + frame.to_json(orient="split", index=False) + "}"
    response = httpx.post(
        f"{served.url}/invocations", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 4
    assert set(response.json()["predictions"]) <= {0, 1}


def test_mlflow_records_and_inputs_agree(served: Server, rows: list[dict[str, Any]]) -> None:
    records = httpx.post(f"{served.url}/invocations", json={"dataframe_records": rows[:5]}).json()
    columns = {key: [row[key] for row in rows[:5]] for key in rows[0]}
    inputs = httpx.post(f"{served.url}/invocations", json={"inputs": columns}).json()
    instances = httpx.post(f"{served.url}/invocations", json={"instances": rows[:5]}).json()
    assert records == inputs == instances


def test_mlflow_csv(served: Server, rows: list[dict[str, Any]]) -> None:
    text = pd.DataFrame(rows[:3]).to_csv(index=False)
    response = httpx.post(
        f"{served.url}/invocations", content=text, headers={"content-type": "text/csv"}
    )
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 3


def test_mlflow_errors_use_its_shape(served: Server, rows: list[dict[str, Any]]) -> None:
    unsupported = httpx.post(
        f"{served.url}/invocations", content=b"x", headers={"content-type": "text/plain"}
    )
    assert unsupported.status_code == 415
    bad = httpx.post(f"{served.url}/invocations", json={"records": rows[:1]})
    assert bad.status_code == 400
    assert bad.json()["error_code"] == "BAD_REQUEST"
    assert httpx.get(f"{served.url}/ping").status_code == 200
    assert httpx.get(f"{served.url}/version").text


def test_oip_metadata_and_infer(served: Server, rows: list[dict[str, Any]]) -> None:
    assert httpx.get(f"{served.url}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{served.url}/v2/health/ready").status_code == 200
    server = httpx.get(f"{served.url}/v2").json()
    assert server["name"] == "loopline"
    metadata = httpx.get(f"{served.url}/v2/models/credit-default").json()
    names = [tensor["name"] for tensor in metadata["inputs"]]
    assert names[:2] == ["LIMIT_BAL", "SEX"]
    inputs = [
        {
            "name": name,
            "shape": [2],
            "datatype": tensor["datatype"],
            "data": [row[name] for row in rows[:2]],
        }
        for name, tensor in zip(names, metadata["inputs"], strict=True)
    ]
    response = httpx.post(
        f"{served.url}/v2/models/credit-default/infer",
        json={"id": "req-42", "inputs": inputs, "parameters": {"content_type": "pd"}},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == "req-42"
    assert body["model_name"] == "credit-default"
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["predict"]["shape"] == [2]
    assert len(outputs["probability"]["data"]) == 2


def test_oip_errors(served: Server) -> None:
    missing = httpx.post(f"{served.url}/v2/models/credit-default/infer", json={"inputs": []})
    assert missing.status_code == 400
    assert isinstance(missing.json()["error"], str)
    unknown = httpx.get(f"{served.url}/v2/models/nope")
    assert unknown.status_code == 404
    assert "error" in unknown.json()
