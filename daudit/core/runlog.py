"""The live record of a run: a log for ``tail -f`` beside the results, and a state file for ``status``.

A run's output folder is swapped in only when the run is complete, so what can be read while it
goes sits beside it, at stable paths::

    results/LOGG-ERR-BASE-01.log                 the run log, written line by line (tail -f it)
    results/.LOGG-ERR-BASE-01.state.json         running / finished / failed / interrupted; stage, progress
    <cache_dir>/runs/LOGG-ERR-BASE-01.json       which output folder the newest run of that id writes to

`run_logging` sends the ``daudit`` logger to the log file (and, when stderr is a file, as under
``nohup ... > log 2>&1`` or ``--detach``, to stderr as well) and routes Python warnings of libraries
(e.g. distributed's "Sending large graph") into the log file at DEBUG instead of the terminal.
`RunRecorder` keeps the state file; `run_status` reads it back, telling a run that was killed
(its state says running but its process is gone) from one that is still going.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import stat
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from daudit.core import schema
from daudit.core.artifacts import pid_alive, write_json
from daudit.core.errors import DauditError
from daudit.core.gate_rule import verdict_label
from daudit.core.locks import owner_alive, process_identity
from daudit.core.paths import runs_dir
from daudit.core.timefmt import format_duration

__all__ = [
    "FILE_ONLY",
    "LOG_FORMAT",
    "RunRecorder",
    "RunStatus",
    "current",
    "live_log_path",
    "logging_to_stderr",
    "note_progress",
    "read_state",
    "recording",
    "registry_path",
    "run_logging",
    "run_status",
    "state_path",
    "verdict_line",
]

log = logging.getLogger("daudit")

LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
FILE_ONLY = {"file_only": True}
STDERR_ENV = "DAUDIT_LOG_STDERR"  # ``extra=`` of a record the stderr echo skips (the CLI says it itself)
STATE_WRITE_INTERVAL = 5.0  # seconds between state-file writes for progress (stage changes write at once)


def live_log_path(out: str | Path) -> Path:
    """The run log of output folder ``out`` while it runs and after: ``<parent>/<name>.log``."""
    out = Path(out)
    return out.parent / f"{out.name}.log"


def state_path(out: str | Path) -> Path:
    """The state file of output folder ``out``: ``<parent>/.<name>.state.json``."""
    out = Path(out)
    return out.parent / f".{out.name}.state.json"


def registry_path(experiment_id: str) -> Path:
    """The registry entry of an experiment id: where its newest run writes (`daudit.core.paths.runs_dir`)."""
    return runs_dir() / f"{experiment_id}.json"


def _utc(t: float | None = None) -> str:
    moment = dt.datetime.fromtimestamp(time.time() if t is None else t, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class RunRecorder:
    """The state file of one run, written as it goes.

    Parameters
    ----------
    out : path-like
        The run's output folder (absolute); the state file sits beside it.
    experiment_id : str
    kind : str
        ``"audit"`` or ``"deleak"``.
    pid : int, optional
        The process doing the run (default: this one).
    """

    def __init__(self, out, *, experiment_id: str, kind: str = "audit", pid: int | None = None):
        self.out = Path(out)
        self.path = state_path(self.out)
        self._t0 = time.time()
        self._lock = threading.Lock()
        self._last_write = 0.0
        self.state = {"status": "running", "experiment_id": experiment_id, "kind": kind,
                      "pid": os.getpid() if pid is None else int(pid),
                      # who the PID names (start time, boot, host): a reused PID is not this run
                      "process": process_identity(os.getpid() if pid is None else int(pid)),
                      "output_dir": str(self.out),
                      "log": str(live_log_path(self.out)), "started_utc": _utc(self._t0), "updated_utc": None,
                      "stage": "starting", "stage_started_utc": _utc(self._t0), "stages_done": [],
                      "progress": None, "message": None}

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.time() - self._t0

    def begin(self) -> None:
        """Write the first state and point the registry entry of the experiment id at this run."""
        self._write()
        entry = {k: self.state[k] for k in ("experiment_id", "kind", "output_dir", "log", "pid", "started_utc")}
        try:
            write_json(registry_path(self.state["experiment_id"]), entry)
        except DauditError as err:  # the registry is a convenience: never stop a run over it
            log.warning("run registry not updated: %s", err)

    def stage_started(self, name: str) -> None:
        with self._lock:
            self.state.update(stage=name, stage_started_utc=_utc(), progress=None)
        self._write()

    def stage_ended(self, name: str, seconds: float) -> None:
        with self._lock:
            self.state["stages_done"].append({"name": name, "seconds": round(float(seconds), 3)})
            self.state["progress"] = None
        self._write()

    def progress(self, text: str) -> None:
        """Record a progress line (written at most every `STATE_WRITE_INTERVAL` seconds)."""
        with self._lock:
            self.state["progress"] = text
        if time.time() - self._last_write >= STATE_WRITE_INTERVAL:
            self._write()

    def end(self, status: str, message: str | None = None) -> None:
        """The final state: ``finished``, ``failed`` (``message``: the one-line error) or ``interrupted``."""
        with self._lock:
            self.state.update(status=status, message=message, finished_utc=_utc(), progress=None,
                              total_seconds=round(self.elapsed(), 3))
        self._write()

    def _write(self) -> None:
        with self._lock:
            self.state["updated_utc"] = _utc()
            snapshot = json.loads(json.dumps(self.state))
            self._last_write = time.time()
        try:
            write_json(self.path, snapshot)
        except DauditError as err:  # e.g. a full disk: the run itself decides what to do about that
            log.warning("state file not updated: %s", err)


_CURRENT: list[RunRecorder] = []


def current() -> RunRecorder | None:
    """The recorder of the run going on in this process, or None."""
    return _CURRENT[-1] if _CURRENT else None


@contextlib.contextmanager
def recording(recorder: RunRecorder):
    """Make ``recorder`` the `current` one while the block runs."""
    _CURRENT.append(recorder)
    try:
        yield recorder
    finally:
        _CURRENT.remove(recorder)


def note_progress(text: str) -> None:
    """Tell the current run's state file how far a long step is (no-op outside a run)."""
    rec = current()
    if rec is not None:
        rec.progress(text)


def logging_to_stderr() -> bool:
    """Whether run logs are echoed to stderr: when stderr is a file, as under ``nohup ... > log 2>&1``
    or ``--detach``, so that the file tells how the run goes.

    Not on a terminal (the progress bars show there), a pipe or a notebook, where a refused run
    stays one line. ``DAUDIT_LOG_STDERR=1`` / ``0`` forces it on / off.
    """
    forced = os.environ.get(STDERR_ENV)
    if forced in ("0", "1"):
        return forced == "1"
    if "ipykernel" in sys.modules:
        return False
    try:
        return stat.S_ISREG(os.fstat(sys.stderr.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):  # no stderr, or one without a file descriptor
        return False


class _AsDebug(logging.Filter):
    """Library warnings are recorded at DEBUG: kept in the log file, not shown as problems."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        record.msg = f"warning: {str(record.msg).strip()}"
        return True


@contextlib.contextmanager
def run_logging(path: str | Path):
    """Log the ``daudit`` logger to ``path`` (line by line) while the block runs.

    Also to stderr when `logging_to_stderr`; Python warnings go to ``path`` only, at DEBUG.
    Everything is put back as it was at the end (the logger may be used again in a notebook).
    """
    fmt = logging.Formatter(LOG_FORMAT)
    # delay: the file appears with the first record, so a run can write its state file first
    handler = logging.FileHandler(path, mode="w", encoding="utf-8", delay=True)
    handler.setFormatter(fmt)
    handler.setLevel(logging.DEBUG)
    handlers = [handler]
    if logging_to_stderr():
        echo = logging.StreamHandler(sys.stderr)
        echo.setFormatter(fmt)
        echo.setLevel(logging.INFO)
        echo.addFilter(lambda record: not getattr(record, "file_only", False))
        handlers.append(echo)
    old_level = log.level
    log.setLevel(logging.DEBUG)  # the handlers choose: DEBUG into the file, INFO to stderr
    for h in handlers:
        log.addHandler(h)
    wlog = logging.getLogger("py.warnings")
    demote, old_propagate = _AsDebug(), wlog.propagate
    logging.captureWarnings(True)
    wlog.addFilter(demote)
    wlog.addHandler(handler)
    wlog.propagate = False
    try:
        yield handler
    finally:
        wlog.removeHandler(handler)
        wlog.removeFilter(demote)
        wlog.propagate = old_propagate
        logging.captureWarnings(False)
        for h in handlers:
            log.removeHandler(h)
        handler.close()
        log.setLevel(old_level)


# ------------------------------------------------------------------------------------------------
# Reading it back


@dataclass(frozen=True)
class RunStatus:
    """What `run_status` found.

    Attributes
    ----------
    state : str
        ``running``, ``finished``, ``failed``, ``interrupted`` or ``killed`` (the state file says
        running but its process is gone).
    experiment_id : str
    output_dir : Path
    log : Path or None
        The run log (`live_log_path`).
    pid : int or None
    detail : str
        One line: stage and progress, the verdict, or the error.
    """

    state: str
    experiment_id: str
    output_dir: Path
    log: Path | None
    pid: int | None
    detail: str


def read_state(out: str | Path) -> dict | None:
    """The state file of output folder ``out``, or None when there is none (or it is unreadable)."""
    try:
        state = json.loads(state_path(out).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and "status" in state else None


def _since(utc: str | None) -> float | None:
    try:
        return time.time() - dt.datetime.strptime(utc, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=dt.UTC).timestamp()
    except (TypeError, ValueError):
        return None


def verdict_line(out: str | Path) -> str:
    """One line on a finished run: its gate, verdict, best test R2, duration and report."""
    out = Path(out)
    summary = schema.load_summary(out / schema.SUMMARY_FILE)  # one line (DauditError) if damaged
    g = summary.get("gate") or {}
    r2 = g.get("best_test_r2")
    r2_text = f"{r2:.4f}" if isinstance(r2, (int, float)) else "n/a"
    took = (summary.get("timings") or {}).get("total_seconds")
    best = f", {g['best_model']}" if g.get("best_model") else (f", recommended {g['recommended']}"
                                                              if g.get("recommended") else "")
    quick = " (quick)" if schema.quick_run(summary) else ""  # a run --quick: a first look
    return (f"{g.get('name', 'Gate')} {verdict_label(g)}{quick} (best test R2 {r2_text}{best}) in "
            f"{format_duration(took)}; report {out / 'report.md'}")


def _runs(state: dict, pid: int) -> bool:
    """Whether the process of a run's state still runs: its recorded identity when there is one
    (`daudit.core.locks.owner_alive`: a PID reused by another process, or a container's PID 1 of
    an earlier run, is not it), else its PID (a state written by an older daudit)."""
    process = state.get("process")
    if isinstance(process, dict) and process.get("pid") == pid:
        return owner_alive(process)
    return pid_alive(pid)


def run_status(out: str | Path) -> RunStatus | None:
    """The status of the run writing to output folder ``out``, from its state file; None without one."""
    out = Path(out)
    state = read_state(out)
    if state is None:
        return None
    pid = state.get("pid") if isinstance(state.get("pid"), int) else None
    log_path = Path(state["log"]) if state.get("log") else None
    exp_id = str(state.get("experiment_id") or out.name)
    status = state.get("status")
    stage = state.get("stage") or "?"
    if status == "running" and pid is not None and _runs(state, pid):
        progress = f"; {state['progress']}" if state.get("progress") else ""
        detail = (f"stage {stage!r} for {format_duration(_since(state.get('stage_started_utc')))}{progress}; "
                  f"started {format_duration(_since(state.get('started_utc')))} ago, PID {pid}")
        return RunStatus("running", exp_id, out, log_path, pid, detail)
    if status == "running":
        detail = (f"the process (PID {pid}) is gone without finishing, during stage {stage!r}; no results "
                  "were written (earlier ones are untouched); rerun it")
        return RunStatus("killed", exp_id, out, log_path, pid, detail)
    if status == "finished":
        return RunStatus("finished", exp_id, out, log_path, pid, verdict_line(out))
    message = state.get("message") or "no error line recorded"
    return RunStatus(str(status), exp_id, out, log_path, pid, f"{message} (during stage {stage!r})")
