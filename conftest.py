"""Order of the test run: the costliest notebooks first, cheap unit-test files last.

`make test` runs two xdist workers with ``--dist loadfile``: each file (a notebook, or a unit-test
module) goes whole to whichever worker is free, in collection order. Run in file-name order, a long
notebook that starts last leaves the other worker idle for minutes; longest-first ("LPT" scheduling)
lets the short files fill the gaps at the end. A notebook's cost is the cell time recorded in its own
committed outputs (``metadata.execution`` of each code cell), so the order follows the notebooks as
they change; unit-test modules count as free.
"""
from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=None)
def recorded_seconds(path: Path) -> float:
    """Sum of the cell times recorded in an executed notebook (0 when it carries none)."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return 0.0
    total = 0.0
    for cell in cells:
        ex = cell.get("metadata", {}).get("execution", {})
        start, end = ex.get("iopub.execute_input"), ex.get("shell.execute_reply")
        if start and end:
            total += (datetime.fromisoformat(end.replace("Z", "+00:00"))
                      - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
    return total


def pytest_collection_modifyitems(session, config, items) -> None:
    """Sort by file, costliest notebook first; the sort is stable, so cells keep their order."""
    def cost(item) -> float:
        path = Path(str(item.fspath))
        return recorded_seconds(path) if path.suffix == ".ipynb" else 0.0

    items.sort(key=lambda item: -cost(item))
