"""`make run` (scripts/run_notebooks.py) on three tiny notebooks: two record results, one between them fails."""
import json
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "run_notebooks.py"


def write(path: Path, *cells: str) -> Path:
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_run_notebooks_executes_records_and_keeps_going_after_a_failure(tmp_path):
    good = write(tmp_path / "91_good.ipynb", "from ftlab import report\nreport.set_lesson('91')",
                 "report.record('acc/demo', 0.75)")
    bad = write(tmp_path / "92_bad.ipynb", "raise RuntimeError('this lesson is broken')")
    later = write(tmp_path / "93_later.ipynb", "from ftlab import report\nreport.set_lesson(93)\n"
                  "report.record('acc/after_failure', 1)")
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--timeout", "120",
                           str(good), str(bad), str(later)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, "a failed notebook must fail the run"
    assert "92_bad.ipynb FAILED" in proc.stdout and "this lesson is broken" in proc.stdout
    rows = json.loads((out / "results.json").read_text())
    assert [(r["lesson"], r["name"], r["value"]) for r in rows] == [("91", "acc/demo", 0.75),
                                                                    ("93", "acc/after_failure", 1.0)]
    assert set(json.loads((out / "times.json").read_text())) == {"91_good.ipynb", "93_later.ipynb"}
    executed = nbformat.read(out / "91_good.ipynb", as_version=4)
    assert "RESULT 91/acc/demo = 0.75" in executed.cells[1].outputs[0]["text"]
    md = (out / "results.md").read_text()
    assert "| 91_good.ipynb |" in md and "| 91 | acc/demo | 0.75 |" in md
    assert nbformat.read(good, as_version=4).cells[1].outputs == [], "without --inplace the sources stay as they were"


def test_two_runs_give_identical_results(tmp_path):
    """seed_everything fixes seeds, threads and deterministic kernels: two `make run`s agree to the bit.

    A tiny lesson that trains (a CNN with BatchNorm and dropout-free one-cycle AdamW on seeded data) is
    run twice in fresh kernels; its recorded loss and accuracy must be identical.
    """
    lesson = write(tmp_path / "94_train.ipynb",
                   "import torch\nfrom torch import nn\nfrom ftlab import report\n"
                   "from ftlab.train import fit, evaluate, seed_everything\nreport.set_lesson('94')\nseed_everything(0)",
                   "x = torch.randn(256, 1, 12, 12); y = (x.mean((1, 2, 3)) > 0).long()\n"
                   "net = nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),"
                   " nn.Flatten(), nn.Linear(8, 2))\n"
                   "dl = torch.utils.data.DataLoader(list(zip(x, y)), batch_size=32, shuffle=True,"
                   " generator=torch.Generator().manual_seed(0))\n"
                   "hist = fit(net, dl, epochs=3, lr=1e-2, progress=False)\n"
                   "report.record('loss/last', hist.loss[-1]); report.record('acc/train', evaluate(net, dl)['acc'])")
    runs = []
    for i in range(2):
        out = tmp_path / f"run{i}"
        subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--timeout", "120", str(lesson)],
                       check=True, capture_output=True, timeout=300)
        runs.append(json.loads((out / "results.json").read_text()))
    assert len(runs[0]) == 2 and runs[0] == runs[1]
