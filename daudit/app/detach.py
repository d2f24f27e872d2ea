"""Background runs (like ``nohup ... &``) and their status, keyed by experiment id.

`detach` restarts the same command line without ``--detach`` in a new session, with its output
in ``logs/<EXP>.log``, its PID in ``logs/<EXP>.pid`` and where its results go in
``logs/<EXP>.json``; `run_status` reads those back.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from daudit.core.artifacts import pid_alive, read_pid
from daudit.core.errors import DauditError
from daudit.core.files import is_regular_file
from daudit.core.schema import load_summary

__all__ = ["detach", "run_status", "estimate_seconds"]

# Seconds per (row x pixel) of one full run, measured on the 2-core reference machine with
# `make demo` (see bench/RESULTS.md); used only for the printed estimate.
_SECONDS_PER_CELL = 1.0e-6
_FIXED_SECONDS = 20.0


def estimate_seconds(n_rows_total: int, n_pixels: int) -> float:
    return _FIXED_SECONDS + _SECONDS_PER_CELL * n_rows_total * n_pixels


def _logs(args, exp_id: str) -> tuple[Path, Path, Path]:
    d = Path(args.logs_dir)
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{exp_id}.log", d / f"{exp_id}.pid", d / f"{exp_id}.json"


def detach(argv: list[str], args) -> int:
    # lazy: the spec and output checks are needed only when going to the background
    from daudit.app.runspec import resolve_spec
    from daudit.output.staging import check_output_dir, resolve_output_dir

    spec, _ = resolve_spec(args)  # validate before going to the background
    out = resolve_output_dir(spec, args.output_dir)
    check_output_dir(out)
    log_path, pid_path, meta_path = _logs(args, spec.experiment_id)
    old = read_pid(pid_path)
    if old is not None and pid_alive(old):
        raise DauditError(f"{spec.experiment_id} is already running (PID {old}); "
                          f"see python -m daudit status {spec.experiment_id}")
    child_argv = [a for a in argv if a != "--detach"]
    with open(log_path, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-u", "-m", "daudit", *child_argv], stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    pid_path.write_text(f"{proc.pid}\n")
    meta_path.write_text(json.dumps({"pid": proc.pid, "output_dir": str(out), "log": str(log_path.absolute()),
                                     "argv": child_argv}, indent=2) + "\n")
    d = spec.data
    n = (d.num_samples or 100_000) + 2 * (d.num_test_samples or 10_000)
    minutes = estimate_seconds(n, 4096) / 60
    print(f"✅ 任务已启动 (PID: {proc.pid})")
    print(f"📋 tail -f {log_path.absolute()}")
    print(f"⏱️ 预计 ~{minutes:.0f}min，完成后告诉我继续")
    return 0


def run_status(exp_id: str, logs_dir: str = "logs") -> tuple[str, str]:
    """('running' | 'finished' | 'failed', one line of detail)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", exp_id or ""):
        raise DauditError(f"{exp_id!r} is not an experiment id (letters, digits, '.', '_' or '-'; no path)")
    d = Path(logs_dir)
    pid_path, meta_path, log_path = d / f"{exp_id}.pid", d / f"{exp_id}.json", d / f"{exp_id}.log"
    if not pid_path.exists():
        raise DauditError(f"no detached run {exp_id!r} under {d}/ (start one with python -m daudit run --detach)")
    pid = read_pid(pid_path)
    if pid is None:
        raise DauditError(f"{pid_path}: does not hold a process id; the file is damaged: remove it (and "
                          f"{meta_path.name}) and start the run again")
    if pid_alive(pid):
        return "running", f"PID {pid}; log {log_path}"
    out = _output_dir(meta_path)
    summ = out / "summary.json" if out is not None else None
    if summ is not None and os.path.lexists(summ):
        s = load_summary(summ)  # one line (DauditError) when damaged or of another version
        if s["started_utc"] >= _mtime_iso(pid_path):
            g = s["gate"]
            return "finished", (f"Gate-1 {g['verdict']} (best test R2 {g['best_test_r2']:.4f}, {g['best_model']}); "
                                f"report {out / 'report.md'}")
    return "failed", _last_error(log_path)


def _output_dir(meta_path: Path) -> Path | None:
    """Where the detached run writes (``output_dir`` of ``<EXP>.json``); None when unknown."""
    if not is_regular_file(meta_path) or meta_path.stat().st_size > 2**20:
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise DauditError(f"{meta_path}: not the JSON daudit wrote (damaged); remove it and the .pid file and "
                          "start the run again") from None
    out = meta.get("output_dir") if isinstance(meta, dict) else None
    return Path(out) if isinstance(out, str) and out and "\0" not in out else None


def _mtime_iso(path: Path) -> str:
    t = dt.datetime.fromtimestamp(path.stat().st_mtime - 5, dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _last_error(log_path: Path) -> str:
    if not is_regular_file(log_path):
        return f"no log at {log_path}"
    try:
        with open(log_path, "rb") as fh:  # the end of the log holds the error line; the log can be long
            fh.seek(max(0, log_path.stat().st_size - 2**20))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return f"no log at {log_path}"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("daudit: error:") or "Error" in ln.split(":")[0]:
            return ln
    return lines[-1] if lines else "the run stopped without output"
