"""Holds on cache entries: a run's shared lock on each entry it reads, so no cleaner deletes it.

A holder takes a shared ``flock`` on ``<root>/.holds/<entry name>.lock`` before it checks an
entry and keeps it until the process ends (or `release_all`); the operating system drops the
locks of a process that dies, so a hold is never stale. A cleaner deletes an entry only under an
exclusive lock taken without waiting (`remove_unless_held`): an entry that any process holds,
this one included, is left alone. A holder that waited for a cleaner finds the entry gone and
makes a new one. Without ``fcntl`` (Windows) nothing is held and no entry is ever removed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["hold", "held_here", "held_elsewhere", "release", "remove_unless_held", "release_all"]

_HOLDS = ".holds"
_held: dict[str, int] = {}  # lock path -> open file descriptor of this process


def _lock_path(entry: Path) -> Path:
    return Path(entry).parent / _HOLDS / f"{Path(entry).name}.lock"


def hold(entry: Path) -> None:
    """Take this process's shared hold on ``entry`` (waits while a cleaner removes it); idempotent."""
    if fcntl is None:
        return
    lock = _lock_path(entry)
    if str(lock) in _held:
        return
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:  # a read-only cache: nothing can be held, and no daudit can remove anything there either
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    except BaseException:
        os.close(fd)
        raise
    _held[str(lock)] = fd


def held_here(entry: Path) -> bool:
    """Whether this process holds ``entry``."""
    return str(_lock_path(entry)) in _held


def held_elsewhere(entry: Path) -> bool:
    """Whether another process holds ``entry`` now (its hold lock cannot be taken without waiting);
    nothing is created: an entry without a lock file is held by no one."""
    if fcntl is None:
        return False
    try:
        fd = os.open(_lock_path(entry), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:  # BlockingIOError: a run holds it
        return True
    finally:
        os.close(fd)


def release(entry: Path) -> None:
    """Let go of this process's hold on ``entry`` (no-op when it holds none)."""
    fd = _held.pop(str(_lock_path(entry)), None)
    if fd is not None:
        os.close(fd)  # closing the descriptor drops its flock


def release_all() -> None:
    """Let go of every hold of this process (a long-lived process after its runs)."""
    for lock in list(_held):
        os.close(_held.pop(lock))


def remove_unless_held(entry: Path) -> bool:
    """Delete ``entry`` (a folder) if no process holds it; True when it is gone."""
    entry = Path(entry)
    if fcntl is None or held_here(entry):
        return False
    lock = _lock_path(entry)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # BlockingIOError: a run holds it
            return False
        shutil.rmtree(entry, ignore_errors=True)
        lock.unlink(missing_ok=True)  # a holder waiting on this lock then finds the entry gone
        return not entry.exists()
    finally:
        os.close(fd)
