"""The staging folder of a run: checked, locked, logged, swapped in only when complete.

Everything a run writes goes to a staging folder beside the output folder and is swapped in at
the end, with ``summary.json`` written last, so an interrupted run never leaves outputs that look
finished and earlier results stay intact until the new ones are complete.

daudit moves or deletes only what it made. Every folder it makes (the staging folder, hence
every output folder) holds a marker, `MARKER`, which lists each file daudit wrote there and its
SHA-256 once the run is complete. An existing output folder without the marker is refused; the
``<out>.previous`` folder that a swap would delete is deleted only when it holds exactly the
files its marker lists, unchanged; anything else is refused with one line and left as it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from daudit.core import runlog
from daudit.core.artifacts import atomic_write_text
from daudit.core.errors import DauditError, os_error_parts
from daudit.core.locks import RunLock, lock_owner
from daudit.core.paths import check_cache_dir
from daudit.core.signals import Interrupted, deferred_signals

__all__ = ["resolve_output_dir", "check_output_dir", "check_not_in_use", "staging_dir", "swap_in", "OutputLock", "lock_path",
           "staged_output", "MARKER", "is_owned", "unowned_files", "seal"]

log = logging.getLogger("daudit")

MARKER = ".daudit-output.json"  # in every folder daudit makes: proof that it may move or delete it
_MARKER_TAG = "daudit output folder"


def resolve_output_dir(spec, override: str | None) -> Path:
    """The output folder of ``spec`` (an `AuditSpec`): ``--output-dir``, else the spec's
    ``output_dir``, else ``results/<experiment_id>``; absolute, ``..`` and symlinks resolved (the
    staging folder must sit beside the real folder for the final rename)."""
    out = Path(override or spec.output_dir or Path("results") / spec.experiment_id).expanduser()
    return Path(os.path.realpath(out))



# ----------------------------------------------------------------------------- ownership


def _read_marker(folder: Path) -> dict | None:
    path = folder / MARKER
    try:
        if not path.is_file() or path.stat().st_size > 16 * 2**20:
            return None
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("written_by") == _MARKER_TAG else None


def is_owned(folder: Path) -> bool:
    """Whether ``folder`` carries daudit's marker (it made the folder)."""
    return _read_marker(Path(folder)) is not None


def _write_marker(folder: Path, files: dict | None) -> None:
    atomic_write_text(folder / MARKER, json.dumps({"written_by": _MARKER_TAG, "format": 1, "files": files},
                                                  indent=1, sort_keys=True) + "\n")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _entries(folder: Path):
    """(relative POSIX path, path) of every non-directory entry below ``folder`` but the marker."""
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            path = Path(root) / name
            rel = path.relative_to(folder).as_posix()
            if rel != MARKER:
                yield rel, path


def seal(folder: Path) -> None:
    """Record in the marker every file of ``folder`` with its SHA-256 (the run is complete)."""
    _write_marker(folder, {rel: _sha256(path) for rel, path in _entries(folder) if path.is_file()})


def unowned_files(folder: Path) -> list[str]:
    """Files of ``folder`` that daudit did not write or that changed since (relative paths)."""
    meta = _read_marker(folder)
    listed = (meta or {}).get("files") or {}
    out = []
    for rel, path in _entries(folder):
        if path.is_symlink() or not path.is_file() or listed.get(rel) != _sha256(path):
            out.append(rel)
    return sorted(out)


def _is_empty_dir(folder: Path) -> bool:
    try:
        return folder.is_dir() and not folder.is_symlink() and next(os.scandir(folder), None) is None
    except OSError:
        return False


def _previous(out: Path) -> Path:
    return out.parent / f"{out.name}.previous"


def _check_previous(out: Path) -> None:
    """Refuse when the swap would have to delete a ``<out>.previous`` daudit does not own."""
    prev = _previous(out)
    if not os.path.lexists(prev) or _is_empty_dir(prev):
        return
    if prev.is_symlink() or not prev.is_dir():
        raise DauditError(f"{prev} exists and is not a folder daudit made; the swap would replace it: move it away "
                          "or choose another --output-dir (nothing was changed)")
    foreign = unowned_files(prev)
    if foreign:
        raise DauditError(f"{prev} holds {len(foreign)} file(s) daudit did not write or that changed since "
                          f"(e.g. {foreign[0]}); the next swap would delete them: move them out of {prev.name} "
                          "or choose another --output-dir (nothing was changed)")


def check_output_dir(out: Path):
    """Refuse (one line, nothing changed) an output path daudit may not write, move or delete.

    Refused: a path that is not a folder; a non-empty folder without daudit's marker (a project,
    a folder of notes, results of another tool or of an older daudit); a ``<out>.previous`` that
    holds anything daudit did not write; a ``<out>.log`` beside it that daudit did not write; a
    folder that cannot be written.
    """
    out = Path(out)
    if os.path.lexists(out):
        if not out.is_dir():
            raise DauditError(f"output path {out} exists and is not a directory; choose another --output-dir")
        if not _is_empty_dir(out):
            if not is_owned(out):
                raise DauditError(f"output directory {out} is not empty and holds no daudit results (no {MARKER} "
                                  "marker): daudit moves or deletes only folders it made; choose another "
                                  "--output-dir (nothing was changed)")
            _check_previous(out)
    _check_live_log(out)
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
    owner = lock_owner(lock_path(out))
    if owner is not None and owner.get("pid") != os.getpid():
        raise DauditError(f"output directory {Path(out)} is in use by a running daudit (PID {owner.get('pid')}); "
                          "wait for it or choose another --output-dir")


def lock_path(out: Path) -> Path:
    """The lock file of output folder ``out``, beside it (the folder itself is swapped)."""
    return Path(out).parent / f".{Path(out).name}.lock"


# ----------------------------------------------------------------------------- staging and swap


def staging_dir(out: Path) -> Path:
    """A fresh staging folder beside ``out``, marked as daudit's; stale ones of dead runs removed.

    Called with the lock of ``out`` held, so every other staging folder of ``out`` was left by a
    run that is gone (whatever process now has its PID).
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    for old in out.parent.glob(f".{out.name}.staging-*"):
        if old.name.rsplit("-", 1)[-1].isdigit() and is_owned(old):
            shutil.rmtree(old, ignore_errors=True)  # left by a killed run
    st = out.parent / f".{out.name}.staging-{os.getpid()}"
    if os.path.lexists(st):
        if not is_owned(st):
            raise DauditError(f"{st} exists and daudit did not make it; remove it or choose another --output-dir")
        shutil.rmtree(st)
    st.mkdir()
    _write_marker(st, None)
    return st


def swap_in(staging: Path, out: Path) -> Path | None:
    """Replace ``out`` by ``staging``; earlier results move to ``<out>.previous``.

    Ownership is checked again here (the run may have taken hours): a ``<out>`` or
    ``<out>.previous`` that is not daudit's is refused (`DauditError`) and left untouched.
    """
    seal(staging)
    prev = None
    if os.path.lexists(out):
        if _is_empty_dir(out):
            out.rmdir()
        elif out.is_dir() and not out.is_symlink() and is_owned(out):
            _check_previous(out)
            prev = _previous(out)
            if os.path.lexists(prev):
                shutil.rmtree(prev)  # holds only what daudit wrote there (checked just above)
            os.replace(out, prev)
        else:
            raise DauditError(f"output directory {out} changed during the run and is no longer daudit's; "
                              "nothing was moved (choose another --output-dir)")
    os.replace(staging, out)
    return prev


class OutputLock:
    """The PID lock of an output folder, kept beside it (the folder itself is swapped)."""

    def __init__(self, out: Path):
        out.parent.mkdir(parents=True, exist_ok=True)
        self._lock = RunLock(out.parent, lock_path(out).name, guards=out)

    def __enter__(self):
        return self._lock.acquire()

    def __exit__(self, *exc):
        with deferred_signals():
            self._lock.release()


def _discard(staging: Path) -> None:
    with deferred_signals():
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def staged_output(out: Path, *, echo=print, experiment_id: str | None = None, kind: str = "audit"):
    """Yield a staging folder for a run's results; swap it in as ``out`` when the block succeeds.

    Checks ``out`` and the cache root first and holds the lock of ``out`` (`daudit.core.locks`). The run log is written line by line to
    ``<parent>/<name>.log`` (readable while the run goes; copied into the results as ``run.log``)
    and the run's state file beside it follows its stages (`daudit.core.runlog`; ``status`` reads
    it). On any exception, Ctrl-C, SIGTERM or SIGHUP (`daudit.core.signals.Interrupted`) the staging
    folder is removed, the lock released and ``out`` left untouched; a file-system error (e.g. a
    full disk) becomes one `DauditError` line. Earlier results move to ``<out>.previous`` only
    once the new ones are complete.
    """
    out = Path(out)
    check_not_in_use(out)  # a live run's log may not have its state file beside it yet
    check_output_dir(out)
    check_cache_dir()  # every run writes its registry entry (and caches) under the cache root
    with OutputLock(out):
        staging = staging_dir(out)
        try:
            live = runlog.live_log_path(out)
            recorder = runlog.RunRecorder(out, experiment_id=experiment_id or out.name, kind=kind)
            with runlog.run_logging(live) as handler, runlog.recording(recorder):
                # the state file before the log's first line: a log beside ``out`` without its state
                # file is refused as not daudit's (`_check_live_log`), even one a killed run left
                recorder.begin()
                log.info("daudit %s of %s started (PID %d); results go to %s", kind, experiment_id or out.name,
                         os.getpid(), out)
                try:
                    yield staging
                except BaseException as err:  # noqa: BLE001 - recorded, then raised again
                    _stopped(err, staging, out, recorder)
                handler.flush()
                shutil.copyfile(live, staging / "run.log")
        except BaseException as err:  # before the run or after it: no staging folder left behind
            _discard(staging)
            if isinstance(err, OSError):
                raise _fs_error(err, out) from err
            raise
        try:
            with deferred_signals():
                prev = swap_in(staging, out)
        except BaseException as err:
            _discard(staging)
            recorder.end("failed", f"daudit: error: the results could not be moved into {out} ({err})")
            if isinstance(err, OSError):
                raise _fs_error(err, out) from err
            raise
        recorder.end("finished")
        if prev is not None:
            echo(f"previous results kept in {prev}")


def _fs_error(err: OSError, out: Path) -> DauditError:
    """One line naming the file and the real cause of ``err``, with the fix for that cause only."""
    where, cause, fix = os_error_parts(err)
    return DauditError(f"file system error{where}: {cause}; the previous results in {out} are untouched ({fix})")


def _check_live_log(out: Path) -> Path:
    """The run log path beside ``out``; refused when a file there was not written by daudit.

    daudit writes ``<parent>/<name>.log`` together with ``<parent>/.<name>.state.json``; a log
    without that state file beside it is someone else's (notes, another tool's log) and is not
    overwritten.
    """
    live, state = runlog.live_log_path(out), runlog.state_path(out)
    if os.path.lexists(live) and (not os.path.lexists(state) or os.path.islink(live) or not os.path.isfile(live)):
        raise DauditError(f"{live}: exists and was not written by daudit (no {state.name} beside it); daudit writes "
                          "the run's log there: move or rename that file, or choose another --output-dir")
    return live


def _stopped(err: BaseException, staging: Path, out: Path, recorder) -> None:
    """Remove the staging folder (whatever stopped the run), record why it stopped, raise."""
    _discard(staging)  # bad input, a bug, a full disk, Ctrl-C or SIGTERM: leave nothing behind
    if isinstance(err, OSError):  # e.g. a full disk while a figure is written
        bad = _fs_error(err, out)
        log.error("daudit: error: %s", bad, extra=runlog.FILE_ONLY)
        recorder.end("failed", f"daudit: error: {bad}")
        raise bad from err
    if isinstance(err, DauditError):
        log.error("daudit: error: %s", err, extra=runlog.FILE_ONLY)  # the CLI prints it on stderr
        recorder.end("failed", f"daudit: error: {err}")
    elif isinstance(err, (KeyboardInterrupt, SystemExit, Interrupted)):
        log.warning("daudit: interrupted", extra=runlog.FILE_ONLY)
        recorder.end("interrupted", "stopped by Ctrl-C (or a stop signal) before it finished; earlier results "
                                    "are untouched")
    else:
        first = (str(err).strip().splitlines() or [""])[0][:200]
        log.error("daudit: internal error %s: %s (a bug; the traceback follows in this log)", type(err).__name__, first)
        log.debug("traceback", exc_info=err)
        recorder.end("failed", f"internal error {type(err).__name__}: {first} (a bug; see the log)")
    raise err
