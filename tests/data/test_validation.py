"""Validating frames: the good/bad split, severities, refusals and the report."""

from __future__ import annotations

import json

import polars as pl
import pytest
from rich.console import Console

from loopline.data import Contract, check_schema, parse_contract, validate
from loopline.errors import BatchRefusedError
from tests.data.test_contract import odcs


def contract(properties: str, quality: str = "", settings: str = "") -> Contract:
    return parse_contract(odcs(properties, quality, settings))


STATE = """\
- {name: id, logicalType: integer, required: true}
- name: state
  logicalType: string
  quality: [{metric: invalidValues, arguments: {validValues: [open, paid]}, mustBe: 0}]
"""
ORDERS = pl.DataFrame({"id": [1, 2, 3, 4], "state": ["open", "lost", "paid", None]})


def test_good_and_bad_rows_partition_the_batch() -> None:
    result = validate(ORDERS, contract(STATE))
    assert result.rows_in == result.good.height + result.bad.height == 4
    assert result.good["id"].to_list() == [1, 3, 4]
    assert result.good.columns == ["id", "state"]


def test_bad_rows_carry_their_row_number_and_failed_checks() -> None:
    bad = validate(ORDERS, contract(STATE)).bad
    assert bad.select("id", "_row", "_failed_checks").rows() == [(2, 1, ["state.allowed_values"])]


def test_a_row_lists_every_check_it_failed() -> None:
    frame = pl.DataFrame({"id": [None, 2], "state": ["lost", "open"]})
    bad = validate(frame, contract(STATE)).bad
    assert bad["_failed_checks"].to_list() == [["id.not_null", "state.allowed_values"]]


def test_nulls_fail_only_null_checks() -> None:
    result = validate(
        pl.DataFrame({"id": [1], "state": [None]}, schema_overrides={"state": pl.String}),
        contract(STATE),
    )
    assert result.report.result("state.allowed_values").status == "passed"


def test_a_clean_batch_has_no_bad_rows_and_keeps_every_row() -> None:
    frame = pl.DataFrame({"id": [1, 2], "state": ["open", "paid"]})
    result = validate(frame, contract(STATE))
    assert (result.good.height, result.bad.height, result.refused) == (2, 0, False)
    assert result.bad.columns == ["id", "state", "_row", "_failed_checks"]


def test_range_bounds_include_minimum_and_exclude_exclusive_maximum() -> None:
    rule = (
        "- {name: n, logicalType: integer, logicalTypeOptions: {minimum: 0, exclusiveMaximum: 9}}\n"
    )
    result = validate(pl.DataFrame({"n": [-1, 0, 8, 9]}), contract(rule))
    assert result.bad["_row"].to_list() == [0, 3]


def test_date_bounds_compare_as_dates() -> None:
    rule = "- {name: d, logicalType: date, logicalTypeOptions: {minimum: '2024-01-01'}}\n"
    frame = pl.DataFrame({"d": ["2023-12-31", "2024-01-01"]}).with_columns(
        pl.col("d").str.to_date()
    )
    assert validate(frame, contract(rule)).bad["_row"].to_list() == [0]


def test_string_length_bounds() -> None:
    rule = "- {name: s, logicalType: string, logicalTypeOptions: {minLength: 2, maxLength: 3}}\n"
    result = validate(pl.DataFrame({"s": ["a", "ab", "abc", "abcd"]}), contract(rule))
    assert result.bad["s"].to_list() == ["a", "abcd"]


def test_a_pattern_searches_unless_anchored() -> None:
    rule = "- {name: s, logicalType: string, logicalTypeOptions: {pattern: '[0-9]{2}'}}\n"
    result = validate(pl.DataFrame({"s": ["ab12", "a1b"]}), contract(rule))
    assert result.bad["s"].to_list() == ["a1b"]


def test_the_first_occurrence_of_a_repeated_value_is_good() -> None:
    rule = "- {name: id, logicalType: integer, unique: true}\n"
    frame = pl.DataFrame({"id": [7, 8, 7, None, None, 7]})
    assert validate(frame, contract(rule)).bad["_row"].to_list() == [2, 5]


def test_uniqueness_of_text_keys_keeps_the_first_too() -> None:
    rule = "- {name: key, logicalType: string, unique: true}\n"
    frame = pl.DataFrame({"key": ["b", "a", "b"]})
    assert validate(frame, contract(rule)).bad["_row"].to_list() == [2]


def test_compound_keys_compare_whole_rows() -> None:
    columns = "- {name: a, logicalType: integer}\n- {name: b, logicalType: string}\n"
    quality = "- {metric: duplicateValues, arguments: {properties: [a, b]}, mustBe: 0}\n"
    frame = pl.DataFrame({"a": [1, 1, 1, 1], "b": ["x", "y", "x", None]})
    result = validate(frame, contract(columns, quality))
    assert result.bad.select("_row", "_failed_checks").rows() == [(2, ["row.duplicate(a,b)"])]


def test_a_rule_fails_rows_where_it_is_false_and_passes_unknowns() -> None:
    columns = "- {name: paid, logicalType: number}\n- {name: due, logicalType: number}\n"
    quality = '- {type: custom, engine: loopline, implementation: {rule: "paid <= due"}}\n'
    frame = pl.DataFrame({"paid": [1.0, 5.0, None], "due": [2.0, 3.0, 1.0]})
    assert validate(frame, contract(columns, quality)).bad["_row"].to_list() == [1]


def test_warn_checks_are_recorded_but_keep_their_rows() -> None:
    rule = """\
    - name: n
      logicalType: integer
      logicalTypeOptions: {maximum: 5}
      customProperties: [{property: severity, value: warn}]
    """
    result = validate(pl.DataFrame({"n": [1, 9]}), contract(rule))
    assert (result.good.height, result.report.result("n.range").status) == (2, "failed")


def test_a_failing_reject_check_refuses_the_batch() -> None:
    rule = """\
    - name: n
      logicalType: integer
      required: true
      customProperties: [{property: severity, value: reject}]
    """
    result = validate(pl.DataFrame({"n": [1, None]}), contract(rule))
    assert result.refused
    assert result.refusal_reasons == (
        "check 'n.not_null' (reject) failed: 1 failing rows; required no nulls",
    )


def test_a_missing_column_refuses_the_batch_and_skips_its_checks() -> None:
    result = validate(pl.DataFrame({"id": [1]}), contract(STATE))
    assert result.refused
    assert "column 'state' is missing" in result.refusal_reasons[0]
    assert result.report.result("state.allowed_values").status == "skipped"


def test_a_wrong_type_names_the_column_and_both_types() -> None:
    result = validate(pl.DataFrame({"id": ["1"], "state": ["open"]}), contract(STATE))
    reason = result.refusal_reasons[0]
    assert "'id'" in reason
    assert "dtype String" in reason
    assert "expects integer" in reason
    assert result.report.result("id.type").observed == "String"


def test_integer_columns_refuse_floats_even_when_whole() -> None:
    result = validate(pl.DataFrame({"id": [1.0], "state": ["open"]}), contract(STATE))
    assert "floats are refused even when every value is whole" in result.refusal_reasons[0]


def test_number_columns_accept_integers() -> None:
    result = validate(pl.DataFrame({"x": [1, 2]}), contract("- {name: x, logicalType: number}\n"))
    assert not result.refused


def test_extra_columns_are_refused_only_when_the_contract_says_so() -> None:
    frame = pl.DataFrame({"id": [1], "state": ["open"], "extra": [0]})
    assert not validate(frame, contract(STATE)).refused
    strict = contract(STATE, settings="- {property: allowExtraColumns, value: false}\n")
    assert "column 'extra' is not in the contract" in validate(frame, strict).refusal_reasons[0]


def test_too_many_bad_rows_refuse_the_batch() -> None:
    strict = contract(STATE, settings="- {property: maxBadRowFraction, value: 0.2}\n")
    result = validate(ORDERS, strict)
    assert result.refused
    assert "more than maxBadRowFraction 20.00%" in result.refusal_reasons[0]


def test_row_count_bounds_refuse_small_batches() -> None:
    checks = contract(STATE, quality="- {metric: rowCount, mustBeGreaterOrEqualTo: 10}\n")
    result = validate(ORDERS, checks)
    assert (result.refused, result.report.result("row_count").observed) == (True, 4)


def test_a_tolerance_judges_the_count_and_quarantines_nothing() -> None:
    rule = """\
    - name: state
      logicalType: string
      quality: [{metric: invalidValues, arguments: {validValues: [open]}, mustBeLessThan: 3}]
    """
    result = validate(pl.DataFrame({"state": ["open", "x", "y"]}), contract(rule))
    check = result.report.result("state.allowed_values")
    assert (check.status, check.failing_count, result.bad.height) == ("passed", 2, 0)


def test_null_share_in_percent() -> None:
    rule = """\
    - name: note
      logicalType: string
      quality: [{metric: nullValues, mustBeLessOrEqualTo: 25, unit: percent}]
    """
    frame = pl.DataFrame({"note": ["a", None, None, "b"]})
    check = validate(frame, contract(rule)).report.result("note.null_values")
    assert (check.status, check.observed) == ("failed", 50.0)


def test_missing_values_count_placeholders_and_nulls() -> None:
    rule = """\
    - name: note
      logicalType: string
      quality: [{metric: missingValues, arguments: {missingValues: [null, '', N/A]}, mustBe: 0}]
    """
    frame = pl.DataFrame({"note": ["ok", "", "N/A", None]})
    assert validate(frame, contract(rule)).bad["_row"].to_list() == [1, 2, 3]


def test_samples_are_capped_at_five_rows() -> None:
    rule = "- {name: n, logicalType: integer, logicalTypeOptions: {maximum: 0}}\n"
    check = validate(pl.DataFrame({"n": list(range(1, 9))}), contract(rule)).report.result(
        "n.range"
    )
    assert check.sample == tuple({"row": row, "value": row + 1} for row in range(5))
    assert (check.failing_count, check.failing_fraction) == (8, 1.0)


def test_samples_of_compound_checks_show_every_column() -> None:
    columns = "- {name: a, logicalType: integer}\n- {name: b, logicalType: integer}\n"
    quality = "- {metric: duplicateValues, arguments: {properties: [a, b]}, mustBe: 0}\n"
    frame = pl.DataFrame({"a": [1, 1], "b": [2, 2]})
    check = validate(frame, contract(columns, quality)).report.result("row.duplicate(a,b)")
    assert check.sample == ({"row": 1, "value": {"a": 1, "b": 2}},)


def test_categorical_columns_are_checked_as_text() -> None:
    frame = pl.DataFrame({"id": [1, 2], "state": ["open", "lost"]}).with_columns(
        pl.col("state").cast(pl.Categorical)
    )
    assert validate(frame, contract(STATE)).bad["_row"].to_list() == [1]


def test_an_empty_batch_passes_row_checks() -> None:
    frame = pl.DataFrame(schema={"id": pl.Int64, "state": pl.String})
    result = validate(frame, contract(STATE))
    assert (result.rows_in, result.refused, result.bad.height) == (0, False, 0)


def test_the_report_is_json_ready() -> None:
    frame = pl.DataFrame({"d": ["2020-01-01"]}).with_columns(pl.col("d").str.to_date())
    rule = "- {name: d, logicalType: date, logicalTypeOptions: {maximum: '2019-12-31'}}\n"
    report = validate(frame, contract(rule)).report.to_dict()
    assert json.loads(json.dumps(report))["checks"][1]["sample"] == [
        {"row": 0, "value": "2020-01-01"}
    ]


def test_the_report_renders_as_a_table() -> None:
    console = Console(width=160, record=True)
    console.print(validate(ORDERS, contract(STATE)).report.to_table(only_failed=True))
    text = console.export_text()
    assert "state.allowed_values" in text
    assert "id.type" not in text
    assert "3 good / 1 quarantined of 4 rows" in text


def test_raise_if_refused_raises_a_batch_refused_error() -> None:
    result = validate(pl.DataFrame({"id": [1]}), contract(STATE))
    with pytest.raises(BatchRefusedError) as caught:
        result.raise_if_refused()
    assert caught.value.problems[0].msg == result.refusal_reasons[0]


def test_raise_if_refused_is_silent_for_an_accepted_batch() -> None:
    result = validate(ORDERS, contract(STATE))
    result.raise_if_refused()
    assert not result.refused


def test_check_names_that_look_like_regexes_are_plain_names() -> None:
    rule = """\
    - name: state
      logicalType: string
      quality:
        - {name: "^state$", metric: invalidValues, arguments: {validValues: [open]}, mustBe: 0}
    """
    bad = validate(pl.DataFrame({"state": ["open", "x"]}), contract(rule)).bad
    assert bad["_failed_checks"].to_list() == [["^state$"]]


def test_check_schema_returns_one_located_problem_per_column() -> None:
    frame = pl.DataFrame({"id": ["1"]})
    problems = check_schema(frame, contract(STATE))
    assert [(p.loc, p.code) for p in problems] == [
        (("id",), "wrong-type"),
        (("state",), "missing-column"),
    ]


def test_check_schema_accepts_a_column_of_nulls_for_any_type() -> None:
    frame = pl.DataFrame({"id": [None], "state": [None]})
    assert check_schema(frame, contract(STATE)) == []
