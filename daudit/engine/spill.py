"""Park a large array on disk while a step needs its memory, and read it back afterwards.

The checks' eigendecompositions each need three p x p float64 matrices (LAPACK syevd overwrites
the input and asks 2 p^2 of workspace); the audit's eigenvectors, a fourth, are not used while
they run. `Parked` writes such an array to a private temporary folder (made and removed here),
and hands back a function that reads it again. If the file cannot be written (no space, no
temporary folder) the array stays in memory and a warning says so: the run goes on, with the
peak it would have had without parking.

A run killed outright (SIGKILL, the OOM killer) cannot remove its folder. The folder's name
carries the process ID, so `sweep_parked` (run before every parking) removes the folders of
processes that are gone, and only those that are provably ours: named ``daudit-parked-<pid>-*``,
owned by this user, holding nothing but the parked file.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from daudit.core.artifacts import pid_alive

__all__ = ["Parked", "sweep_parked"]

log = logging.getLogger("daudit")

_PREFIX = "daudit-parked-"
_FILE = "array.npy"
_NAME = re.compile(rf"{_PREFIX}(\d+)-[A-Za-z0-9_]+")


def sweep_parked(root: str | Path | None = None) -> list[Path]:
    """Remove the parking folders that killed runs left in ``root`` (default: the temporary
    folder); returns them. Left alone: a live owner, another user's folder, an unexpected name
    or any content besides the parked file (whole or partly written)."""
    root = Path(root if root is not None else tempfile.gettempdir())
    removed = []
    try:
        candidates = list(root.glob(f"{_PREFIX}*"))
    except OSError:
        return removed
    for folder in candidates:
        m = _NAME.fullmatch(folder.name)
        try:
            if (m is None or folder.is_symlink() or not folder.is_dir() or folder.stat().st_uid != os.getuid()
                    or pid_alive(int(m.group(1)))):
                continue
            if any(f.name != _FILE or f.is_symlink() or not f.is_file()
                   for f in folder.iterdir()):
                continue
            shutil.rmtree(folder)
        except OSError:
            continue
        removed.append(folder)
        log.info("removed %s, left by a run that was killed while it held an array there", folder)
    return removed


class Parked:
    """Write ``array`` to disk; ``with`` yields ``back()``, which returns it read from disk (a new
    array). The caller must drop its own references to ``array`` for the memory to be freed
    (this object keeps none once the block has started); the temporary folder is removed when
    the block ends, normally or not. ``what`` names the array in the warning.
    """

    def __init__(self, array: np.ndarray, *, what: str):
        self._array, self._what, self._folder = array, what, None

    def __enter__(self) -> Callable[[], np.ndarray]:
        array, self._array = self._array, None
        sweep_parked()
        try:
            self._folder = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))
            np.save(self._folder / _FILE, array, allow_pickle=False)
        except OSError as exc:
            log.warning("could not park %s on disk (%s): kept in memory", self._what, exc)
            self._remove()
            return lambda: array
        folder = self._folder
        return lambda: np.load(folder / _FILE, allow_pickle=False)

    def __exit__(self, *exc) -> None:
        self._remove()

    def _remove(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
