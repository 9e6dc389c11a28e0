"""bench.chaos fails (exit status 1) on any broken money rule, not only prints it."""

from __future__ import annotations

import pytest

from bench import chaos


def report(**changes) -> dict:
    clean = {
        "statuses": {"p1": "delivered", "p2": "failed", "p3": "review"},
        "lost": 0,
        "double": 0,
        "disagree": 0,
        "violations": [],
        "reversal_check": {
            "reversed_by_vtpass": 3,
            "refunded_once": 3,
            "refund_journals": 3,
            "first_requery_timed_out": 3,
        },
    }
    clean.update(changes)
    return clean


def test_a_clean_run_passes():
    assert chaos.failures(report()) == []
    assert chaos.failures(report(reversal_check=None)) == []


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"double": 1}, "double charges: 1"),
        ({"lost": 1}, "lost purchases: 1"),
        ({"statuses": {"p1": "processing"}}, "lost purchases: 1"),
        ({"disagree": 2}, "disagreements: 2"),
        ({"violations": ["postings sum to 1"]}, "invariant violations: 1"),
        (
            {"reversal_check": {"reversed_by_vtpass": 3, "refunded_once": 2}},
            "not refunded exactly once: 1",
        ),
    ],
)
def test_each_broken_money_rule_fails_the_run(changes, named):
    assert any(named in f for f in chaos.failures(report(**changes)))


def test_main_exits_non_zero_when_the_run_fails(monkeypatch, capsys):
    class FakeStack:
        env: dict = {}

        def __init__(self, *_):
            pass

        def start_services(self, **_):
            pass

        start_api = start_beat = close = start_services

        def start_worker(self, *_, **__):
            pass

    monkeypatch.setattr(chaos, "Stack", FakeStack)
    broken = report(double=1, settle_times=[], requested=1, accepted=["p1"], kills=0)
    broken.update(submitted_in=0.0, settled_in=0.0)
    monkeypatch.setattr(chaos, "run", lambda *a: broken)
    monkeypatch.setattr("sys.argv", ["bench.chaos", "--purchases", "1"])
    with pytest.raises(SystemExit) as exited:
        chaos.main()
    assert exited.value.code == 1
    assert "FAIL: double charges: 1" in capsys.readouterr().out
