"""Invalid contracts: every problem at once, each with its key path, line and a way out."""

from __future__ import annotations

import pytest

from loopline.data import parse_contract
from loopline.errors import ContractError, Problem
from tests.data.test_contract import ID, odcs


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(ContractError) as caught:
        parse_contract(text, source="orders.yaml")
    assert caught.value.source == "orders.yaml"
    return list(caught.value.problems)


def only(text: str) -> Problem:
    problems = problems_of(text)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def test_a_typo_in_a_key_suggests_the_close_key_with_its_line() -> None:
    problem = only(odcs("- name: id\n  logicalType: integer\n  requird: true\n"))
    assert problem.code == "unknown-key"
    assert problem.path == "schema[0].properties[0].requird"
    assert "did you mean 'required'?" in problem.msg
    assert problem.line == 12


def test_every_problem_is_listed_at_once() -> None:
    text = odcs(
        """\
        - name: id
          logicalType: integer
          requird: true
          customProperties: [{property: severity, value: fatal}]
        - name: sku
          logicalType: string
          logicalTypeOptions: {pattern: "([A-Z"}
        """,
        quality='- {type: custom, engine: loopline, implementation: {rule: "id > totl"}}\n',
    )
    codes = [p.code for p in problems_of(text)]
    assert codes == ["unknown-key", "unknown-severity", "invalid-pattern", "unknown-column"]


def test_problems_are_sorted_by_line_and_shown_in_the_message() -> None:
    with pytest.raises(ContractError) as caught:
        parse_contract(odcs("- {name: id, logicalType: integr}\n"), source="orders.yaml")
    assert str(caught.value).startswith("orders.yaml: the data contract has 1 problem.")
    assert "line 10, schema[0].properties[0].logicalType" in str(caught.value)


def test_an_unknown_logical_type_suggests_the_close_one() -> None:
    problem = only(odcs("- {name: id, logicalType: integr}\n"))
    assert (problem.code, problem.value) == ("invalid-value", "integr")
    assert "did you mean 'integer'?" in problem.msg


def test_an_unknown_severity_lists_the_allowed_ones() -> None:
    problem = only(
        odcs(
            ID,
            quality="- {metric: rowCount, mustBeGreaterThan: 0, severity: eror}\n",
        )
    )
    assert problem.path == "schema[0].quality[0].severity"
    assert "did you mean 'error'?" in problem.msg
    assert "warn, error, reject" in problem.msg


def test_a_bad_regular_expression_is_explained() -> None:
    problem = only(
        odcs("- {name: sku, logicalType: string, logicalTypeOptions: {pattern: '(a'}}\n")
    )
    assert problem.code == "invalid-pattern"
    assert "unclosed group" in problem.msg


def test_a_rule_naming_an_unknown_column_suggests_the_close_one() -> None:
    problem = only(
        odcs(ID, quality='- {type: custom, engine: loopline, implementation: {rule: "idd > 0"}}\n')
    )
    assert (problem.code, problem.value) == ("unknown-column", "idd")
    assert "did you mean 'id'?" in problem.msg


def test_a_rule_that_does_not_parse_points_at_the_spot() -> None:
    problem = only(
        odcs(ID, quality='- {type: custom, engine: loopline, implementation: {rule: "id >"}}\n')
    )
    assert problem.code == "rule-invalid"
    assert "expected a value" in problem.msg


def test_a_rule_comparing_text_with_numbers_is_refused() -> None:
    problem = only(
        odcs(
            ID + "- {name: sku, logicalType: string}\n",
            quality='- {type: custom, engine: loopline, implementation: {rule: "sku > id"}}\n',
        )
    )
    assert problem.code == "rule-invalid"
    assert "column types" in problem.msg


def test_a_rule_calling_an_unknown_function_is_refused() -> None:
    problem = only(
        odcs(
            ID,
            quality='- {type: custom, engine: loopline, implementation: {rule: "sqrt(id) > 1"}}\n',
        )
    )
    assert "'sqrt'" in problem.msg


def test_an_unknown_implementation_key_suggests_the_close_one() -> None:
    problem = only(
        odcs(ID, quality='- {type: custom, engine: loopline, implementation: {rul: "id > 0"}}\n')
    )
    assert problem.code == "unknown-key"
    assert "did you mean 'rule'?" in problem.msg


def test_sql_quality_checks_are_refused() -> None:
    problem = only(odcs(ID, quality="- {type: sql, query: select 1, mustBe: 1}\n"))
    assert problem.code == "unsupported-check"


def test_custom_checks_of_other_engines_are_refused() -> None:
    problem = only(odcs(ID, quality="- {type: custom, engine: soda, implementation: 'x > 0'}\n"))
    assert (problem.code, problem.value) == ("unsupported-check", "soda")


def test_a_column_metric_on_the_table_is_refused() -> None:
    problem = only(odcs(ID, quality="- {metric: nullValues, mustBe: 0}\n"))
    assert problem.code == "misplaced-check"


def test_a_metric_without_a_comparison_is_refused() -> None:
    problem = only(odcs(ID, quality="- {metric: rowCount}\n"))
    assert problem.code == "missing-key"
    assert "mustBeGreaterThan" in problem.msg


def test_allowed_values_must_match_the_column_type() -> None:
    problem = only(
        odcs(
            """\
            - name: state
              logicalType: string
              quality: [{metric: invalidValues, arguments: {validValues: [open, 2]}, mustBe: 0}]
            """
        )
    )
    assert problem.path == "schema[0].properties[0].quality[0].arguments.validValues[1]"
    assert "quote it" in problem.msg


def test_a_contract_must_describe_exactly_one_table() -> None:
    text = odcs(ID) + "  - name: second\n    properties: [{name: x, logicalType: string}]\n"
    problem = only(text)
    assert problem.path == "schema"
    assert "found 2" in problem.msg


def test_a_column_needs_a_logical_type() -> None:
    problem = only(odcs("- {name: id}\n"))
    assert (problem.code, problem.path) == ("missing-key", "schema[0].properties[0].logicalType")


def test_a_column_declared_twice_is_refused() -> None:
    assert only(odcs(ID + ID)).code == "duplicate-column"


def test_two_checks_with_one_name_are_refused() -> None:
    problem = only(
        odcs(
            ID,
            quality="""\
            - {name: size, metric: rowCount, mustBeGreaterThan: 0}
            - {name: size, metric: rowCount, mustBeLessThan: 10}
            """,
        )
    )
    assert (problem.code, problem.path) == ("duplicate-check", "schema[0].quality[1]")


def test_a_typo_in_a_contract_setting_suggests_the_setting() -> None:
    problem = only(odcs(ID, settings="- {property: maxBadRowFracton, value: 0.1}\n"))
    assert "did you mean 'maxBadRowFraction'?" in problem.msg


def test_a_bad_row_fraction_must_be_a_share() -> None:
    problem = only(odcs(ID, settings="- {property: maxBadRowFraction, value: 10}\n"))
    assert (problem.code, problem.value) == ("invalid-value", 10)


def test_min_above_max_is_refused() -> None:
    problem = only(
        odcs("- {name: n, logicalType: integer, logicalTypeOptions: {minimum: 5, maximum: 1}}\n")
    )
    assert "greater than maximum" in problem.msg


def test_freshness_needs_a_timestamp_column() -> None:
    problem = only(
        odcs(
            ID,
            quality="""\
            - type: custom
              engine: loopline
              implementation: {freshness: {column: id, max_age: 1d}}
            """,
        )
    )
    assert "timestamp or date" in problem.msg


def test_freshness_needs_a_readable_duration() -> None:
    text = odcs(
        "- name: at\n  logicalType: timestamp\n  quality:\n"
        "    - {type: custom, engine: loopline, implementation: {freshness: {max_age: soon}}}\n"
    )
    assert only(text).value == "soon"


def test_yaml_syntax_errors_carry_their_line() -> None:
    problem = only("apiVersion: v3.1.0\nkind: DataContract\nname: a: b\n")
    assert (problem.code, problem.line) == ("yaml-syntax", 3)


def test_an_empty_document_is_not_a_contract() -> None:
    assert only("").code == "not-a-mapping"
