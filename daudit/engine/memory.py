"""Resident memory of this process and its children (Dask worker processes), from /proc.

`RssMonitor` samples the process tree's RSS in a background thread; `RssMonitor.section(name)`
records the peak seen while the section ran, so a run can report where its memory went.
On systems without /proc every reading is 0 and nothing is recorded.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from pathlib import Path

__all__ = ["tree_rss", "RssMonitor", "tune_allocator"]

_M_TRIM_THRESHOLD, _M_ARENA_MAX = -1, -8  # glibc mallopt parameters
TRIM_THRESHOLD = 64 * 1024
ARENA_MAX = 2  # malloc arenas: each thread otherwise gets its own, which keeps freed blocks


def tune_allocator() -> bool:
    """Let glibc return freed heap memory to the OS at 64 KiB instead of its adaptive threshold,
    and keep its arenas to `ARENA_MAX` (one per thread by default: each keeps freed chunk buffers).

    Dask's nanny sets the same (``MALLOC_TRIM_THRESHOLD_=65536``) for worker processes; daudit's
    default worker runs in the main process, so the main process sets it itself. Its effect on
    daudit's own passes is small (prediction pass +0.66 -> +0.63 GiB, bench/memory_RESULTS.md);
    the large prediction-pass peak was the booster's handling (`daudit.models.boosting.SharedBooster`).
    Returns False where glibc's ``mallopt`` is absent.
    """

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_ARENA_MAX, ARENA_MAX)  # before the worker threads start
        return bool(libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    except (OSError, AttributeError):
        return False


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def tree_rss(pid: int | None = None) -> int:
    """RSS in bytes of process ``pid`` (default: this one) and all its descendants."""
    pid = os.getpid() if pid is None else int(pid)
    children: dict[int, list[int]] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return 0
    for d in proc.iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += _rss(p)
        stack.extend(children.get(p, []))
    return total


class RssMonitor:
    """Peak RSS of the process tree per named section, sampled every ``interval`` seconds.

    ``peaks`` maps section name -> peak bytes (the largest of the samples taken while it ran,
    including one at its start and one at its end).
    """

    def __init__(self, interval: float = 0.25):
        self.interval = float(interval)
        self.peaks: dict[str, int] = {}
        self._active: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self):
        r = tree_rss()
        with self._lock:
            for name in self._active:
                self._active[name] = max(self._active[name], r)

    def _loop(self):
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self):
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="daudit-rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return False

    @contextlib.contextmanager
    def section(self, name: str):
        with self._lock:
            self._active[name] = 0
        self._sample()
        try:
            yield
        finally:
            self._sample()
            with self._lock:
                self.peaks[name] = max(self.peaks.get(name, 0), self._active.pop(name))

    @property
    def peak(self) -> int:
        return max(self.peaks.values(), default=0)
