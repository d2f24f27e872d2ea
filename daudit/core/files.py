"""What a path names (a regular file, a directory, a FIFO, a device...), found without opening it.

Opening a FIFO blocks until something writes to it and reading a device such as ``/dev/zero``
never ends, so every path a user gives (data files, specs, run files) is checked with `file_kind`
before it is opened; only regular files are read.
"""

from __future__ import annotations

import os
import stat

from daudit.core.errors import InputChangedError

__all__ = ["changed_error", "check_unchanged", "file_kind", "file_state", "is_regular_file"]

_KINDS = ((stat.S_ISREG, "regular file"), (stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO (named pipe)"),
          (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))


def file_kind(path: str | os.PathLike) -> str:
    """``"missing"``, ``"regular file"``, ``"directory"``, ``"FIFO (named pipe)"``, ``"character device"``,
    ``"block device"``, ``"socket"`` or ``"path that cannot be followed"`` (e.g. a symlink loop);
    symlinks are followed. Each reads well after "a": ``f"{path} is a {file_kind(path)}"``."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "missing"
    except NotADirectoryError:
        return "missing"
    except OSError:
        return "path that cannot be followed (a symlink loop?)"
    for test, name in _KINDS:
        if test(mode):
            return name
    return "special file"


def is_regular_file(path: str | os.PathLike) -> bool:
    """True when ``path`` is (a symlink to) a regular file."""
    return file_kind(path) == "regular file"


def file_state(path: str | os.PathLike) -> tuple[int, int, int, int]:
    """``(inode, size, st_mtime_ns, st_ctime_ns)`` of ``path``: any write, replacement or truncation
    changes it (``os.utime`` can set the mtime back, never the ctime). Not the device number, which
    differs between the hosts of a cluster that see one shared file. Raises `OSError`."""
    st = os.stat(path)
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def check_unchanged(path: str | os.PathLike, state: tuple | None) -> None:
    """`InputChangedError` (one line) when ``path`` is no longer in `file_state` ``state``: written,
    replaced, truncated or deleted since a run opened it. ``state`` None: nothing to check."""
    if state is None:
        return
    try:
        now = file_state(path)
    except OSError:
        now = None
    if now != tuple(state):
        raise changed_error(path)


def changed_error(path: str | os.PathLike) -> InputChangedError:
    """The one line for an input file that changed or vanished while a run used it."""
    return InputChangedError(f"{path} changed or vanished while this run used it (its size, times or inode differ "
                             "from when the run opened it); rerun once nothing writes to it")
