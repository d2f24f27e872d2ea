"""Reliability round 3 (issue 25): never touch a user's file, locks that survive containers,
every failure one line and exit 2.

Each test covers a class of the issue with a case of its own; most call the functions in-process
(fast), a few run a small subprocess where a signal or the CLI's exit is the point.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from daudit.core.errors import DauditError
from daudit.output.staging import MARKER, OutputLock, check_not_in_use

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def _lock_file(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


def _identity(pid: int, started: float) -> dict:
    import socket

    import psutil

    boot = Path("/proc/sys/kernel/random/boot_id")
    boot_id = boot.read_text().strip() if boot.exists() else f"boot-{psutil.boot_time():.0f}"
    return {"pid": pid, "started": started, "boot_id": boot_id, "host": socket.gethostname()}


# ------------------------------------------------------------------------------ locks


def test_lock_whose_pid_now_names_an_unrelated_process_is_taken_over(tmp_path):
    """The lock's PID is alive but is another process (started at another time): the owner is gone."""
    import psutil

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        out = tmp_path / "out"
        real_start = psutil.Process(other.pid).create_time()
        owner = _identity(other.pid, real_start - 3600.0)  # the run that wrote it started an hour earlier
        _lock_file(out).write_text(f"{other.pid}\n{json.dumps(owner)}\n")
        check_not_in_use(out)
        with OutputLock(out):
            assert _lock_file(out).read_text().split()[0] == str(os.getpid())
        assert not _lock_file(out).exists()
    finally:
        other.kill()
        other.wait()


@pytest.mark.parametrize("layout", ["pid_only", "identity"])
def test_lock_left_by_an_earlier_pid_1_in_a_container_is_taken_over(tmp_path, layout):
    """Every run in a fresh container is PID 1 again: a lock naming our own PID, that this process
    did not take, was left by an earlier process (an older lock holds only the PID)."""
    import psutil

    out = tmp_path / "out"
    me = os.getpid()
    text = f"{me}\n" if layout == "pid_only" else \
        f"{me}\n{json.dumps(_identity(me, psutil.Process(me).create_time() - 600.0))}\n"
    _lock_file(out).write_text(text)
    check_not_in_use(out)
    with OutputLock(out):
        pass
    assert not _lock_file(out).exists()


def test_lock_held_by_a_live_run_is_refused_and_kept(tmp_path):
    out = tmp_path / "out"
    with OutputLock(out):
        held = _lock_file(out).read_bytes()
        with pytest.raises(DauditError, match=r"is in use by a running daudit \(PID \d+\)"):
            with OutputLock(out):
                pass
        assert _lock_file(out).read_bytes() == held


def test_lock_of_a_killed_owner_is_taken_over_even_when_its_pid_is_reused(tmp_path):
    """The owner held a flock, which the kernel dropped when it was killed; the PID it recorded
    is ours now (as in a container), yet the lock is free."""
    out = tmp_path / "out"
    code = ("import sys, time; from pathlib import Path; from daudit.output.staging import OutputLock; "
            "OutputLock(Path(sys.argv[1])).__enter__(); print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DauditError, match=f"PID {holder.pid}"):
            check_not_in_use(out)
    finally:
        holder.kill()
        holder.wait()
    lines = _lock_file(out).read_text().splitlines()
    owner = json.loads(lines[1])
    owner["pid"] = os.getpid()  # its PID now names a live process (this one)
    _lock_file(out).write_text(f"{os.getpid()}\n{json.dumps(owner)}\n")
    check_not_in_use(out)
    with OutputLock(out):
        pass


# ------------------------------------------------------------------------------ SIGHUP

_STAGED = """
import sys, time
from pathlib import Path
from daudit.core.signals import Interrupted, exit_code, handle_termination
from daudit.output.staging import staged_output
handle_termination()
try:
    with staged_output(Path(sys.argv[1]), experiment_id="HUP", echo=lambda *a: None) as st:
        print("ready", flush=True)
        time.sleep(60)
except Interrupted as err:
    print(err, file=sys.stderr)
    sys.exit(exit_code(err.signum))
"""


def test_sighup_is_treated_like_sigterm(tmp_path):
    """The terminal closed without nohup: staging folder and lock removed, the state says interrupted."""
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", _STAGED, str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGHUP, err
    assert "terminated by SIGHUP" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.state.json", "out.log"]
    assert json.loads((tmp_path / ".out.state.json").read_text())["status"] == "interrupted"
