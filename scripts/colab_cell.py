"""Write the one Colab setup cell into every notebook (``python scripts/colab_cell.py``; ``--check`` only checks).

The cell is the first code cell of each lesson. It clones the repository named in pyproject.toml's
``[project.urls] Repository`` (the one place that names it), installs what ``scripts/make_venv.sh``
installs (``-e .[dev]``) plus the Debian data packages, and is safe to re-run. Outside Colab it does nothing.
"""
from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
MARK = "# Colab setup"


def repo_url() -> str:
    """The repository URL from pyproject.toml."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def cell_source(url: str | None = None) -> str:
    """The setup cell's code."""
    return f'''{MARK}: on a fresh Colab runtime, fetch the course and install what `make` installs (safe to re-run)
import os, subprocess, sys
REPO = "{url or repo_url()}"  # written from pyproject.toml by scripts/colab_cell.py
if "google.colab" in sys.modules:
    if not os.path.isdir("/content/ftlab"):
        subprocess.run(["git", "clone", "-q", REPO, "/content/ftlab"], check=True)
    subprocess.run(["bash", "/content/ftlab/scripts/system_deps.sh"], check=False)  # Debian data; else downloads
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "/content/ftlab[dev]"], check=True)
    if "/content/ftlab" not in sys.path:
        sys.path.insert(0, "/content/ftlab")'''


def first_code_cell(nb) -> int:
    """Index of the first code cell."""
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")


def main(argv: list[str]) -> int:
    check = "--check" in argv
    want, bad = cell_source(), []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        i = first_code_cell(nb)
        if nb.cells[i].source == want:
            continue
        bad.append(path.name)
        if not check:
            if not nb.cells[i].source.lstrip().startswith(("import sys, subprocess", MARK)):
                nb.cells.insert(i, nbformat.v4.new_code_cell(want))  # no setup cell yet: add one
            nb.cells[i].source = want
            nbformat.write(nb, path)
    print(("differs: " if check else "rewrote: ") + (", ".join(bad) or "none"))
    return 1 if check and bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
