import json

import pytest

from ftlab import report


def test_record_prints_one_line_and_appends(tmp_path, monkeypatch, capsys):
    results = tmp_path / "results.json"
    monkeypatch.setenv("FTLAB_RESULTS", str(results))
    report.set_lesson(1)
    report.record("acc/pixels_svm/k=5", 0.41666)
    report.record("acc/pixels_svm/k=20", 0.5)
    report.record("acc/pixels_svm/k=5", 0.42)  # re-running a cell replaces, not duplicates
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["RESULT 01/acc/pixels_svm/k=5 = 0.4167", "RESULT 01/acc/pixels_svm/k=20 = 0.5",
                   "RESULT 01/acc/pixels_svm/k=5 = 0.42"]
    rows = json.loads(results.read_text())
    assert [(r["name"], r["value"]) for r in rows] == [("acc/pixels_svm/k=20", 0.5), ("acc/pixels_svm/k=5", 0.42)]


def test_record_refuses_non_numbers():
    report.set_lesson("02")
    with pytest.raises(TypeError):
        report.record("x", "0.5")
    with pytest.raises(ValueError):
        report.record("x", float("nan"))
    with pytest.raises(ValueError):
        report.set_lesson("intro")
