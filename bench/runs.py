"""Every saved benchmark run, one line each (``python -m bench.runs``): the table in bench/README.md.

Reads ``bench/results/*.json`` but ``latest.json`` (a copy of the newest), oldest first.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from bench.harness import RUNS_HEADER, summarise_run

RESULTS = Path(__file__).resolve().parent / "results"


def run_order(path: Path) -> tuple[str, str]:
    """By date, then time of day; a file named by its date alone came first that day."""
    match = re.match(r"(\d{4}-\d{2}-\d{2})(?:-(\d{4}))?", path.name)
    return (match.group(1), match.group(2) or "") if match else (path.name, "")


def main() -> int:
    files = sorted((p for p in RESULTS.glob("*.json") if p.name != "latest.json"), key=run_order)
    print(RUNS_HEADER)
    for path in files:
        print(summarise_run(path.name.removesuffix(".json"), json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
