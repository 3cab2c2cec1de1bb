"""Execute every notebook headless (``make run``) and write runs/<out>/ with results.

Writes the executed notebooks, ``results.json`` (every ``report.record`` call) and
``results.md`` (the results table plus each notebook's wall time). ``--inplace`` executes
the notebooks in notebooks/ themselves, which is how the committed outputs are produced.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def run_one(path: Path, target: Path, timeout: int) -> float:
    """Execute ``path`` with cwd notebooks/, save it to ``target``; return wall seconds."""
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        nbformat.write(nb, target)
    return time.perf_counter() - t0


def write_markdown(out: Path, results: list[dict], times: dict[str, float]) -> None:
    """results.md: per-notebook wall time, then every recorded result."""
    lines = [f"# ftlab run ({os.environ.get('FTLAB_PROFILE', 'pocket')} profile)", "",
             "| notebook | wall time (s) |", "|---|---|"]
    lines += [f"| {name} | {sec:.0f} |" for name, sec in times.items()]
    lines += ["", "| lesson | result | value |", "|---|---|---|"]
    lines += [f"| {r['lesson']} | {r['name']} | {r['value']:g} |" for r in results]
    (out / "results.md").write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "latest")
    ap.add_argument("--inplace", action="store_true", help="write outputs into notebooks/ itself")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    args = ap.parse_args()
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    args.out.mkdir(parents=True, exist_ok=True)
    results_file = args.out / "results.json"
    results_file.unlink(missing_ok=True)
    os.environ["FTLAB_RESULTS"] = str(results_file.resolve())
    times, failed = {}, []
    for p in paths:
        target = p if args.inplace else args.out / p.name
        print(f"running {p.name} ...", flush=True)
        try:
            times[p.name] = run_one(p, target, args.timeout)
            print(f"  {p.name}: {times[p.name]:.0f} s", flush=True)
        except Exception as e:  # keep going: one broken lesson should not hide the others
            failed.append(p.name)
            print(f"  {p.name} FAILED: {str(e).splitlines()[-1] if str(e) else e!r}", flush=True)
    results = json.loads(results_file.read_text()) if results_file.exists() else []
    (args.out / "times.json").write_text(json.dumps(times, indent=1))
    write_markdown(args.out, results, times)
    print(f"wrote {args.out}/results.md ({len(results)} results)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
