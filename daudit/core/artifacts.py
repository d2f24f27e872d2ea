"""Writing results safely: temporary name + rename, summary.json last; whether a PID runs."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import psutil

from daudit.core.errors import DauditError
from daudit.core.files import is_regular_file

__all__ = ["atomic_write_text", "atomic_write_bytes", "write_json", "to_jsonable", "pid_alive", "read_pid"]


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``.

    On any failure (e.g. a full disk) the temporary file is removed and the previous file at
    ``path`` stays intact.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise DauditError(f"cannot write {path}: {err.strerror or err} ({err.filename or path.parent})") from err
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            shutil.copymode(path, tmp)  # a rewritten file keeps its permissions
        else:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(err, OSError):
            raise DauditError(f"cannot write {path}: {err.strerror or err} (previous file kept)") from err
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(obj):
    """numpy scalars/arrays, tuples and Paths -> plain JSON types (NaN -> None)."""

    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return None if v != v or v in (float("inf"), float("-inf")) else v
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | Path, obj) -> Path:
    return atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False) + "\n")


def read_pid(path: Path) -> int | None:
    """The PID written in a lock or PID file, or None when it is missing or unreadable."""
    if not is_regular_file(path):
        return None
    try:
        with open(path, "rb") as fh:  # a lock or PID file is one short line: read no more
            pid = int(fh.read(64).split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid > 0 else None  # 0 or -N would name a process group to os.kill


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` is running (a zombie, or a child that already exited, is not)."""
    if not isinstance(pid, int) or pid <= 0 or pid >= 2**31:
        return False  # os.kill(0 or -N) would test a whole process group; beyond a pid_t: no process
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own finished child
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except (psutil.AccessDenied, psutil.Error):
        return True
