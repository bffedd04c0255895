"""Reference profiles: what the training data looked like, kept so monitoring never re-reads it.

A numeric column keeps its *sorted* non-null values (float64), so KS and Wasserstein against a
stored profile are exact, plus its null count, mean, standard deviation (ddof=0) and the PSI
bins: the reference deciles (linear interpolation), de-duplicated, as inner edges with -inf and
+inf as outer edges, and the share of reference values in each bin ``[lower, upper)``. A
categorical column keeps the count of each category (values as strings) and its null count;
null is never a category.

Kinds, when not given: string, categorical, enum and boolean columns are categorical; numeric
columns (integers included, even with few distinct values: ties are fine for KS) and temporal
columns (as their integer representation) are numeric. Name a column in ``categorical`` to
treat it as categorical whatever its type. NaN counts as null.

A profile is stored as one Parquet file (:meth:`ReferenceProfile.to_bytes`): one row per
column, the values as lists, and the format version and row count in the file's metadata.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from loopline.errors import DataError
from loopline.monitoring._stats import bin_counts

__all__ = [
    "CategoricalReference",
    "NumericReference",
    "ReferenceProfile",
    "build_reference",
    "numeric_columns",
    "sorted_values",
    "to_polars",
]

FORMAT = 1
_METADATA_KEY = b"loopline.reference"
_DECILES = np.linspace(0.1, 0.9, 9)
_SUMMARY_QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
_HISTOGRAM_BINS = 20
_TOP_CATEGORIES = 50
_CATEGORICAL_TYPES = (pl.String, pl.Categorical, pl.Enum, pl.Boolean)


@dataclass(frozen=True, eq=False)
class NumericReference:
    """A numeric column of the reference: sorted values, nulls, moments and PSI bins."""

    values: NDArray[np.float64]
    nulls: int
    mean: float
    std: float
    edges: NDArray[np.float64]
    proportions: NDArray[np.float64]
    kind: str = field(default="numeric", init=False)

    @classmethod
    def from_sorted(cls, values: NDArray[np.float64], nulls: int) -> NumericReference:
        """The reference of a column from its sorted non-null values and its null count."""
        if values.size == 0:
            empty = np.empty(0)
            return cls(empty, nulls, float("nan"), float("nan"), empty, empty)
        edges = np.unique(quantiles(values, _DECILES))
        proportions = bin_counts(values, edges) / values.size
        return cls(values, nulls, float(values.mean()), float(values.std()), edges, proportions)

    @property
    def rows(self) -> int:
        """Rows of the column, nulls included."""
        return int(self.values.size) + self.nulls


@dataclass(frozen=True, eq=False)
class CategoricalReference:
    """A categorical column of the reference: each category's count, and the nulls."""

    categories: tuple[str, ...]
    counts: NDArray[np.int64]
    nulls: int
    kind: str = field(default="categorical", init=False)

    @property
    def rows(self) -> int:
        """Rows of the column, nulls included."""
        return int(self.counts.sum()) + self.nulls


ColumnReference = NumericReference | CategoricalReference


@dataclass(frozen=True, eq=False)
class ReferenceProfile:
    """The summary of a reference (training) frame that drift reports compare windows with.

    Build one with :func:`build_reference`; store it with :meth:`to_bytes` next to the model.
    """

    rows: int
    columns: dict[str, NumericReference | CategoricalReference]

    def to_bytes(self) -> bytes:
        """The profile as one self-describing Parquet file."""
        names = list(self.columns)
        refs = [self.columns[n] for n in names]

        def lists(get: Any, kind: pa.DataType) -> pa.Array:
            parts = [np.asarray(get(c)) for c in refs]
            offsets = np.concatenate(([0], np.cumsum([p.size for p in parts]))).astype(np.int64)
            flat = np.concatenate(parts) if parts else np.empty(0)
            return pa.LargeListArray.from_arrays(offsets, pa.array(flat, type=kind))

        def num(c: ColumnReference, attr: str) -> Any:
            return getattr(c, attr) if isinstance(c, NumericReference) else np.empty(0)

        def cat(c: ColumnReference, attr: str) -> Any:
            if not isinstance(c, CategoricalReference):
                return np.empty(0, dtype=object if attr == "categories" else np.int64)
            return np.asarray(getattr(c, attr), dtype=object if attr == "categories" else None)

        table = pa.table(
            {
                "name": pa.array(names, type=pa.string()),
                "kind": pa.array([c.kind for c in refs], type=pa.string()),
                "nulls": pa.array([c.nulls for c in refs], type=pa.int64()),
                "mean": pa.array([getattr(c, "mean", None) for c in refs], type=pa.float64()),
                "std": pa.array([getattr(c, "std", None) for c in refs], type=pa.float64()),
                "values": lists(lambda c: num(c, "values"), pa.float64()),
                "edges": lists(lambda c: num(c, "edges"), pa.float64()),
                "proportions": lists(lambda c: num(c, "proportions"), pa.float64()),
                "categories": lists(lambda c: cat(c, "categories"), pa.string()),
                "counts": lists(lambda c: cat(c, "counts"), pa.int64()),
            }
        )
        meta = json.dumps({"format": FORMAT, "rows": self.rows}).encode()
        table = table.replace_schema_metadata({_METADATA_KEY: meta})
        sink = io.BytesIO()
        # sorted random floats barely compress (zstd saves ~13 %) and decompressing doubles
        # the read time: the values are stored plain
        pq.write_table(table, sink, compression="none")
        return sink.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceProfile:
        """Read a profile written by :meth:`to_bytes`.

        Raises:
            DataError: The bytes are not a loopline reference profile, or of a newer format.
        """
        try:
            table = pq.read_table(io.BytesIO(data))
            meta = json.loads((table.schema.metadata or {})[_METADATA_KEY])
        except (pa.ArrowException, KeyError, ValueError) as exc:
            raise DataError(
                "These bytes are not a loopline reference profile.",
                hint="Pass what ReferenceProfile.to_bytes() wrote.",
            ) from exc
        if meta.get("format") != FORMAT:
            raise DataError(
                f"Reference profile format {meta.get('format')!r} is not supported "
                f"(this loopline reads format {FORMAT}).",
                hint="Rebuild the profile with build_reference() in this version.",
            )

        def lists(name: str) -> list[Any]:
            column = table.column(name).combine_chunks()
            flat = column.flatten().to_numpy(zero_copy_only=False)
            offsets = column.offsets.to_numpy()
            return [flat[offsets[i] : offsets[i + 1]] for i in range(len(column))]

        values, edges, proportions = lists("values"), lists("edges"), lists("proportions")
        categories, counts = lists("categories"), lists("counts")
        columns: dict[str, ColumnReference] = {}
        for i, row in enumerate(table.select(["name", "kind", "nulls", "mean", "std"]).to_pylist()):
            if row["kind"] == "numeric":
                columns[row["name"]] = NumericReference(
                    np.ascontiguousarray(values[i], dtype=np.float64),
                    int(row["nulls"]),
                    float(row["mean"]),
                    float(row["std"]),
                    np.asarray(edges[i], dtype=np.float64),
                    np.asarray(proportions[i], dtype=np.float64),
                )
            else:
                columns[row["name"]] = CategoricalReference(
                    tuple(str(v) for v in categories[i]),
                    np.asarray(counts[i], dtype=np.int64),
                    int(row["nulls"]),
                )
        return cls(rows=int(meta["rows"]), columns=columns)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary per column, for people and the UI.

        Numeric columns: min, max, mean, std, quantiles (0, 1, 5, 25, 50, 75, 95, 99 and
        100 %) and a 20-bin equal-width histogram; categorical columns: the 50 most frequent
        categories with their counts. Every column: kind, rows, nulls and null rate.
        """
        out: dict[str, Any] = {"rows": self.rows, "columns": {}}
        for name, column in self.columns.items():
            rows = column.rows
            entry: dict[str, Any] = {
                "kind": column.kind,
                "rows": rows,
                "nulls": column.nulls,
                "null_rate": column.nulls / rows if rows else None,
            }
            if isinstance(column, NumericReference):
                entry.update(_numeric_summary(column))
            else:
                top = np.argsort(-column.counts, kind="stable")[:_TOP_CATEGORIES]
                entry["categories"] = {column.categories[i]: int(column.counts[i]) for i in top}
                entry["distinct"] = len(column.categories)
            out["columns"][name] = entry
        return out


def _numeric_summary(column: NumericReference) -> dict[str, Any]:
    values = column.values
    if values.size == 0:
        return {"min": None, "max": None, "mean": None, "std": None, "quantiles": {}}
    low, high = float(values[0]), float(values[-1])
    bounds = np.linspace(low, high, _HISTOGRAM_BINS + 1) if high > low else np.array([low, high])
    below = np.searchsorted(values, bounds[1:-1], side="left")
    counts = np.diff(np.concatenate(([0], below, [values.size])))
    return {
        "min": low,
        "max": high,
        "mean": column.mean,
        "std": column.std,
        "quantiles": {
            str(q): float(v)
            for q, v in zip(_SUMMARY_QUANTILES, quantiles(values, _SUMMARY_QUANTILES), strict=True)
        },
        "histogram": {"edges": bounds.tolist(), "counts": counts.tolist()},
    }


def quantiles(values: NDArray[np.float64], probabilities: Any) -> NDArray[np.float64]:
    """Quantiles of sorted values by linear interpolation (NumPy's default method)."""
    position = np.asarray(probabilities, dtype=np.float64) * (values.size - 1)
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, values.size - 1)
    fraction = position - lower
    return values[lower] + (values[upper] - values[lower]) * fraction


def to_polars(frame: Any, what: str) -> pl.DataFrame:
    """A polars frame from polars or pandas input (pandas is converted, never the reverse)."""
    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pd.DataFrame):
        return pl.from_pandas(frame)
    raise DataError(
        f"The {what} is a {type(frame).__name__}, not a data frame.",
        hint="Pass a polars or pandas DataFrame.",
    )


def is_categorical(dtype: pl.DataType) -> bool:
    """Whether a column of this type is categorical when not told otherwise."""
    return isinstance(dtype, _CATEGORICAL_TYPES) or dtype in _CATEGORICAL_TYPES


def numeric_columns(frame: pl.DataFrame, names: list[str]) -> list[pl.Expr]:
    """Expressions casting ``names`` to float64 (a value that does not cast becomes null)."""
    exprs = []
    for name in names:
        column = pl.col(name)
        dtype = frame.schema[name]
        if dtype.is_temporal():
            column = column.to_physical()
        elif isinstance(dtype, pl.Categorical | pl.Enum):
            column = column.cast(pl.String)
        elif dtype.is_nested() or dtype == pl.Object:
            raise DataError(
                f"Column {name!r} has type {dtype}, which drift cannot compare.",
                hint="Leave it out with columns=[...], or convert it to numbers or strings.",
            )
        exprs.append(column.cast(pl.Float64, strict=False).alias(name))
    return exprs


def sorted_values(frame: pl.DataFrame, names: list[str]) -> dict[str, tuple[Any, int]]:
    """Each numeric column's sorted non-null float64 values and its null count (NaN included).

    NumPy's vectorised sort is several times faster than polars' for one float column; nulls
    become NaN, which it sorts last, so the non-null values are the leading slice.
    """
    if not names:
        return {}
    casted = frame.select(numeric_columns(frame, names))
    out: dict[str, tuple[Any, int]] = {}
    for name in names:
        values = np.sort(casted.get_column(name).to_numpy().astype(np.float64, copy=False))
        filled = int(np.searchsorted(values, np.inf, side="right"))  # NaN sorts after inf
        out[name] = (values[:filled], values.size - filled)
    return out


def category_counts(series: pl.Series) -> tuple[tuple[str, ...], NDArray[np.int64], int]:
    """The categories (as strings, sorted), their counts, and the null count of a column."""
    values = series.cast(pl.String, strict=False)
    counted = values.drop_nulls().value_counts(sort=False).sort(values.name)
    names = tuple(str(v) for v in counted.get_column(values.name).to_list())
    counts = counted.get_column("count").to_numpy().astype(np.int64)
    return names, counts, int(values.null_count())


def build_reference(
    frame: pl.DataFrame | pd.DataFrame,
    *,
    categorical: Iterable[str] = (),
    columns: Iterable[str] | None = None,
) -> ReferenceProfile:
    """Profile a reference frame (the training data) for later drift reports.

    Args:
        frame: The reference rows, polars or pandas.
        categorical: Columns to treat as categorical whatever their type.
        columns: The columns to profile (default: all).

    Raises:
        DataError: A named column is not in the frame, or has a type drift cannot compare.

    Example:
        >>> import polars as pl
        >>> profile = build_reference(pl.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]}))
        >>> profile.columns["x"].kind, profile.columns["c"].kind
        ('numeric', 'categorical')
    """
    data = to_polars(frame, "reference")
    names = list(data.columns if columns is None else columns)
    forced = set(categorical)
    unknown = [n for n in [*names, *forced] if n not in data.columns]
    if unknown:
        raise DataError(
            f"Column(s) {sorted(set(unknown))} are not in the reference frame.",
            hint=f"Choose among {data.columns}.",
        )
    kinds = {n: n in forced or is_categorical(data.schema[n]) for n in names}
    numeric = sorted_values(data, [n for n in names if not kinds[n]])
    profile: dict[str, ColumnReference] = {}
    for name in names:
        if kinds[name]:
            profile[name] = CategoricalReference(*category_counts(data.get_column(name)))
        else:
            profile[name] = NumericReference.from_sorted(*numeric[name])
    return ReferenceProfile(rows=data.height, columns=profile)
