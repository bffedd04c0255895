"""Drafting a contract from data."""

from __future__ import annotations

import polars as pl
import pytest

from loopline.data import infer_contract, validate
from loopline.errors import DataError

FRAME = pl.DataFrame(
    {
        "customer_id": [10, 11, 12, 13, 14, 15],
        "segment": ["a", "b", "a", "a", "b", "a"],
        "balance": [1.5, -2.0, 3.25, None, 0.0, 8.0],
        "joined": pl.Series(["2024-01-0" + str(d) for d in range(1, 7)]).str.to_date(),
    }
)


def test_types_and_required_come_from_the_data() -> None:
    contract = infer_contract(FRAME, "customers")
    assert [(c.logical_type, c.required) for c in contract.columns] == [
        ("integer", True),
        ("string", True),
        ("number", False),
        ("date", True),
    ]


def test_low_cardinality_columns_get_an_allowed_set() -> None:
    contract = infer_contract(FRAME, "customers")
    assert contract.check("segment.allowed_values").params["values"] == ["a", "b"]


def test_numbers_get_their_observed_range() -> None:
    contract = infer_contract(FRAME, "customers")
    assert contract.column("balance").options == {"minimum": -2.0, "maximum": 8.0}


def test_id_like_columns_are_unique() -> None:
    contract = infer_contract(FRAME, "customers")
    assert contract.column("customer_id").unique
    assert not contract.column("segment").unique


def test_a_draft_accepts_the_data_it_came_from() -> None:
    contract = infer_contract(FRAME, "customers")
    result = validate(FRAME, contract)
    assert (contract.status, result.refused, result.bad.height) == ("draft", False, 0)


def test_nested_columns_cannot_be_described() -> None:
    with pytest.raises(DataError, match="'tags' has dtype List"):
        infer_contract(pl.DataFrame({"tags": [["a"], ["b"]]}), "t")
