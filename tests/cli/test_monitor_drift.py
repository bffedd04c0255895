"""``loopline monitor drift REF CUR``: a table and a verdict, JSON, exit 1 on dataset drift."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from loopline.cli import app, main


def write(folder: Path, name: str, rows: int, seed: int, shift: float = 0.0) -> Path:
    rng = np.random.default_rng(seed)
    frame = pl.DataFrame(
        {
            "age": rng.normal(40 + 10 * shift, 10, rows),
            "income": rng.lognormal(10 + shift, 0.5, rows),
            "region": rng.choice(["n", "s", "e", "w"], rows, p=[0.1, 0.3, 0.3, 0.3]),
            "code": rng.integers(1, 4, rows),
        }
    )
    path = folder / name
    if name.endswith(".csv"):
        frame.write_csv(path)
    else:
        frame.write_parquet(path)
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "ref": write(tmp_path, "ref.parquet", 20_000, 1),
        "same": write(tmp_path, "same.csv", 2_000, 2),
        "shifted": write(tmp_path, "shifted.csv", 2_000, 3, shift=1.0),
    }


runner = CliRunner()


def test_no_drift_prints_a_table_and_exits_0(files: dict[str, Path]) -> None:
    result = runner.invoke(app, ["monitor", "drift", str(files["ref"]), str(files["same"])])
    assert result.exit_code == 0, result.output
    assert "no dataset drift" in result.output
    for column in ("age", "income", "region", "code"):
        assert column in result.output


def test_dataset_drift_exits_1_with_json(files: dict[str, Path]) -> None:
    args = ["monitor", "drift", str(files["ref"]), str(files["shifted"]), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["dataset_drift"] is True
    alarmed = [f["column"] for f in report["features"] if f["alarm"]]
    assert alarmed == ["age", "income"]
    assert {"method", "statistic", "p_value", "effect_size", "threshold", "alarm"} <= set(
        report["features"][0]
    )


def test_options_reach_the_report(files: dict[str, Path]) -> None:
    args = [
        "monitor", "drift", str(files["ref"]), str(files["shifted"]), "--json",
        "--categorical", "code", "--method", "age=psi", "--fdr", "0.01", "--min-effect", "10",
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0  # nothing reaches an effect of 10
    report = json.loads(result.stdout)
    features = {f["column"]: f for f in report["features"]}
    assert (features["age"]["method"], features["code"]["kind"]) == ("psi", "categorical")
    assert (report["fdr"], features["income"]["threshold"]) == (0.01, 10.0)


def test_a_bad_method_is_a_clear_error_with_exit_3(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["monitor", "drift", str(files["ref"]), str(files["same"]), "--method", "region=ks"]
    assert main(args) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert "does not apply to the categorical column 'region'" in err
    assert "chi2" in err  # what to use instead
