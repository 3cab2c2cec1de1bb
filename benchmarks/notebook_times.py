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
    """Seconds per notebook (sum of its cells) and the whole run's wall seconds, from pytest's JUnit XML.

    With xdist the test cases of both workers overlap in time, so the whole run is the test suite's own
    wall time (the ``time`` attribute pytest writes on ``<testsuite>``), not the sum of the cases.
    """
    root = ET.parse(path).getroot()
    per = defaultdict(float)
    for case in root.iter("testcase"):
        found = re.search(r"(\d\d_[\w-]+)\.ipynb", f"{case.get('file', '')} {case.get('classname', '')}")
        if found:  # a notebook cell (nbval); unit tests only count towards the whole run
            per[found.group(1) + ".ipynb"] += float(case.get("time", 0))
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    return dict(per), float(suite.get("time", 0))


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
    print(f"{'notebooks (cell time, all workers)':<36}{sum(times.values()):>9.0f}")
    print(f"{'whole run (wall)':<36}{total:>9.0f}{TOTAL_S:>8}  {'yes' if total <= TOTAL_S else 'NO'}")


if __name__ == "__main__":
    main()
