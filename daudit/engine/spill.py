"""Park a large array on disk while a step needs its memory, and read it back afterwards.

The checks' eigendecompositions each need three p x p float64 matrices (LAPACK syevd overwrites
the input and asks 2 p^2 of workspace); the audit's eigenvectors, a fourth, are not used while
they run. `Parked` writes such an array to a private temporary folder (made and removed here),
and hands back a function that reads it again. If the file cannot be written (no space, no
temporary folder) the array stays in memory and a warning says so: the run goes on, with the
peak it would have had without parking.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["Parked"]

log = logging.getLogger("daudit")


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
        try:
            self._folder = Path(tempfile.mkdtemp(prefix="daudit-parked-"))
            np.save(self._folder / "array.npy", array, allow_pickle=False)
        except OSError as exc:
            log.warning("could not park %s on disk (%s): kept in memory", self._what, exc)
            self._remove()
            return lambda: array
        folder = self._folder
        return lambda: np.load(folder / "array.npy", allow_pickle=False)

    def __exit__(self, *exc) -> None:
        self._remove()

    def _remove(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
