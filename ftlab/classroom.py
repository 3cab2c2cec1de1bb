"""Student versions of the notebooks: ``python -m ftlab.classroom notebooks student``.

Code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's markers) becomes
``raise NotImplementedError``, and every output is cleared, so a class gets the exercises
without the answers. Check cells (the asserts after each exercise) stay.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*$", re.M | re.S)


def strip_solutions(source: str) -> str:
    """Replace each solution block with ``raise NotImplementedError`` at the same indentation."""
    if source.count("### BEGIN SOLUTION") != source.count("### END SOLUTION"):
        raise ValueError("unbalanced ### BEGIN SOLUTION / ### END SOLUTION markers in a cell.")
    return _SOLUTION.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError()", source)


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` with solutions removed and outputs cleared."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source)
            cell.outputs, cell.execution_count = [], None
    return nb


def make_student(src: Path, dst: Path) -> list[Path]:
    """Write a student version of every notebook in ``src`` into ``dst``."""
    dst.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(Path(src).glob("*.ipynb")):
        target = dst / path.name
        nbformat.write(student_notebook(nbformat.read(path, as_version=4)), target)
        written.append(target)
    return written


if __name__ == "__main__":
    args = sys.argv[1:]
    src = Path(args[0]) if args else Path("notebooks")
    dst = Path(args[1]) if len(args) > 1 else Path("student")
    for p in make_student(src, dst):
        print("wrote", p)
