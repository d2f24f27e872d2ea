"""Progress bars for long work: tqdm on the terminal, percent lines in the run log.

`compute` runs Dask graphs with one bar that counts finished tasks, whichever scheduler is
active (a distributed Client or a local one).
"""

from __future__ import annotations

import logging
import sys
import time

import dask
from dask.callbacks import Callback
from distributed import get_client
from tqdm.auto import tqdm

__all__ = ["Bar", "compute"]

log = logging.getLogger("daudit")


class Bar:
    """A tqdm bar that also logs every 10 % to the ``daudit`` logger."""

    def __init__(self, total: int, desc: str, unit: str = "it"):
        self.total, self.desc, self._n, self._next_pct, self._t0 = max(int(total), 1), desc, 0, 10, time.time()
        self._bar = tqdm(total=self.total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
                         mininterval=0.5, disable=None)
        log.info("%s: started (%d %s)", desc, self.total, unit)

    def update(self, n: int = 1):
        self._n += n
        self._bar.update(n)
        pct = 100 * self._n // self.total
        while pct >= self._next_pct and self._next_pct <= 100:
            log.info("%s: %d%% (%d/%d, %.1fs)", self.desc, self._next_pct, self._n, self.total,
                     time.time() - self._t0)
            self._next_pct += 10

    def set_total(self, total: int):
        self.total = max(int(total), 1)
        self._bar.total = self.total
        self._bar.refresh()

    def close(self):
        self._bar.close()
        log.info("%s: done in %.1fs", self.desc, time.time() - self._t0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _client():
    try:
        return get_client()
    except ValueError:  # no client in this process: the local scheduler runs the graph
        return None


def compute(*graphs, desc: str = "compute"):
    """``dask.compute(*graphs)`` with a progress bar over the graph's tasks."""

    client = _client()
    if client is None:

        class _Cb(Callback):
            def _start_state(self, dsk, state):
                bar.set_total(sum(len(v) for v in state.values() if isinstance(v, (set, list, dict))) or len(dsk))

            def _posttask(self, key, result, dsk, state, worker_id):
                bar.update()

        with Bar(1, desc, unit="task") as bar, _Cb():
            return dask.compute(*graphs)

    futures = client.compute(list(graphs))
    with Bar(1, desc, unit="task") as bar:
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
