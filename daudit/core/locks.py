"""The run lock of an output folder: an owner named beyond its PID, taken over once it is gone.

A PID alone does not name a process for long: it is reused by unrelated processes, and every
run in a fresh container is PID 1 again, so a lock holding only a PID could be refused forever.
The lock file therefore records its owner's identity (`process_identity`: PID, process start
time, boot id and host name) and the owner holds an advisory ``flock`` on it for the whole run.
The kernel drops that lock when the owner dies however it dies (SIGKILL, a container stopped),
whichever PID namespace asks, so "is the owner alive?" is first asked of the kernel; where the
file system offers no ``flock`` the recorded identity answers (same boot, same PID, same start
time). A lock whose owner is gone is taken over.

File format: the PID on the first line (what `daudit.core.artifacts.read_pid` reads), then one
JSON object with the identity.
"""

from __future__ import annotations

import errno
import json
import os
import socket
from pathlib import Path

import psutil

from daudit.core.artifacts import pid_alive
from daudit.core.errors import DauditError

try:
    import fcntl
except ImportError:  # Windows: identity only
    fcntl = None

__all__ = ["RunLock", "process_identity", "owner_alive", "lock_owner"]

_START_TOLERANCE_S = 1.0  # psutil's start times are rounded to clock ticks


def _boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip() or None
    except OSError:
        try:
            return f"boot-{psutil.boot_time():.0f}"
        except Exception:  # noqa: BLE001 - no boot time on this platform: host and start time remain
            return None


def _start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def process_identity(pid: int | None = None) -> dict:
    """``{"pid", "started" (s since the epoch), "boot_id", "host"}`` of process ``pid`` (default: this one)."""
    pid = os.getpid() if pid is None else int(pid)
    return {"pid": pid, "started": _start_time(pid), "boot_id": _boot_id(), "host": socket.gethostname()}


def owner_alive(owner: dict) -> bool:
    """Whether the process an identity names (`process_identity`) still runs.

    Another boot of this host: gone. Another host (a shared file system): it cannot be seen from
    here, so it counts as alive. Otherwise the PID must run and have started at the recorded
    time: a PID reused by an unrelated process, or a container's PID 1 of an earlier run, is gone.
    """
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    me = process_identity()
    same_boot = owner.get("boot_id") is not None and owner.get("boot_id") == me["boot_id"]
    if owner.get("host") not in (None, me["host"]) and not same_boot:
        return True  # another machine: its processes are not ours to see
    if owner.get("boot_id") not in (None, me["boot_id"]):
        return False  # this machine rebooted since
    started = owner.get("started")
    if not isinstance(started, (int, float)):
        return pid != me["pid"] and pid_alive(pid)  # an identity without start time: the PID is all we know
    now = _start_time(pid)
    return now is not None and abs(now - started) <= _START_TOLERANCE_S and pid_alive(pid)


def _read_owner(path: Path) -> dict | None:
    """The identity a lock file records (an older lock holding only a PID: ``{"pid": n}``)."""
    try:
        with open(path, "rb") as fh:
            text = fh.read(4096).decode("utf-8", "replace")
    except OSError:
        return None
    lines = text.splitlines()
    try:
        pid = int(lines[0].split()[0])
    except (IndexError, ValueError):
        return None
    try:
        owner = json.loads(lines[1]) if len(lines) > 1 else {}
    except ValueError:
        owner = {}
    owner = owner if isinstance(owner, dict) else {}
    return {**owner, "pid": pid}


def _try_flock(fd: int) -> bool | None:
    """Take an exclusive non-blocking flock on ``fd``: True taken, False held by another, None unsupported."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as err:
        if err.errno in (errno.EAGAIN, errno.EACCES):
            return False
        return None  # ENOLCK, EOPNOTSUPP, EINVAL: this file system has no flock


def lock_owner(path: str | Path) -> dict | None:
    """The identity of the live owner of lock file ``path``, or None when no live process holds it."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        owner = _read_owner(path)
        taken = _try_flock(fd)
        if taken is False:
            return owner or {"pid": None}  # the kernel says a live process holds it
        if taken is True and owner is not None and owner.get("flock"):
            return None  # its owner held a flock on it, which the kernel dropped: gone
        return owner if owner is not None and owner_alive(owner) else None
    finally:
        os.close(fd)  # releases the probe's flock


class RunLock:
    """An exclusive lock file on an output folder, held by a flock and naming its owner.

    ``folder`` holds the lock file ``name``; ``guards`` is the folder it locks, named in the
    "in use" error (default ``folder``; an output folder's lock sits beside it, in its parent).

    A second run on the same folder is refused while the owner lives; a lock whose owner is gone
    (`lock_owner`) is taken over.
    """

    def __init__(self, folder: str | Path, name: str = ".daudit.lock", *, guards: str | Path | None = None):
        self.path = Path(folder) / name
        self.guards = Path(guards) if guards is not None else Path(folder)  # the folder the lock is for
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            if self._publish():
                return self
            owner = lock_owner(self.path)
            if owner is not None:
                raise DauditError(f"output directory {self.guards} is in use by a running daudit "
                                  f"({_describe(owner)}); wait for it or choose another --output-dir")
            self._remove_stale()
        raise DauditError(f"cannot take the lock {self.path}; remove it if no daudit run is active")

    def _publish(self) -> bool:
        """Write a complete lock under a temporary name, flock it, link it into place (never seen half made)."""
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o644)
        linked = False
        try:
            me = {**process_identity(), "flock": _try_flock(fd) is True}
            os.write(fd, f"{me['pid']}\n{json.dumps(me, sort_keys=True)}\n".encode())
            os.fsync(fd)
            try:
                os.link(tmp, self.path)
                linked = True
            except FileExistsError:
                return False
            except OSError:  # a file system without hard links: create the lock itself, exclusively
                return self._publish_exclusive(me)
        finally:
            if linked:
                self._fd = fd  # its flock is the lock's
            else:
                os.close(fd)
            os.unlink(tmp)
        return True

    def _publish_exclusive(self, me: dict) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        me = {**me, "flock": _try_flock(fd) is True}
        os.write(fd, f"{me['pid']}\n{json.dumps(me, sort_keys=True)}\n".encode())
        self._fd = fd
        return True

    def _remove_stale(self) -> None:
        """Remove the lock file of a gone owner, unless another run replaced it meanwhile."""
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return
        except OSError:
            if self.path.is_symlink():
                self.path.unlink()
            return
        try:
            if _try_flock(fd) is False:
                return  # taken meanwhile by a live run: the next round refuses
            same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            if same:
                self.path.unlink()
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)

    def release(self):
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _describe(owner: dict) -> str:
    pid = owner.get("pid")
    host = owner.get("host")
    where = f" on {host}" if host and host != socket.gethostname() else ""
    return f"PID {pid}{where}" if pid else "a process that holds its lock"
