"""A general English corpus that ships with Python itself: the source domain of LM pretraining.

``general_corpus()`` is English prose from the pydoc topics and the standard library's docstrings
(doctest lines dropped): a *source* domain for language-model pretraining (ULMFiT's stage 1, Howard
& Ruder 2018) that differs from the dictionary-style WordNet glosses of the target tasks.
"""
from __future__ import annotations

import ast
import sysconfig
import zlib
from functools import lru_cache
from pathlib import Path


def _docstrings(path: Path) -> list[str]:
    """Module, class and function docstrings of one source file, without doctest lines."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return []
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    docs = [ast.get_docstring(n) for n in ast.walk(tree) if isinstance(n, kinds)]
    keep = lambda line: not line.lstrip().startswith((">>>", "..."))
    return ["\n".join(filter(keep, d.splitlines())) for d in docs if d and len(d.split()) >= 8]


def _stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "tests", "idlelib", "lib2to3", "site-packages", "dist-packages", "turtledemo"}
    return sorted(p for p in root.rglob("*.py") if not skip & set(p.relative_to(root).parts))


@lru_cache(maxsize=1)
def _general_documents() -> tuple[tuple[str, str], ...]:
    from pydoc_data.topics import topics

    docs = [(f"pydoc:{k}", topics[k]) for k in sorted(topics)]
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in _stdlib_files():
        text = "\n\n".join(_docstrings(path))
        if text:
            docs.append((f"stdlib:{path.relative_to(root).as_posix()}", text))
    return tuple(docs)


def general_corpus(max_chars: int = 4_000_000) -> dict[str, str]:
    """English prose shipped with Python (pydoc topics, stdlib docstrings): train and valid text."""
    out: dict[str, list[str]] = {"train": [], "valid": []}
    total = 0
    for name, text in _general_documents():
        if total + len(text) > max_chars:
            break
        total += len(text)
        # crc32 of the name, not the position: a document stays in its split across Python versions
        out["valid" if zlib.crc32(name.encode()) % 20 == 0 else "train"].append(text)
    return {k: "\n\n".join(v) for k, v in out.items()}
