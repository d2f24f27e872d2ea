"""Background runs (like ``nohup ... &``) and the status of any run, by experiment id or output folder.

`detach` checks the spec, the output folder and the data files, then restarts the same command
line without ``--detach`` in a new session, with its output in ``logs/<EXP>.log``, its PID in
``logs/<EXP>.pid`` and where its results go in ``logs/<EXP>.json``, and returns at once with an
estimated duration (`daudit.engine.estimate`). `find_run` turns an experiment id or a folder
into the run's output folder; `status_of` says what that run is doing
(`daudit.core.runlog`: running with its stage and progress, finished with the verdict, failed
with the one-line error, interrupted, or killed).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from daudit.core import runlog
from daudit.core.artifacts import pid_alive, read_pid
from daudit.core.errors import DauditError
from daudit.core.files import is_regular_file
from daudit.core.paths import writable_dir
from daudit.core.schema import SUMMARY_FILE
from daudit.core.spec import AuditSpec

__all__ = ["detach", "estimate_for", "find_run", "status_of"]


def _logs(logs_dir: str | Path, exp_id: str) -> tuple[Path, Path, Path]:
    """``<logs>/<EXP>.log``, ``.pid`` and ``.json``; a log there without daudit's ``.json`` beside it
    is the user's own (say, an earlier ``nohup ... > logs/<EXP>.log``) and is not overwritten."""
    d = Path(logs_dir).absolute()
    log_path, pid_path, meta_path = d / f"{exp_id}.log", d / f"{exp_id}.pid", d / f"{exp_id}.json"
    if os.path.lexists(log_path) and not os.path.lexists(meta_path):
        raise DauditError(f"{log_path}: exists and was not written by daudit run --detach (no {meta_path.name} "
                          "beside it); move or rename it, or pass another --logs-dir")
    writable_dir(d, what=f"--logs-dir {logs_dir}", fix="pass --logs-dir a folder daudit can write its logs to")
    return log_path, pid_path, meta_path


def estimate_for(spec: AuditSpec, *, builtin: bool):
    """The estimated duration of ``spec`` from its files' headers (`daudit.engine.estimate`).

    The built-in demo spec whose data is not simulated yet is estimated at its spec'd size.
    """
    # lazy: numpy and h5py are needed only to estimate, not to parse the command line
    from daudit.data.splits import peek_sizes
    from daudit.engine.estimate import estimate_run

    if builtin:
        # lazy: as above
        from daudit.simulate import demo_is_complete
        from daudit.simulate.lines import N_PIX

        if not demo_is_complete():
            d = spec.data
            n_test = d.num_test_samples or 10_000
            return estimate_run(spec, {"train": d.num_samples or 100_000, "val": n_test, "test": n_test}, N_PIX)
    rows, n_pixels = peek_sizes(spec)
    return estimate_run(spec, rows, n_pixels)


def detach(argv: list[str], args) -> int:
    """Check, start ``python -m daudit <argv without --detach>`` in the background, print how to follow it."""
    # lazy: the spec and output checks are needed only when going to the background
    from daudit.app.runspec import resolve_spec
    from daudit.core.paths import check_cache_dir
    from daudit.output.staging import check_not_in_use, check_output_dir, resolve_output_dir

    spec, builtin = resolve_spec(args)  # validate before going to the background
    out = resolve_output_dir(spec, args.output_dir)
    check_not_in_use(out)  # first: a live run's own log may not have its state file beside it yet
    check_output_dir(out)
    check_cache_dir()  # the run writes its registry entry and caches there
    if args.knowledge_center and not Path(args.knowledge_center).is_dir():
        raise DauditError(f"--knowledge-center {args.knowledge_center} is not a directory")
    estimate = estimate_for(spec, builtin=builtin)
    log_path, pid_path, meta_path = _logs(args.logs_dir, spec.experiment_id)
    old = read_pid(pid_path)
    if old is not None and pid_alive(old):
        raise DauditError(f"{spec.experiment_id} is already running in the background (PID {old}); "
                          f"see python -m daudit status {spec.experiment_id}")
    child_argv = [a for a in argv if a != "--detach"]
    if not builtin and not any(a == "--config" or a.startswith("--config=") for a in child_argv):
        child_argv += ["--config", str(Path(args.config).absolute())]  # the spec found in the folder, named
    meta = {"pid": None, "experiment_id": spec.experiment_id, "output_dir": str(out), "log": str(log_path),
            "run_log": str(runlog.live_log_path(out)), "argv": child_argv,
            "started_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "estimated_seconds": round(estimate.seconds, 1)}
    # the record before the log: a log without it beside is refused as the user's (`_logs`), even
    # one left by a detach killed in between; the child's PID is added once it exists
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    with open(log_path, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-u", "-m", "daudit", *child_argv], stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    pid_path.write_text(f"{proc.pid}\n")
    meta_path.write_text(json.dumps({**meta, "pid": proc.pid}, indent=2) + "\n")
    # status answers at once, before the child has written its own state
    runlog.RunRecorder(out, experiment_id=spec.experiment_id, pid=proc.pid).begin()
    print(f"✅ started in the background (PID {proc.pid}); results will be in {out}")
    print(f"📋 tail -f {log_path}")
    print(f"⏱️ {estimate.text()}")
    print(f"   python -m daudit status {spec.experiment_id}   # running / finished (verdict) / failed / killed")
    return 0


def _detached(logs_dir: str | Path, exp_id: str) -> dict | None:
    """What ``logs/<EXP>.json`` records of a detached run: pid, output_dir, log, argv, started_utc."""
    entry = Path(logs_dir) / f"{exp_id}.json"
    if not _EXP_ID.fullmatch(exp_id or "") or not is_regular_file(entry) or entry.stat().st_size > 2**20:
        return None
    try:
        meta = json.loads(entry.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def find_run(ref: str, *, logs_dir: str | Path = "logs", results_dir: str | Path = "results") -> Path:
    """The output folder of a run named by ``ref``: an output folder, or an experiment id.

    An id is looked up in the run registry (`daudit.core.runlog.registry_path`: the newest run of
    that id, foreground or detached), then in ``<logs_dir>/<id>.json`` (runs started with
    ``--detach``), then as ``<results_dir>/<id>``.

    Raises
    ------
    DauditError
        Nothing known by that name.
    """
    path = Path(ref).expanduser()
    if path.is_dir() or runlog.state_path(path.absolute()).exists():
        return path.absolute()
    if not _EXP_ID.fullmatch(ref or ""):
        raise DauditError(f"{ref!r}: no run's output folder there, and it is not an experiment id (letters, digits, "
                          "'.', '_' or '-'; no path)")
    for entry in (runlog.registry_path(ref), Path(logs_dir) / f"{ref}.json"):
        out = _recorded_output_dir(entry)
        if out is not None:
            return out
    default = Path(results_dir) / ref
    if default.is_dir() or runlog.state_path(default.absolute()).exists():
        return default.absolute()
    raise DauditError(f"{ref}: no run known by that experiment id or folder (looked in the run registry, "
                      f"{Path(logs_dir)}/ and {Path(results_dir)}/); give the run's output folder, or start one "
                      "with python -m daudit run")


_EXP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _recorded_output_dir(entry: Path) -> Path | None:
    """``output_dir`` of a registry entry or a ``logs/<EXP>.json``; None when there is no such file.

    Only a regular file of at most 1 MiB is read (a FIFO would block); a damaged one is one line.
    """
    if not os.path.lexists(entry):
        return None
    meta = None
    if is_regular_file(entry) and entry.stat().st_size <= 2**20:
        try:
            meta = json.loads(entry.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = None
    out = meta.get("output_dir") if isinstance(meta, dict) else None
    if not (isinstance(out, str) and out and "\0" not in out):
        raise DauditError(f"{entry}: not the record daudit wrote (damaged or not a regular file); remove it (and the "
                          ".pid file beside it) and start the run again")
    return Path(out)


def status_of(ref: str, *, logs_dir: str | Path = "logs", results_dir: str | Path = "results") -> runlog.RunStatus:
    """What the run named by ``ref`` is doing (see `find_run` and `daudit.core.runlog.run_status`)."""
    out = find_run(ref, logs_dir=logs_dir, results_dir=results_dir)
    status = runlog.run_status(out)
    exp_id = status.experiment_id if status is not None else out.name
    meta = _detached(logs_dir, exp_id)
    if meta is not None and Path(meta.get("output_dir", "")) != out:
        meta = None
    if status is None:
        return _without_state(out, meta)
    if status.state == "killed" and meta is not None and meta.get("pid") == status.pid:
        last = _last_error(Path(meta["log"]))
        if last.startswith("daudit: error:"):  # the detached child stopped on bad input before its run began
            return runlog.RunStatus("failed", exp_id, out, Path(meta["log"]), status.pid, last)
    return status


def _without_state(out: Path, meta: dict | None) -> runlog.RunStatus:
    """A run with no state file: one from an older daudit, or a detached child that never started."""
    if (out / SUMMARY_FILE).is_file():
        return runlog.RunStatus("finished", out.name, out, None, None, runlog.verdict_line(out))
    if meta is not None:
        pid, log_path = meta.get("pid"), Path(meta.get("log", ""))
        if isinstance(pid, int) and pid_alive(pid):
            return runlog.RunStatus("running", out.name, out, log_path, pid, f"starting (PID {pid})")
        return runlog.RunStatus("failed", out.name, out, log_path, pid, _last_error(log_path))
    raise DauditError(f"{out}: no run state, results or background run found there; start one with "
                      "python -m daudit run")


def _last_error(log_path: Path) -> str:
    """The ``daudit: error:`` line of a log, else its last line that names an error, else its last line."""
    try:
        with open(log_path, "rb") as fh:  # the end of the log holds the error line; the log can be long
            fh.seek(max(0, log_path.stat().st_size - 2**20))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return f"no log at {log_path}"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("daudit: error:"):
            return ln
    for ln in reversed(lines):
        if "Error" in ln.split(":")[0]:
            return ln
    return lines[-1] if lines else "the run stopped without output"
