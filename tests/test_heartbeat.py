"""Issue 28: long blocking stages (the eigendecomposition, the sanity checks) are never silent.

The interval is lowered to a fifth of a second (`PROGRESS_INTERVAL` is read at each use),
a fake stage sleeps, and the log must carry a line at least every interval; on a terminal the
eigendecomposition shows a spinner with the elapsed time.
"""

import io
import logging
import re
import time

import pytest

from daudit.core import progress

INTERVAL = 0.2  # seconds; gaps are allowed up to SLACK intervals (threads wait for a busy CPU)
SLACK = 4


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setattr(progress, "PROGRESS_INTERVAL", INTERVAL)


def _beats(caplog, desc):
    return [r for r in caplog.records if r.getMessage().startswith(f"{desc}: still running")]


def _max_gap(records, t0, t1):
    times = [t0] + [r.created for r in records] + [t1]
    return max(b - a for a, b in zip(times, times[1:]))


def test_a_slow_blocking_stage_writes_periodic_lines(fast, caplog):
    caplog.set_level(logging.INFO, logger="daudit")
    t0 = time.time()
    with progress.heartbeat("fake eigendecomposition", spinner=False):
        time.sleep(12 * INTERVAL)
    t1 = time.time()
    beats = _beats(caplog, "fake eigendecomposition")
    assert len(beats) >= 4, [r.getMessage() for r in caplog.records]
    assert _max_gap(beats, t0, t1) < SLACK * INTERVAL  # never silent for long
    assert re.search(r"still running \(\d", beats[-1].getMessage())  # with the elapsed time
    time.sleep(4 * INTERVAL)
    assert len(_beats(caplog, "fake eigendecomposition")) == len(beats)  # the thread stopped with the block


def test_the_heartbeat_stops_when_the_stage_fails(fast, caplog):
    caplog.set_level(logging.INFO, logger="daudit")
    with pytest.raises(RuntimeError, match="LAPACK"):
        with progress.heartbeat("failing stage", spinner=False):
            time.sleep(3 * INTERVAL)
            raise RuntimeError("LAPACK failed")
    n = len(_beats(caplog, "failing stage"))
    time.sleep(4 * INTERVAL)
    assert len(_beats(caplog, "failing stage")) == n


def test_a_bar_that_reports_keeps_the_heartbeat_quiet(fast, caplog):
    """Nested: a stage's heartbeat around a step that reports its own lines writes none of its own."""
    caplog.set_level(logging.INFO, logger="daudit")
    with progress.heartbeat("outer stage", spinner=False, interval=2.5 * INTERVAL):
        with progress.Bar(80, "inner step", unit="chunk", interval=INTERVAL / 4) as bar:
            for _ in range(80):  # 2 s of work, a line every 0.05 s: never 0.5 s of silence
                time.sleep(INTERVAL / 8)
                bar.update()
    assert _beats(caplog, "outer stage") == []
    assert any(r.getMessage().startswith("inner step: ") and "%" in r.getMessage() for r in caplog.records)


def test_an_audit_stage_is_never_silent(fast, caplog):
    from daudit.pipeline.context import AuditContext

    caplog.set_level(logging.INFO, logger="daudit")
    ctx = AuditContext(spec=None, splits={}, rng=None)
    t0 = time.time()
    with ctx.stage("sanity checks"):
        time.sleep(10 * INTERVAL)
    beats = _beats(caplog, "stage sanity checks")
    assert len(beats) >= 3 and _max_gap(beats, t0, time.time()) < SLACK * INTERVAL


def test_spinner_on_a_terminal(fast, monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    err = Tty()
    monkeypatch.setattr(progress.sys, "stderr", err)
    with progress.heartbeat("eigendecomposition of the 64 x 64 Gram matrix"):
        time.sleep(3 * INTERVAL)
    shown = err.getvalue()
    assert "eigendecomposition of the 64 x 64 Gram matrix: 00:00" in shown
    assert shown.count("\r") >= 2  # redrawn while it ran, not printed once


def test_the_eigendecomposition_and_the_checks_are_wrapped():
    """The pipeline's blocking calls sit inside a heartbeat (read from the source: a full audit is
    too slow for this file; `test_an_audit_stage_is_never_silent` covers every stage's log)."""
    import inspect

    from daudit.checks import run_sanity_checks
    from daudit.pipeline import run

    fit = inspect.getsource(run._fit_linear)
    assert re.search(r"with heartbeat\(.*\):\n\s+ctx\.eigen = decompose\(", fit)
    checks = inspect.getsource(run_sanity_checks)
    assert re.search(r"with heartbeat\(.*\):\n\s+lin, spent, eg = linear_refits\(", checks)
    assert re.search(r"with heartbeat\(.*\):\n\s+out = sanity_block\(", checks)
