"""Headline results of a lesson: ``record(name, value)`` prints one line and, under
``make run``, appends it to the results file.

The contract (read by scripts/run_notebooks.py): exactly one printed line
``RESULT <lesson>/<name> = <value>`` per call, where lesson is the notebook's two-digit number
and value a plain number.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

_LESSON: str | None = None


def set_lesson(lesson: str | int) -> str:
    """Name the lesson (the notebook's two-digit number) that later results belong to."""
    global _LESSON
    text = f"{int(lesson):02d}" if str(lesson).isdigit() else ""
    if not text:
        raise ValueError(f"lesson must be the notebook's number such as '01', not {lesson!r}.")
    _LESSON = text
    return text


def current_lesson() -> str:
    """The lesson set by :func:`set_lesson` (or ``$FTLAB_LESSON``)."""
    lesson = _LESSON or os.environ.get("FTLAB_LESSON")
    if not lesson:
        raise RuntimeError("Call ftlab.report.set_lesson('NN') in the setup cell before record().")
    return lesson


def record(name: str, value: float) -> float:
    """Print ``RESULT <lesson>/<name> = <value>`` and append it to ``$FTLAB_RESULTS`` if set."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "item"):
        raise TypeError(f"record() takes a plain number, got {type(value).__name__}.")
    value = float(value.item() if hasattr(value, "item") else value)
    if not math.isfinite(value):
        raise ValueError(f"result {name!r} is {value}; a recorded result must be a finite number.")
    lesson = current_lesson()
    shown = round(value, 4)
    print(f"RESULT {lesson}/{name} = {shown:g}")
    path = os.environ.get("FTLAB_RESULTS")
    if path:
        _append(Path(path), {"lesson": lesson, "name": name, "value": shown})
    return value


def _append(path: Path, row: dict) -> None:
    rows = json.loads(path.read_text()) if path.exists() else []
    rows = [r for r in rows if (r["lesson"], r["name"]) != (row["lesson"], row["name"])] + [row]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rows, indent=1))
    os.replace(tmp, path)
