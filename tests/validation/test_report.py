"""The validation report writer (the checks themselves run in test_theory_checks.py)."""

from __future__ import annotations

from sim.validation import checks as validation
from sim.validation.checks import Check


def test_report_lists_every_check_and_marks_misses(tmp_path, monkeypatch):
    good = Check("fill rate", "f", "lambda=2/h, L=1 h, r=1, Q=4", 0.5, 0.51, 0.49, 0.53, "z")
    bad = Check(
        "share of calls lost", "g", "lambda=2/h, L=1 h, r=2, Q=4", 0.3, 0.4, 0.38, 0.42, "Wilson"
    )
    monkeypatch.setattr(validation, "all_checks", lambda quick: [good, bad])
    monkeypatch.setattr(
        validation, "trigger_curves", lambda replications: {"fill": [good], "lost": [bad]}
    )
    report, checks = validation.write_report(tmp_path, quick=True)
    assert len(checks) == 2
    text = report.read_text()
    assert "| fill rate |" in text
    assert "**NO**" in text
    assert "1 of 2 checks" in text
    assert (tmp_path / "validation-triggers.png").stat().st_size > 5_000
