"""Start or join the Dask scheduler a run computes on, and print its dashboard address."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import urllib.parse

import dask
from distributed import Client, LocalCluster

from daudit.core.addresses import is_wildcard, parse_dashboard_address, parse_scheduler_address
from daudit.core.errors import DauditError
from daudit.engine.streaming import lanes_for

__all__ = ["dask_context", "worker_budget", "max_workers", "main_budget", "resident_bytes", "dashboard_link",
           "WORKER_FLOOR"]

log = logging.getLogger("daudit")

WORKER_SHARE = 0.45  # of compute.memory_limit for Dask workers; the rest is the main process
WORKER_FLOOR = 256 * 2**20  # the least a worker process can run in (Python, numpy, Dask, a chunk in flight)


def worker_budget(memory_limit: int) -> int:
    return int(memory_limit * WORKER_SHARE)


def max_workers(memory_limit: int) -> int:
    """The most worker processes whose `WORKER_FLOOR` each fits the workers' share of ``memory_limit``."""
    return int(worker_budget(memory_limit) // WORKER_FLOOR)


# Plans aim at this share of compute.memory_limit; the rest covers allocator slack and the
# passes' own peaks. At 0.75 the 4 GiB default peaked at 2.81 GiB (the checks' refits), at the
# edge of the 3 GB target (bench/RESULTS.md).
TARGET_SHARE = 0.65
BASE_BYTES = 768 * 2**20  # Python, numpy, Dask (scheduler and in-process worker), LightGBM, allocator slack


def resident_bytes(n_features: int) -> int:
    """What the main process holds between passes: libraries plus three p x p float64 matrices
    (the Gram matrix, its centred copy and its eigenvectors)."""
    return BASE_BYTES + 3 * 8 * int(n_features) ** 2


def main_budget(memory_limit: int, n_features: int) -> int:
    """Bytes LightGBM (and the checks' in-memory refits) may use in the main process.

    They run after the streamed passes, when the Dask workers are idle, so they get
    ``TARGET_SHARE`` of the limit less what the process holds anyway (at least 256 MiB).
    """
    return max(int(TARGET_SHARE * memory_limit) - resident_bytes(n_features), 256 * 2**20)


def _local_config(in_process: bool) -> dict:
    """Dask settings of the local cluster (worker logs off the terminal; no memory pauses in-process)."""
    cfg = {"distributed.worker.daemon": False, "distributed.logging.distributed": "error",
           # a lost worker makes its peers log comm tracebacks although Dask recomputes its
           # chunks and the run ends well: keep them off stderr (worker processes read their
           # log level from the environment)
           "distributed.nanny.pre-spawn-environ": {
               **dask.config.get("distributed.nanny.pre-spawn-environ", {}),
               "DASK_LOGGING__DISTRIBUTED": "critical"}}
    if in_process:
        # The worker shares the process with the client (which holds the model state), so
        # its memory monitor must not pause on the process's RSS: that deadlocks a pass.
        # Memory is bounded by design instead (lane folds, LightGBM's plan).
        cfg.update({"distributed.worker.memory.target": False, "distributed.worker.memory.spill": False,
                    "distributed.worker.memory.pause": False, "distributed.worker.memory.terminate": False})
    return cfg


def _dashboard(compute) -> tuple[str, int]:
    try:
        return parse_dashboard_address(compute.dashboard_address)
    except ValueError as err:
        raise DauditError(f"compute.dashboard_address: {err}") from err


@contextlib.contextmanager
def _spawned_ignore_sigint(active: bool):
    """Worker processes spawned in this block ignore SIGINT.

    Ctrl-C in a terminal reaches the whole process group: each worker process would print its
    own KeyboardInterrupt and asyncio tracebacks while the main process unwinds. An ignored
    signal stays ignored across ``exec`` (and Python then installs no handler), so the workers
    leave Ctrl-C to the main process, which closes them as it unwinds (one line). A Ctrl-C in the
    second or two the workers take to start is not seen.
    """
    if not active or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _start_local(compute):
    """A `LocalCluster` whose scheduler and workers listen on 127.0.0.1, and its dashboard where
    ``compute.dashboard_address`` says (a host given there, else 127.0.0.1)."""
    n_cpu = os.cpu_count() or 1
    in_process = compute.n_workers is None
    n_workers = 1 if in_process else compute.n_workers
    # Default: one in-process worker (threads), so 134 MB Gram partials are never pickled
    # between processes and the memory limit covers the one process that does the work;
    # compute.n_workers starts that many worker processes instead.
    # `daudit.pipeline.memory_plan.check_workers` has refused more workers than the limit can hold
    worker_mem = compute.memory_limit if in_process else max(worker_budget(compute.memory_limit) // n_workers,
                                                             WORKER_FLOOR)
    host, port = _dashboard(compute)
    with dask.config.set(_local_config(in_process)), _spawned_ignore_sigint(not in_process):
        try:
            # Worker processes talk TCP on 127.0.0.1 only. The in-process worker talks to the
            # scheduler in memory (inproc: results are handed over, not serialised; over TCP the
            # train pass's 270 MB result was copied twice, +0.35 GiB at the end of the pass), and
            # its own dashboard listens on 127.0.0.1 only; `dashboard_link` names the host.
            net = ({"protocol": "inproc://", "worker_dashboard_address": "127.0.0.1:0"} if in_process
                   else {"host": "127.0.0.1", "protocol": "tcp://"})
            return LocalCluster(n_workers=n_workers, threads_per_worker=max(1, n_cpu // n_workers),
                                processes=not in_process, memory_limit=worker_mem,
                                dashboard_address=f"{host}:{port}", silence_logs=logging.ERROR, **net)
        except Exception as err:  # noqa: BLE001 - distributed wraps socket errors in RuntimeError
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise DauditError(f"cannot start the local Dask cluster ({first}); try "
                              "compute.dashboard_address: '127.0.0.1:0' or scheduler: threads") from err


def _join(address: str) -> Client:
    try:
        address = parse_scheduler_address(address)
    except ValueError as err:
        raise DauditError(f"compute.scheduler: {err}") from err
    try:
        return Client(address, timeout="20s")
    except Exception as err:  # noqa: BLE001 - OSError, TimeoutError or a protocol error: one cause, one line
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DauditError(f"cannot reach the Dask scheduler at {address} ({first}); check the address "
                          "or use compute.scheduler: local") from err


def dashboard_link(client: Client, host: str | None) -> str | None:
    """The dashboard's URL as the user can open it: the host it listens on (this machine's name
    when it listens on every interface) and the port it got."""
    link = client.dashboard_link
    if not link or host is None:
        return link
    url = urllib.parse.urlsplit(link)
    shown = socket.gethostname() if is_wildcard(host) else host
    return url._replace(netloc=f"{shown}:{url.port}").geturl() if url.port else link


@contextlib.contextmanager
def dask_context(compute, *, echo=print):
    """Yield a dict describing the scheduler (kind, dashboard, workers) while it is active.

    ``compute.scheduler``: ``local`` starts a `distributed.LocalCluster` bound to 127.0.0.1 (its
    dashboard too, unless ``compute.dashboard_address`` names another host, which is then said
    on stderr), ``threads`` / ``synchronous`` use Dask's local schedulers (no dashboard),
    anything else is the address of an existing scheduler (e.g. one started by dask-jobqueue)
    to join. Every failure to start or join is one `DauditError` line.
    """
    sched = compute.scheduler
    if sched in ("threads", "synchronous"):
        with dask.config.set(scheduler=sched):
            yield {"kind": sched, "dashboard": None, "n_workers": 1,
                   "fold_lanes": lanes_for(1, compute.fold_lanes)}
        return
    cluster, host = None, None
    if sched == "local":
        cluster = _start_local(compute)
        host = _dashboard(compute)[0]
        try:
            client = Client(cluster)
        except BaseException:
            cluster.close()
            raise
    else:
        client = _join(sched)
    try:
        info = {"kind": "local-cluster" if cluster else "external", "dashboard": dashboard_link(client, host),
                "n_workers": len(client.scheduler_info().get("workers", {})), "address": client.scheduler.address}
        info["fold_lanes"] = lanes_for(info["n_workers"], compute.fold_lanes)
        if host is not None and is_wildcard(host):
            warning = (f"the Dask dashboard listens on every network interface ({info['dashboard']}), as "
                       "compute.dashboard_address asks; give 127.0.0.1:PORT to keep it on this machine")
            log.warning("%s", warning)
            print(f"daudit: warning: {warning}", file=sys.stderr)
        echo(f"Dask scheduler {info['address']} ({info['n_workers']} worker(s)); dashboard: {info['dashboard']}")
        yield info
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
