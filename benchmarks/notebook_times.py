"""Each notebook's time against the course's budget (pocket profile, 2 cores: 3 min a lesson, 45 min in all).

Reads either a `make run` folder (its times.json: wall time per notebook) or the JUnit XML that
`make test` writes (runs/junit.xml: nbval's time per cell, summed per notebook, as CI measures):

    make run  && python benchmarks/notebook_times.py runs/latest
    make test && python benchmarks/notebook_times.py runs/junit.xml
"""
import json
import re
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

LESSON_S, TOTAL_S = 180, 45 * 60


def from_junit(path: Path) -> tuple[dict[str, float], float]:
    """Seconds per notebook (sum of its cells) and the whole run's seconds, from pytest's JUnit XML."""
    per, total = defaultdict(float), 0.0
    for case in ET.parse(path).iter("testcase"):
        t = float(case.get("time", 0))
        total += t
        found = re.search(r"(\d\d_[\w-]+)\.ipynb", f"{case.get('file', '')} {case.get('classname', '')}")
        if found:  # a notebook cell (nbval); unit tests only count towards the whole run
            per[found.group(1) + ".ipynb"] += t
    return dict(per), total


def main() -> None:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/latest")
    if src.suffix == ".xml":
        times, total = from_junit(src)
    else:
        times_file = src / "times.json"
        if not times_file.exists():
            sys.exit(f"{times_file} not found: run `make run` (or pass runs/junit.xml after `make test`).")
        times = json.loads(times_file.read_text())
        total = sum(times.values())
    print(f"{'notebook':<36}{'seconds':>9}{'budget':>8}  ok")
    for name, sec in sorted(times.items()):
        print(f"{name:<36}{sec:>9.0f}{LESSON_S:>8}  {'yes' if sec <= LESSON_S else 'NO'}")
    print(f"{'notebooks':<36}{sum(times.values()):>9.0f}")
    print(f"{'whole run':<36}{total:>9.0f}{TOTAL_S:>8}  {'yes' if total <= TOTAL_S else 'NO'}")


if __name__ == "__main__":
    main()
