"""Resident memory of this process and its children (Dask worker processes), through psutil.

`RssMonitor` samples the process tree's RSS in a background thread; `RssMonitor.section(name)`
records the peak seen while the section ran, so a run can report where its memory went.
psutil reads the same numbers on Linux (/proc), macOS and Windows.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import threading

import psutil

__all__ = ["tree_rss", "RssMonitor", "tune_allocator", "release_memory"]

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


def _rss(proc: psutil.Process) -> int:
    try:
        return int(proc.memory_info().rss)
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return 0  # it ended (or is not ours to read) between listing and reading


def tree_rss(pid: int | None = None) -> int:
    """RSS in bytes of process ``pid`` (default: this one) and all its descendants; 0 if it is gone."""
    try:
        root = psutil.Process(os.getpid() if pid is None else int(pid))
        children = root.children(recursive=True)
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return 0
    return _rss(root) + sum(_rss(c) for c in children)


class RssMonitor:
    """Peak RSS of the process tree per named section, sampled every ``interval`` seconds.

    ``peaks`` maps section name -> peak bytes (the largest of the samples taken while it ran,
    including one at its start and one at its end).
    """

    # 0.05 s: at 0.25 s the 1GB demo run recorded 0.92 GiB where an outside sampler saw 1.06 GiB
    # (short-lived buffers, e.g. LightGBM's histograms, last less than a quarter second)
    def __init__(self, interval: float = 0.05):
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


def release_memory() -> None:
    """Return freed heap pages to the OS (glibc keeps them otherwise), so RSS reflects use."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
