"""Progress of long work: tqdm bars on a terminal, timed progress lines in the run log.

`Bar` shows a tqdm bar only when stderr is a terminal (never carriage returns in a file) and
writes a line to the ``daudit`` logger when it starts, at most every `PROGRESS_INTERVAL` seconds
while it runs (done / total, rate, rows per second when known, ETA) and when it ends; the same
line goes to the run's state file (`daudit.core.runlog`), where ``status`` reads it.
`compute` runs Dask graphs with one bar that counts finished tasks, whichever scheduler is
active (a distributed Client or a local one). `heartbeat` covers work that reports no progress
(a blocking LAPACK call): a thread writes "still running" lines while no other line was written
for `PROGRESS_INTERVAL` seconds, and a spinner with the elapsed time runs on a terminal.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from contextlib import contextmanager

import dask
from dask.callbacks import Callback
from distributed import get_client
from tqdm.auto import tqdm

from daudit.core.runlog import note_progress
from daudit.core.timefmt import format_duration

__all__ = ["Bar", "compute", "heartbeat", "progress_line", "plural", "PROGRESS_INTERVAL"]

log = logging.getLogger("daudit")

PROGRESS_INTERVAL = 30.0  # seconds between progress lines in the log (read at each use: tests lower it)
_SPIN_REFRESH = 0.5  # seconds between spinner refreshes on a terminal

_last_line = [time.monotonic()]  # when the last progress line of any bar or heartbeat was written
_line_lock = threading.Lock()  # nested heartbeats (a stage's and a step's) write one line, not two


def _progress_written(text: str) -> None:
    """Write one progress line to the log and the run's state file; remember when."""
    _last_line[0] = time.monotonic()
    log.info("%s", text)
    note_progress(text)


def _mark_line() -> None:
    """A bar's start or end line was written: the log is not silent."""
    _last_line[0] = time.monotonic()


def plural(n: int, unit: str) -> str:
    """``unit`` as a count of ``n`` says it: ``"chunk"`` for 1, ``"chunks"`` otherwise (``"it"`` stays)."""
    if n == 1 or unit in ("it", "") or unit.endswith("s"):
        return unit
    return unit + "es" if unit.endswith(("sh", "ch", "x")) else unit + "s"


def progress_line(desc: str, done: int, total: int, unit: str, rate: float | None, *,
                  rows: int | None = None) -> str:
    """One progress line: ``"<desc>: 45% (1234/2741 tasks), 12.3 task/s, ~5,400 rows/s, ETA 2m 10s"``
    (the unit counted by the total, `plural`; per second as written).

    Parameters
    ----------
    done, total : int
        Units finished and planned.
    rate : float or None
        Units per second (None: not known yet).
    rows : int, optional
        Rows of data the whole work covers; gives a rows-per-second rate (rows are taken as
        spread evenly over the units).
    """
    total = max(int(total), 1)
    parts = [f"{desc}: {100 * min(done / total, 1.0):.0f}% ({done}/{total} {plural(total, unit)})"]
    if rate:
        parts.append(f"{rate:.3g} {unit}/s")
        if rows:
            parts.append(f"~{rate * rows / total:,.0f} rows/s")
        if done < total:
            parts.append(f"ETA {format_duration((total - done) / rate)}")
    return ", ".join(parts)


class Bar:
    """A progress bar: tqdm on a terminal; log lines at start, every ``interval`` seconds and end.

    Parameters
    ----------
    total : int
        Units of work (tasks, chunks, trees); 0 when not known yet (`set_total` gives it later).
    desc : str
        What is being done; starts every log line.
    unit : str
    rows : int, optional
        Rows of data the work covers, for a rows-per-second rate in the progress lines.
    interval : float, optional
        Seconds between progress lines (default `PROGRESS_INTERVAL`).
    clock : callable, optional
        Returns seconds (default `time.monotonic`); tests pass a fake one.
    """

    def __init__(self, total: int, desc: str, unit: str = "it", *, rows: int | None = None,
                 interval: float | None = None, clock=time.monotonic):
        self.total, self.desc, self.unit, self.rows = max(int(total), 1), desc, unit, rows
        self.interval = PROGRESS_INTERVAL if interval is None else float(interval)
        self._clock = clock
        self._n, self._t0 = 0, clock()
        self._last_line = self._t0
        self._first = None  # (time, units) of the first update: set-up before it (e.g. binning) is not the rate
        self._bar = tqdm(total=self.total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
                         mininterval=0.5, disable=None)
        if int(total) > 0:
            log.info("%s: started (%d %s)", desc, self.total, plural(self.total, unit))
        else:
            log.info("%s: started", desc)
        _mark_line()

    def rate(self) -> float | None:
        """Units per second since the first update (the time to the first unit is set-up, not
        rate); None until a second update gives a pace (a rate over the set-up once said "ETA
        33h" after LightGBM's first tree at 1M rows, where the trees took 22 minutes)."""
        if self._first is None:
            return None
        t, n = self._first
        span = self._clock() - t
        return (self._n - n) / span if self._n > n and span > 0 else None

    def line(self) -> str:
        """The current progress line."""
        return progress_line(self.desc, self._n, self.total, self.unit, self.rate(), rows=self.rows)

    def update(self, n: int = 1):
        self._n += n
        if self._first is None:
            self._first = (self._clock(), self._n)
        self._bar.update(n)
        now = self._clock()
        if now - self._last_line >= self.interval and self._n < self.total:
            self._last_line = now
            _progress_written(self.line())

    def set_total(self, total: int):
        self.total = max(int(total), 1)
        self._bar.total = self.total
        self._bar.refresh()

    def close(self):
        self._bar.close()
        log.info("%s: done in %s", self.desc, format_duration(self._clock() - self._t0))
        _mark_line()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@contextmanager
def heartbeat(desc: str, *, spinner: bool = True, interval: float | None = None):
    """Keep the log and the terminal alive around work that reports no progress of its own.

    While the block runs, a daemon thread writes ``"<desc>: still running (1m 30s)"`` to the
    log and the run's state file whenever no progress line (of a `Bar` or another heartbeat) was
    written for ``interval`` seconds (default `PROGRESS_INTERVAL`), and, with ``spinner`` and
    stderr a terminal, shows a tqdm spinner with the elapsed time. The thread is stopped and the
    spinner closed in a ``finally``, also when the block raises.

    Parameters
    ----------
    desc : str
        What is being done (starts the lines).
    spinner : bool
        Show the terminal spinner (off for an outer stage whose inner steps draw their own bars).
    interval : float, optional
        Seconds of silence before a line (default `PROGRESS_INTERVAL`, read when the block starts).
    """
    every = PROGRESS_INTERVAL if interval is None else float(interval)
    stop = threading.Event()
    t0 = time.monotonic()
    bar = (tqdm(total=None, desc=desc, file=sys.stderr, dynamic_ncols=True, disable=None,
                bar_format="{desc}: {elapsed}") if spinner else None)

    def beat():
        tick = min(_SPIN_REFRESH, every / 2)
        while not stop.wait(tick):
            if bar is not None:
                bar.refresh()
            with _line_lock:
                now = time.monotonic()
                if now - _last_line[0] >= every and now - t0 >= every:
                    _progress_written(f"{desc}: still running ({format_duration(now - t0)})")

    thread = threading.Thread(target=beat, name=f"heartbeat: {desc}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        if bar is not None:
            bar.close()


def _client():
    try:
        return get_client()
    except ValueError:  # no client in this process: the local scheduler runs the graph
        return None


def compute(*graphs, desc: str = "compute", rows: int | None = None):
    """``dask.compute(*graphs)`` with a progress bar over the graph's tasks.

    ``rows``: rows of data the graphs read, for a rows-per-second rate in the progress lines.
    """

    client = _client()
    if client is None:

        class _Cb(Callback):
            def _start_state(self, dsk, state):
                # one _posttask per key of the graph; the sizes of the scheduler's own state
                # (dependencies, dependents, waiting...) once made the total four times too large
                bar.set_total(len(dsk))

            def _posttask(self, key, result, dsk, state, worker_id):
                bar.update()

        with Bar(0, desc, unit="task", rows=rows) as bar, _Cb():
            return dask.compute(*graphs)

    futures = client.compute(list(graphs))
    with Bar(0, desc, unit="task", rows=rows) as bar:
        done = 0
        while True:
            state = _progress_counts(client, futures)
            if state is not None:
                total, finished = state
                bar.set_total(total)
                if finished > done:
                    bar.update(finished - done)
                    done = finished
            if all(f.done() for f in futures):
                break
            time.sleep(0.3)
        if bar.total > done:
            bar.update(bar.total - done)
    return tuple(client.gather(futures))


def _progress_counts(client, futures):
    """(total, finished) tasks upstream of ``futures`` on the scheduler, or None."""
    keys = [f.key for f in futures]

    def _count(dask_scheduler, keys):
        seen, stack, total, fin = set(), list(keys), 0, 0
        while stack:
            k = stack.pop()
            if k in seen:
                continue
            seen.add(k)
            ts = dask_scheduler.tasks.get(k)
            if ts is None:
                continue
            total += 1
            if ts.state in ("memory", "released", "forgotten") or ts.state == "erred":
                fin += 1
            stack.extend(d.key for d in ts.dependencies)
        return total, fin

    try:
        return client.run_on_scheduler(_count, keys=keys)
    except Exception:  # progress is cosmetic; never let it break a run
        return None
