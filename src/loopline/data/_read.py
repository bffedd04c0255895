"""Read source files (CSV, Parquet, JSON Lines; gzip allowed) into frames, with clear errors."""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from loopline.errors import DataError

__all__ = ["SourceFile", "hash_file", "read_source"]

_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
# polars needs several times the file size while parsing; refuse files that cannot fit.
_MEMORY_FACTOR = 4
_GZIP_RATIO_GUESS = 5


@dataclass(frozen=True)
class SourceFile:
    """A source file: where it is, its format, size and SHA-256."""

    path: Path
    format: str
    size: int
    sha256: str


def hash_file(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _format_of(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    kind = _FORMATS.get(suffixes[-1] if suffixes else "")
    if kind is None:
        raise DataError(
            f"Cannot tell the format of {path.name}.",
            hint="Use a .csv, .tsv, .parquet, .jsonl or .ndjson file (optionally .gz); "
            "rename the file if its extension is wrong.",
        )
    return kind


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def read_source(
    path: Path | str,
    *,
    format: str | None = None,
    delimiter: str | None = None,
    memory_limit: int | None = None,
) -> tuple[SourceFile, pl.DataFrame]:
    """Read a source file whole, refusing clearly what cannot be read or would not fit in memory.

    Raises:
        DataError: Missing, unreadable, empty, malformed, or too large for memory.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"No file at {path}.", hint="Check the path; it is relative to where you run."
        )
    kind = format or _format_of(path)
    size = path.stat().st_size
    expanded = size * (_GZIP_RATIO_GUESS if path.suffix.lower() == ".gz" else 1)
    limit = memory_limit if memory_limit is not None else _available_memory()
    if expanded * _MEMORY_FACTOR > limit:
        raise DataError(
            f"{path.name} ({size / 1e9:.1f} GB) is too large to validate in this machine's memory "
            f"({limit / 1e9:.1f} GB available); nothing was ingested.",
            hint="Split the file into batches and ingest each with --mode append.",
        )
    if size == 0:
        raise DataError(f"{path.name} is empty; nothing was ingested.", hint="Check the export.")
    source = SourceFile(path=path.resolve(), format=kind, size=size, sha256=hash_file(path))
    try:
        frame = _read(path, kind, delimiter)
    except pl.exceptions.NoDataError as exc:
        raise DataError(f"{path.name} holds no data; nothing was ingested.") from exc
    except (pl.exceptions.PolarsError, OSError, gzip.BadGzipFile, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise DataError(
            f"Cannot read {path.name} as {kind}: {first}",
            hint="Check the file's format, delimiter (--delimiter) and encoding (UTF-8).",
        ) from exc
    if frame.height == 0:
        raise DataError(f"{path.name} has a header but no rows; nothing was ingested.")
    return source, frame


def _read(path: Path, kind: str, delimiter: str | None) -> pl.DataFrame:
    if kind == "parquet":
        return pl.read_parquet(path)
    if kind == "jsonl":
        if path.suffix.lower() == ".gz":
            with gzip.open(path, "rb") as handle:
                return pl.read_ndjson(handle.read())
        return pl.read_ndjson(path)
    separator = delimiter or ("\t" if ".tsv" in [s.lower() for s in path.suffixes] else ",")
    try:
        return pl.read_csv(path, separator=separator, infer_schema_length=10_000)
    except pl.exceptions.ComputeError:
        # a value late in the file does not fit the type guessed from the first rows
        return pl.read_csv(path, separator=separator, infer_schema_length=None)
