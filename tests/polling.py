"""Waiting in tests for something another process does (a lock file, a log line, a state)."""

import time


def wait_for(pred, timeout: float = 180.0, step: float = 0.2):
    """``pred()`` once it is truthy, polled every ``step`` s; AssertionError after ``timeout`` s."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(step)
    raise AssertionError("timed out waiting")
