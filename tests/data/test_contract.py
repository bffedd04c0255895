"""Reading ODCS v3.1.0 contracts into checks."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from loopline.data import Bound, load_contract, parse_contract
from loopline.errors import ContractError

HEADER = """\
apiVersion: v3.1.0
kind: DataContract
id: orders-contract
name: orders
version: 1.2.0
status: active
"""


def odcs(properties: str, quality: str = "", settings: str = "") -> str:
    """A contract document with the given (indented as in the file) properties and extras."""
    text = HEADER + "schema:\n  - name: orders\n    properties:\n"
    text += textwrap.indent(textwrap.dedent(properties), "      ")
    if quality:
        text += "    quality:\n" + textwrap.indent(textwrap.dedent(quality), "      ")
    if settings:
        text += "customProperties:\n" + textwrap.indent(textwrap.dedent(settings), "  ")
    return text


ID = "- {name: id, logicalType: integer}\n"


def test_contract_keeps_name_version_and_column_types() -> None:
    contract = parse_contract(odcs(ID + "- {name: total, logicalType: number}\n"))
    assert (contract.name, contract.version, contract.id) == ("orders", "1.2.0", "orders-contract")
    assert [(c.name, c.logical_type) for c in contract.columns] == [
        ("id", "integer"),
        ("total", "number"),
    ]


def test_every_column_gets_a_type_check_that_rejects() -> None:
    contract = parse_contract(odcs(ID))
    check = contract.check("id.type")
    assert (check.kind, check.severity, check.params["logical_type"]) == (
        "type",
        "reject",
        "integer",
    )


def test_required_becomes_a_not_null_check() -> None:
    contract = parse_contract(odcs("- {name: id, logicalType: integer, required: true}\n"))
    assert contract.check("id.not_null").kind == "not_null"


def test_primary_key_implies_not_null_and_unique() -> None:
    contract = parse_contract(odcs("- {name: id, logicalType: integer, primaryKey: true}\n"))
    assert {c.name for c in contract.checks} == {"id.type", "id.not_null", "id.unique"}


def test_logical_type_options_become_range_length_and_pattern_checks() -> None:
    contract = parse_contract(
        odcs(
            """\
            - name: qty
              logicalType: integer
              logicalTypeOptions: {minimum: 1, exclusiveMaximum: 100}
            - name: sku
              logicalType: string
              logicalTypeOptions: {minLength: 3, maxLength: 8, pattern: '^[A-Z]+$'}
            """
        )
    )
    assert contract.check("qty.range").params == {"minimum": 1, "exclusiveMaximum": 100}
    assert contract.check("sku.length").params == {"minLength": 3, "maxLength": 8}
    assert contract.check("sku.pattern").params == {"pattern": "^[A-Z]+$"}


def test_invalid_values_metric_becomes_an_allowed_values_check() -> None:
    contract = parse_contract(
        odcs(
            """\
            - name: state
              logicalType: string
              quality:
                - {metric: invalidValues, arguments: {validValues: [open, paid]}, mustBe: 0}
            """
        )
    )
    check = contract.check("state.allowed_values")
    assert (check.params["values"], check.bound, check.row_level) == (["open", "paid"], None, True)


def test_a_tolerance_makes_a_count_check_batch_level() -> None:
    contract = parse_contract(
        odcs(
            """\
            - name: note
              logicalType: string
              quality: [{metric: nullValues, mustBeLessThan: 5, unit: percent}]
            """
        )
    )
    check = contract.check("note.null_values")
    assert check.bound == Bound(operator="mustBeLessThan", value=5, unit="percent")
    assert not check.row_level


def test_compound_key_check_is_named_after_its_columns() -> None:
    contract = parse_contract(
        odcs(
            ID + "- {name: line, logicalType: integer}\n",
            quality="- {metric: duplicateValues, arguments: {properties: [id, line]}, mustBe: 0}\n",
        )
    )
    check = contract.check("row.duplicate(id,line)")
    assert (check.kind, check.columns) == ("duplicates", ("id", "line"))


def test_except_properties_covers_every_other_column() -> None:
    contract = parse_contract(
        odcs(
            ID + "- {name: a, logicalType: string}\n- {name: b, logicalType: string}\n",
            quality="- {metric: duplicateValues, arguments: {exceptProperties: [id]}, mustBe: 0}\n",
        )
    )
    assert contract.check("row.duplicate(* except id)").columns == ("a", "b")


def test_row_count_metric_keeps_its_bound() -> None:
    contract = parse_contract(odcs(ID, quality="- {metric: rowCount, mustBeBetween: [10, 20]}\n"))
    check = contract.check("row_count")
    assert check.bound == Bound(operator="mustBeBetween", value=[10, 20])
    assert check.bound.allows(15)
    assert not check.bound.allows(21)


def test_column_severity_comes_from_its_custom_properties() -> None:
    contract = parse_contract(
        odcs(
            """\
            - name: id
              logicalType: integer
              required: true
              customProperties: [{property: severity, value: warn}]
            """
        )
    )
    assert contract.check("id.not_null").severity == "warn"
    assert contract.check("id.type").severity == "reject"


def test_quality_items_take_their_own_severity_and_name() -> None:
    contract = parse_contract(
        odcs(
            """\
            - name: state
              logicalType: string
              quality:
                - name: known_state
                  metric: invalidValues
                  arguments: {validValues: [open]}
                  mustBe: 0
                  severity: reject
            """
        )
    )
    assert contract.check("known_state").severity == "reject"


def test_custom_rule_names_the_columns_it_reads() -> None:
    contract = parse_contract(
        odcs(
            ID + "- {name: paid, logicalType: number}\n- {name: due, logicalType: number}\n",
            quality="""\
            - type: custom
              engine: loopline
              implementation: {rule: "paid <= due * 2 or due < 0"}
            """,
        )
    )
    check = contract.check("rule(paid <= due * 2 or due < 0)")
    assert (check.kind, check.columns) == ("rule", ("paid", "due"))


def test_freshness_on_a_property_defaults_to_that_column() -> None:
    contract = parse_contract(
        odcs(
            """\
            - name: updated
              logicalType: timestamp
              quality:
                - {type: custom, engine: loopline, implementation: {freshness: {max_age: 24h}}}
            """
        )
    )
    assert contract.check("updated.freshness").params == {"column": "updated", "max_age": "24h"}


def test_distribution_check_keeps_its_limit() -> None:
    contract = parse_contract(
        odcs(
            """\
            - name: age
              logicalType: integer
              quality:
                - type: custom
                  engine: loopline
                  implementation: {distribution: {max_psi: 0.2}}
                  severity: warn
            """
        )
    )
    check = contract.check("age.distribution")
    assert (check.params["max_psi"], check.severity, check.row_level) == (0.2, "warn", False)


def test_contract_settings_come_from_top_level_custom_properties() -> None:
    contract = parse_contract(
        odcs(
            ID,
            settings="""\
            - {property: maxBadRowFraction, value: 0.1}
            - {property: allowExtraColumns, value: false}
            - {property: owner, value: sales-data}
            """,
        )
    )
    assert (contract.max_bad_row_fraction, contract.allow_extra_columns) == (0.1, False)
    assert contract.metadata["customProperties"] == [{"property": "owner", "value": "sales-data"}]


def test_text_quality_items_are_documentation_only() -> None:
    contract = parse_contract(
        odcs(ID, quality="- {type: text, description: Orders are never deleted.}\n")
    )
    assert contract.quality == ()


def test_load_contract_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "orders.yaml"
    path.write_text(odcs(ID), encoding="utf-8")
    assert load_contract(path).name == "orders"


def test_load_contract_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="Cannot read the contract") as caught:
        load_contract(tmp_path / "nope.yaml")
    assert caught.value.source == str(tmp_path / "nope.yaml")


def test_bundled_example_contract_loads() -> None:
    root = Path(__file__).resolve().parents[2]
    contract = load_contract(root / "examples" / "credit-default" / "contracts" / "credit.yaml")
    assert contract.check("EDUCATION.allowed_values").params["values"] == [1, 2, 3, 4]
