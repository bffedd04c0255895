"""The typed model of a data contract, and its ODCS v3.1.0 form.

A :class:`Contract` is what an Open Data Contract Standard (ODCS) v3.1.0 document means to
loopline: one table of typed :class:`Column` objects plus a flat list of
:class:`~loopline.data.Check` objects. Checks implied by a column's own fields (its type,
``required``, ``unique``, ``logicalTypeOptions``) are derived from the column; checks from ODCS
``quality`` items are stored in :attr:`Contract.quality`; :attr:`Contract.checks` joins both.

``parse_contract(dump_contract(contract)) == contract`` for every contract loopline can read:
what loopline does not interpret (other ODCS fields, other custom properties) is kept in the
``metadata`` of the contract and its columns and written back unchanged. Quality items of
``type: text`` and the descriptive fields of quality items other than ``name``, ``description``,
``severity`` and ``unit`` are not kept.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from loopline.data._check_model import Check, CheckKind, LogicalType, Severity, default_name
from loopline.errors import ContractError

__all__ = ["Column", "Contract", "contract_to_odcs", "dump_contract"]

_RANGE_KEYS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


@dataclass(frozen=True, kw_only=True)
class Column:
    """One column (an ODCS property) of the contract's table.

    Attributes:
        name: The column name in the data.
        logical_type: The ODCS ``logicalType``.
        required: No value may be null (ODCS ``required``).
        unique: No non-null value may repeat (ODCS ``unique``).
        primary_key: ODCS ``primaryKey``; implies required and unique.
        options: The ODCS ``logicalTypeOptions`` (``minimum``, ``maxLength``, ``pattern`` ...).
        severity: The severity of the checks derived from this column's fields (type aside,
            which always refuses the batch); from the property's ``customProperties``.
        description: Free text from the contract.
        metadata: Other ODCS fields of the property, kept so that a contract round-trips.
    """

    name: str
    logical_type: LogicalType
    required: bool = False
    unique: bool = False
    primary_key: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    severity: Severity = "error"
    description: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def derived_checks(self) -> list[Check]:
        """The checks this column's own fields imply, in a fixed order."""
        name, severity = self.name, self.severity
        checks = [
            Check(
                name=f"{name}.type",
                kind="type",
                columns=(name,),
                severity="reject",
                params={"logical_type": self.logical_type},
            )
        ]

        def add(kind: CheckKind, params: Mapping[str, Any]) -> None:
            checks.append(
                Check(
                    name=f"{name}.{kind}",
                    kind=kind,
                    columns=(name,),
                    severity=severity,
                    params=params,
                )
            )

        if self.required or self.primary_key:
            add("not_null", {})
        if self.unique or self.primary_key:
            add("unique", {})
        bounds = {key: self.options[key] for key in _RANGE_KEYS if key in self.options}
        if bounds:
            add("range", bounds)
        lengths = {
            key: self.options[key] for key in ("minLength", "maxLength") if key in self.options
        }
        if lengths:
            add("length", lengths)
        if "pattern" in self.options:
            add("pattern", {"pattern": self.options["pattern"]})
        if "multipleOf" in self.options:
            add("multiple_of", {"multipleOf": self.options["multipleOf"]})
        return checks


@dataclass(frozen=True, kw_only=True)
class Contract:
    """A parsed data contract: one table's columns and every check on it.

    Build one with :func:`~loopline.data.load_contract` or
    :func:`~loopline.data.parse_contract`, draft one from data with
    :func:`~loopline.data.infer_contract`, write one with :func:`~loopline.data.dump_contract`.

    Attributes:
        name: The contract's name (ODCS ``name``).
        version: The contract's own version (ODCS ``version``).
        columns: The table's columns, in order.
        quality: Checks from ODCS ``quality`` items (the column-derived ones are in ``checks``).
        id: The ODCS ``id``; defaults to the name.
        status: The ODCS ``status`` (``draft``, ``active`` ...).
        table: The name of the ODCS schema object; defaults to the contract's name.
        max_bad_row_fraction: Refuse a batch when a larger share of its rows fails
            error-severity checks; ``None`` for no limit.
        allow_extra_columns: Whether columns the contract does not name are accepted.
        metadata: Other top-level ODCS fields, kept so that a contract round-trips.
        table_metadata: Other fields of the ODCS schema object (``physicalType``,
            ``description`` ...), kept likewise.
        checks: Every check, column-derived first, then quality items (computed).
    """

    name: str
    version: str
    columns: tuple[Column, ...]
    quality: tuple[Check, ...] = ()
    id: str | None = None
    status: str = "active"
    table: str | None = None
    max_bad_row_fraction: float | None = None
    allow_extra_columns: bool = True
    metadata: Mapping[str, Any] = field(default_factory=dict)
    table_metadata: Mapping[str, Any] = field(default_factory=dict)
    checks: tuple[Check, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        checks = [check for column in self.columns for check in column.derived_checks()]
        checks += self.quality
        counts = Counter(check.name for check in checks)
        repeated = sorted(name for name, count in counts.items() if count > 1)
        if repeated:
            raise ContractError(
                f"Contract {self.name!r} has more than one check named {', '.join(repeated)}.",
                hint="Give each quality item a distinct `name`.",
            )
        fraction = self.max_bad_row_fraction
        if fraction is not None and not (0.0 <= fraction <= 1.0 and not math.isnan(fraction)):
            raise ContractError(
                f"max_bad_row_fraction must be between 0 and 1, got {fraction!r}.",
                hint="Use e.g. 0.1 to refuse batches where more than 10% of rows are bad.",
            )
        object.__setattr__(self, "checks", tuple(checks))
        object.__setattr__(self, "id", self.id or self.name)
        object.__setattr__(self, "table", self.table or self.name)

    @property
    def column_names(self) -> tuple[str, ...]:
        """The names of the contract's columns, in order."""
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> Column:
        """The column called ``name``.

        Raises:
            KeyError: The contract has no such column.
        """
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def check(self, name: str) -> Check:
        """The check called ``name``.

        Raises:
            KeyError: The contract has no such check.
        """
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)


_API_VERSION = "v3.1.0"
_TABLE_KINDS = ("row_count", "rule")


def contract_to_odcs(contract: Contract) -> dict[str, Any]:
    """The contract as an ODCS v3.1.0 document (plain, JSON-ready data)."""
    properties = [_property(column) for column in contract.columns]
    by_name = {prop["name"]: prop for prop in properties}
    table_quality: list[dict[str, Any]] = []
    for check in contract.quality:
        item = _quality_item(check)
        column = _home_column(check)
        if column is not None and column in by_name:
            if check.kind in ("freshness", "distribution"):
                item["implementation"][check.kind].pop("column", None)
            by_name[column].setdefault("quality", []).append(item)
        else:
            table_quality.append(item)
    table: dict[str, Any] = {"name": contract.table or contract.name}
    table.update(contract.table_metadata)
    table["properties"] = properties
    if table_quality:
        table["quality"] = table_quality
    document: dict[str, Any] = {
        "apiVersion": _API_VERSION,
        "kind": "DataContract",
        "id": contract.id or contract.name,
        "name": contract.name,
        "version": contract.version,
        "status": contract.status,
    }
    metadata = dict(contract.metadata)
    extra_settings = list(metadata.pop("customProperties", []))
    document.update(metadata)
    document["schema"] = [table]
    settings: list[Any] = []
    if contract.max_bad_row_fraction is not None:
        settings.append({"property": "maxBadRowFraction", "value": contract.max_bad_row_fraction})
    if not contract.allow_extra_columns:
        settings.append({"property": "allowExtraColumns", "value": False})
    if settings or extra_settings:
        document["customProperties"] = settings + extra_settings
    return document


def dump_contract(contract: Contract) -> str:
    """The contract as ODCS v3.1.0 YAML text, readable by :func:`parse_contract`."""
    return yaml.dump(
        contract_to_odcs(contract),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )


def _property(column: Column) -> dict[str, Any]:
    prop: dict[str, Any] = {"name": column.name, "logicalType": column.logical_type}
    if column.description is not None:
        prop["description"] = column.description
    if column.required:
        prop["required"] = True
    if column.unique:
        prop["unique"] = True
    if column.primary_key:
        prop["primaryKey"] = True
    if column.options:
        prop["logicalTypeOptions"] = dict(column.options)
    metadata = dict(column.metadata)
    custom = list(metadata.pop("customProperties", []))
    if column.severity != "error":
        custom.insert(0, {"property": "severity", "value": column.severity})
    if custom:
        prop["customProperties"] = custom
    prop.update(metadata)
    return prop


def _home_column(check: Check) -> str | None:
    if check.kind in _TABLE_KINDS:
        return None
    if check.kind == "duplicates" and check.params:
        return None
    return check.column


def _quality_item(check: Check) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if check.name != default_name(check.kind, check.columns, check.params):
        item["name"] = check.name
    if check.description is not None:
        item["description"] = check.description
    params = dict(check.params)
    if check.kind in ("rule", "freshness", "distribution"):
        item.update(type="custom", engine="loopline")
        if check.kind == "rule":
            item["implementation"] = {"rule": params["rule"]}
        else:
            item["implementation"] = {check.kind: params}
    else:
        item["metric"] = _METRICS[check.kind]
        arguments = _arguments(check.kind, params)
        if arguments:
            item["arguments"] = arguments
    if check.bound is not None:
        item[check.bound.operator] = check.bound.value
        if check.bound.unit != "rows":
            item["unit"] = check.bound.unit
    elif "metric" in item:
        item["mustBe"] = 0
    if check.severity != "error":
        item["severity"] = check.severity
    return item


_METRICS = {
    "null_values": "nullValues",
    "missing_values": "missingValues",
    "allowed_values": "invalidValues",
    "duplicates": "duplicateValues",
    "row_count": "rowCount",
}


def _arguments(kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    if kind == "allowed_values":
        return {"validValues": list(params["values"])}
    if kind == "missing_values":
        return {"missingValues": list(params["values"])}
    if kind == "duplicates":
        return {key: list(value) for key, value in params.items()}
    return {}


class _Dumper(yaml.SafeDumper):
    """Writes short lists of plain values on one line: ``validValues: [1, 2, 3]``."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = len(data) <= 30 and all(
        isinstance(item, str | int | float | bool) or item is None for item in data
    )
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)
