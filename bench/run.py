"""Run every benchmark (``make bench``); each writes its figures to bench/results/."""

from __future__ import annotations

import sys

from bench import console, drift, ingest, validation


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks in turn; extra arguments go to each (e.g. ``--rows 20000``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    status = validation.main(args)
    rows = [arg for arg in args if arg.startswith("--rows") or arg.isdigit()]
    return status or ingest.main(rows) or drift.main(rows) or console.main([])


if __name__ == "__main__":
    raise SystemExit(main())
