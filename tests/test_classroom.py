import nbformat
import pytest

from ftlab.classroom import make_student, strip_solutions


def test_solution_blocks_become_not_implemented():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\nprint(f(1))"
    out = strip_solutions(src)
    assert "return x + 1" not in out and "    raise NotImplementedError()" in out and "print(f(1))" in out


def test_unbalanced_markers_are_refused():
    with pytest.raises(ValueError, match="unbalanced"):
        strip_solutions("### BEGIN SOLUTION\nx = 1\n")


def test_student_copy_clears_outputs(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("### BEGIN SOLUTION\nk = 5\n### END SOLUTION")
    cell.outputs = [nbformat.v4.new_output("stream", text="hi")]
    cell.execution_count = 3
    nb.cells = [cell, nbformat.v4.new_code_cell("assert k == 5")]
    (tmp_path / "src").mkdir()
    nbformat.write(nb, tmp_path / "src" / "01_x.ipynb")
    [path] = make_student(tmp_path / "src", tmp_path / "student")
    got = nbformat.read(path, as_version=4)
    assert got.cells[0].outputs == [] and got.cells[0].execution_count is None
    assert "k = 5" not in got.cells[0].source and got.cells[1].source == "assert k == 5"
