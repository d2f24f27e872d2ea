"""The staging folder of a run: checked, locked, logged, swapped in only when complete.

Everything a run writes goes to a staging folder beside the output folder and is swapped in at
the end, with ``summary.json`` written last, so an interrupted run never leaves outputs that look
finished and earlier results stay intact until the new ones are complete.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

from daudit.core import runlog
from daudit.core.artifacts import RunLock, pid_alive, read_pid
from daudit.core.errors import DauditError

__all__ = ["resolve_output_dir", "check_output_dir", "check_not_in_use", "staging_dir", "swap_in", "OutputLock",
           "staged_output"]

log = logging.getLogger("daudit")


def resolve_output_dir(spec, override: str | None) -> Path:
    """The output folder of ``spec`` (an `AuditSpec`): ``--output-dir``, else the spec's
    ``output_dir``, else ``results/<experiment_id>``; absolute."""
    out = Path(override or spec.output_dir or Path("results") / spec.experiment_id).expanduser()
    return out.absolute()


def staging_dir(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    for old in out.parent.glob(f".{out.name}.staging-*"):
        pid = old.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)  # left by a killed run
    st = out.parent / f".{out.name}.staging-{os.getpid()}"
    if st.exists():
        shutil.rmtree(st)
    st.mkdir()
    return st


def swap_in(staging: Path, out: Path) -> Path | None:
    """Replace ``out`` by ``staging``; earlier results move to ``<out>.previous``."""
    prev = None
    if out.exists():
        prev = out.parent / f"{out.name}.previous"
        if prev.exists():
            shutil.rmtree(prev)
        os.replace(out, prev)
    os.replace(staging, out)
    return prev


def check_output_dir(out: Path):
    """Refuse a folder that exists, is not empty and does not hold daudit results."""
    if out.exists():
        if not out.is_dir():
            raise DauditError(f"output path {out} exists and is not a directory; choose another --output-dir")
        names = {p.name for p in out.iterdir()}
        if names and not names & {"summary.json", "run.log", "metrics.csv"}:
            raise DauditError(f"output directory {out} is not empty and holds no daudit results; "
                              "choose another --output-dir (nothing was changed)")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise DauditError(f"output directory {out} cannot be made: {parent} is a file; choose another --output-dir")
    if not os.access(parent, os.W_OK):
        raise DauditError(f"output directory {out} is not writable (no write permission on {parent})")
    try:  # os.access says yes to root even on a read-only or virtual file system: try it
        os.rmdir(tempfile.mkdtemp(prefix=f".{out.name}.probe-", dir=parent))
    except OSError as err:
        raise DauditError(f"output directory {out} is not writable ({err.strerror or err} in {parent}); "
                          "choose another --output-dir") from err


def check_not_in_use(out: Path) -> None:
    """Refuse at once (one line) when a live daudit run holds the lock of ``out``.

    A cheap check before the heavy imports of a run; `staged_output` takes the lock itself.
    """
    lock = Path(out).parent / f".{Path(out).name}.lock"
    pid = read_pid(lock)
    if pid is not None and pid != os.getpid() and pid_alive(pid):
        raise DauditError(f"output directory {lock.parent} is in use by a running daudit (PID {pid}); "
                          "wait for it or choose another --output-dir")


class OutputLock:
    """The PID lock of an output folder, kept beside it (the folder itself is swapped)."""

    def __init__(self, out: Path):
        out.parent.mkdir(parents=True, exist_ok=True)
        self._lock = RunLock(out.parent)
        self._lock.path = out.parent / f".{out.name}.lock"

    def __enter__(self):
        return self._lock.acquire()

    def __exit__(self, *exc):
        self._lock.release()


@contextlib.contextmanager
def staged_output(out: Path, *, echo=print, experiment_id: str | None = None, kind: str = "audit"):
    """Yield a staging folder for a run's results; swap it in as ``out`` when the block succeeds.

    Checks ``out`` first and holds its PID lock. The run log is written line by line to
    ``<parent>/<name>.log`` (readable while the run goes; copied into the results as ``run.log``)
    and the run's state file beside it follows its stages (`daudit.core.runlog`; ``status`` reads
    it). On a `DauditError` or a file-system error (e.g. a full disk) the staging folder is
    removed and ``out`` is left untouched; earlier results move to ``<out>.previous`` only once
    the new ones are complete.
    """
    out = Path(out)
    check_output_dir(out)
    with OutputLock(out):
        staging = staging_dir(out)
        live = runlog.live_log_path(out)
        recorder = runlog.RunRecorder(out, experiment_id=experiment_id or out.name, kind=kind)
        with runlog.run_logging(live) as handler, runlog.recording(recorder):
            recorder.begin()
            try:
                yield staging
            except BaseException as err:  # noqa: BLE001 - recorded, then raised again
                _stopped(err, staging, out, recorder)
            handler.flush()
            shutil.copyfile(live, staging / "run.log")
        prev = swap_in(staging, out)
        recorder.end("finished")
        if prev is not None:
            echo(f"previous results kept in {prev}")


def _stopped(err: BaseException, staging: Path, out: Path, recorder) -> None:
    """Record why a run stopped, clean its staging folder on bad input or a file-system error, raise."""
    if isinstance(err, (DauditError, OSError)):
        shutil.rmtree(staging, ignore_errors=True)  # bad input or full disk: leave nothing behind
    if isinstance(err, OSError):  # e.g. a full disk while a figure is written
        where = f" on {err.filename}" if err.filename else ""
        bad = DauditError(f"file system error{where}: {err.strerror or err}; the previous results in {out} "
                          "are untouched (free disk space or fix permissions, then rerun)")
        log.error("daudit: error: %s", bad, extra=runlog.FILE_ONLY)
        recorder.end("failed", f"daudit: error: {bad}")
        raise bad from err
    if isinstance(err, DauditError):
        log.error("daudit: error: %s", err, extra=runlog.FILE_ONLY)  # the CLI prints it on stderr
        recorder.end("failed", f"daudit: error: {err}")
    elif isinstance(err, (KeyboardInterrupt, SystemExit)):
        log.warning("daudit: interrupted", extra=runlog.FILE_ONLY)
        recorder.end("interrupted", "stopped by Ctrl-C (or a stop signal) before it finished; earlier results "
                                    "are untouched")
    else:
        first = (str(err).strip().splitlines() or [""])[0][:200]
        log.error("daudit: internal error %s: %s (a bug; the traceback follows in this log)", type(err).__name__, first)
        log.debug("traceback", exc_info=err)
        recorder.end("failed", f"internal error {type(err).__name__}: {first} (a bug; see the log)")
    raise err
