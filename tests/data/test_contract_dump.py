"""Writing contracts back out as ODCS: valid documents that read back to the same contract."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import yaml
from jsonschema import validators

from loopline.data import (
    Bound,
    Check,
    Column,
    Contract,
    contract_to_odcs,
    dump_contract,
    infer_contract,
    load_contract,
    parse_contract,
)
from loopline.data._odcs_schema import odcs_schema
from tests.data.test_contract import ID, odcs

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit-default" / "contracts"


def test_the_bundled_contract_round_trips() -> None:
    contract = load_contract(EXAMPLE / "credit.yaml")
    assert parse_contract(dump_contract(contract)) == contract


def test_a_dumped_contract_is_valid_odcs() -> None:
    document = contract_to_odcs(load_contract(EXAMPLE / "credit.yaml"))
    validator = validators.validator_for(odcs_schema())(odcs_schema())
    assert list(validator.iter_errors(document)) == []


def test_fields_loopline_does_not_read_are_kept() -> None:
    text = odcs(
        "- {name: id, logicalType: integer, businessName: Order id, classification: public}\n"
    )
    text += "domain: sales\n"
    document = contract_to_odcs(parse_contract(text))
    assert document["domain"] == "sales"
    assert document["schema"][0]["properties"][0]["businessName"] == "Order id"


def test_a_contract_built_in_code_dumps_and_reads_back() -> None:
    contract = Contract(
        name="orders",
        version="1",
        columns=(
            Column(name="id", logical_type="integer", primary_key=True),
            Column(name="state", logical_type="string", severity="warn"),
        ),
        quality=(
            Check(
                name="state.allowed_values",
                kind="allowed_values",
                columns=("state",),
                params={"values": ["open", "paid"]},
            ),
            Check(
                name="row_count",
                kind="row_count",
                bound=Bound(operator="mustBeGreaterThan", value=0),
                severity="reject",
            ),
        ),
        max_bad_row_fraction=0.25,
    )
    assert parse_contract(dump_contract(contract)) == contract


def test_an_inferred_contract_round_trips() -> None:
    frame = pl.DataFrame({"order_id": [1, 2, 3, 4], "state": ["a", "b", "a", "a"]})
    contract = infer_contract(frame, "orders")
    assert parse_contract(dump_contract(contract)) == contract


def test_custom_checks_are_written_as_loopline_custom_items() -> None:
    text = odcs(
        ID, quality='- {type: custom, engine: loopline, implementation: {rule: "id > 0"}}\n'
    )
    item = contract_to_odcs(parse_contract(text))["schema"][0]["quality"][0]
    assert item == {"type": "custom", "engine": "loopline", "implementation": {"rule": "id > 0"}}


def test_short_value_lists_are_written_on_one_line() -> None:
    text = dump_contract(load_contract(EXAMPLE / "credit.yaml"))
    assert "validValues: [1, 2, 3, 4]" in text
    assert yaml.safe_load(text)["apiVersion"] == "v3.1.0"
