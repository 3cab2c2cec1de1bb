"""Every lesson has the same Colab setup cell (repository URL from pyproject.toml) and picks its device once."""
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
sys.path.insert(0, str(ROOT / "scripts"))
import colab_cell  # noqa: E402


def test_every_notebook_has_the_one_colab_cell():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "colab_cell.py"), "--check"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + " (run python scripts/colab_cell.py)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_lesson_shape(path):
    nb = nbformat.read(path, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    repo = colab_cell.repo_url().removeprefix("https://github.com/")
    assert f"colab.research.google.com/github/{repo}/blob/main/notebooks/{path.name}" in nb.cells[0].source
    assert any("default_device()" in c for c in code[:3]), "the setup cell picks the device once"
    assert sum(c.cell_type == "markdown" for c in nb.cells) >= len(code), "explanation before each step"
    for number in re.findall(r"Next: \*\*(\d\d) ", text):
        assert list((ROOT / "notebooks").glob(f"{number}_*.ipynb")), f"'Next:' names lesson {number}, which does not exist"
    for linked in set(re.findall(r"\(\.?/?(?:notebooks/)?(\d\d_[\w-]+\.ipynb)\)", text)):
        assert (ROOT / "notebooks" / linked).exists(), f"links to {linked}, which does not exist"
