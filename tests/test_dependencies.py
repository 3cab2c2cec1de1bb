"""Every third-party module the course imports is declared in pyproject.toml.

A fresh machine (CI, a student's laptop, Colab) installs only what pyproject.toml declares, so a module that
happens to be in the developer's environment (pulled in by some other package) must not be relied on.
Module-level imports of the notebooks and of ftlab must be core dependencies; imports inside functions
(optional paths such as the full profile) must at least be in an extra.
"""
import ast
import json
import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[1]
# import name -> distribution name, where they differ
DIST = {"sklearn": "scikit-learn", "skimage": "scikit-image", "yaml": "pyyaml", "PIL": "pillow",
        "huggingface_hub": "huggingface-hub"}
# packages that come with a declared dependency and that the course may import directly
BUNDLED = {"IPython": "ipykernel", "ipywidgets": "ipywidgets"}


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(reqs):
        return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].strip().lower() for r in reqs}

    core = names(project["dependencies"])
    extras = set().union(*(names(v) for v in project.get("optional-dependencies", {}).values()))
    return core, core | extras


def _imports(source: str) -> tuple[set[str], set[str]]:
    """(module-level imports, all imports) of a Python source, as top-level package names."""
    tree = ast.parse(source)
    top, every = set(), set()
    nested = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
              for n in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods = {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            mods = {node.module.split(".")[0]}
        else:
            continue
        every |= mods
        if id(node) not in nested:
            top |= mods
    return top, every


def _notebook_source(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    lines = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code").splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))


SOURCES = sorted(ROOT.glob("notebooks/*.ipynb")) + sorted(ROOT.glob("ftlab/**/*.py"))


def _third_party(mods: set[str]) -> set[str]:
    return {m for m in mods if m not in sys.stdlib_module_names and m != "ftlab"}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_are_declared(path):
    core, everything = _declared()
    source = _notebook_source(path) if path.suffix == ".ipynb" else path.read_text()
    top, every = _imports(source)
    dist = lambda m: BUNDLED.get(m, DIST.get(m, m)).lower()  # noqa: E731
    if path.suffix == ".ipynb":
        top = every  # a notebook cell runs when the lesson runs: all its imports are needed
    missing_core = sorted(m for m in _third_party(top) if dist(m) not in core | {"ipykernel", "ipywidgets"})
    missing_any = sorted(m for m in _third_party(every) if dist(m) not in everything)
    assert not missing_core, f"{path.name} imports {missing_core} at module level; add them to [project] dependencies"
    assert not missing_any, f"{path.name} imports {missing_any}; declare them in pyproject.toml (an extra is enough)"


def test_the_checker_sees_a_missing_module():
    top, every = _imports("import pandas as pd\ndef f():\n    import nltk\n")
    assert top == {"pandas"} and every == {"pandas", "nltk"}
