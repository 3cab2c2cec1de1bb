"""Each notebook's wall time in the last `make run` against its target (pocket profile, 2 cores).

    make run && python benchmarks/notebook_times.py [runs/latest]
"""
import json
import sys
from pathlib import Path

TARGET_S = {"00": 30, "01": 180, "02": 240, "03": 240, "06": 300, "07": 300, "09": 300, "10": 300}


def main() -> None:
    run = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/latest")
    times_file = run / "times.json"
    if not times_file.exists():
        sys.exit(f"{times_file} not found: run `make run` first.")
    times = json.loads(times_file.read_text())
    print(f"{'notebook':<34}{'seconds':>9}{'target':>8}  ok")
    for name, sec in times.items():
        target = TARGET_S.get(name[:2])
        ok = "-" if target is None else ("yes" if sec <= target else "NO")
        print(f"{name:<34}{sec:>9.0f}{target or '':>8}  {ok}")
    print(f"{'total':<34}{sum(times.values()):>9.0f}")


if __name__ == "__main__":
    main()
