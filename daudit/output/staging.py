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

from daudit.core.artifacts import RunLock, pid_alive, read_pid
from daudit.core.errors import DauditError

__all__ = ["resolve_output_dir", "check_output_dir", "check_not_in_use", "staging_dir", "swap_in", "OutputLock",
           "setup_log", "staged_output"]

log = logging.getLogger("daudit")


def resolve_output_dir(spec, override: str | None) -> Path:
    """The output folder of ``spec`` (an `AuditSpec`): ``--output-dir``, else the spec's
    ``output_dir``, else ``results/<experiment_id>``; absolute."""
    out = Path(override or spec.output_dir or Path("results") / spec.experiment_id).expanduser()
    return out.absolute()

def setup_log(path: Path):
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


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
def staged_output(out: Path, *, echo=print):
    """Yield a staging folder for a run's results; swap it in as ``out`` when the block succeeds.

    Checks ``out`` first, holds its PID lock, logs to ``<staging>/run.log``. On a `DauditError`
    or a file-system error (e.g. a full disk) the staging folder is removed and ``out`` is left
    untouched; earlier results move to ``<out>.previous`` only once the new ones are complete.
    """
    out = Path(out)
    check_output_dir(out)
    with OutputLock(out):
        staging = staging_dir(out)
        handler = setup_log(staging / "run.log")
        try:
            yield staging
        except DauditError:
            shutil.rmtree(staging, ignore_errors=True)  # bad input or full disk: leave nothing behind
            raise
        except OSError as err:  # e.g. a full disk while a figure is written
            shutil.rmtree(staging, ignore_errors=True)
            where = f" on {err.filename}" if err.filename else ""
            raise DauditError(f"file system error{where}: {err.strerror or err}; the previous results in {out} "
                              "are untouched (free disk space or fix permissions, then rerun)") from err
        finally:
            log.removeHandler(handler)
            handler.close()
        prev = swap_in(staging, out)
        if prev is not None:
            echo(f"previous results kept in {prev}")
