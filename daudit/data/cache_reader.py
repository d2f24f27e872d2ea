"""Reading a sealed zarr copy of the cache with every row block checked against its source's digest.

`block_digest` is taken from the source while copying (`daudit.data.cache.ZarrCache`) and again
from each block a run reads through `ZarrRows`; a block that differs, is missing or cannot be
decoded stops the run with `InputChangedError` (one line), so a copy changed, damaged or removed
under a run, in any row, never becomes its data.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import zarr

from daudit.core.errors import InputChangedError
from daudit.core.files import check_unchanged

__all__ = ["ZarrRows", "block_digest"]


def block_digest(block: np.ndarray) -> str:
    """SHA-256 (32 hex digits) of a block's values as little-endian bytes, row-major."""
    arr = np.ascontiguousarray(block, dtype=np.asarray(block).dtype.newbyteorder("<"))
    return hashlib.sha256(arr.tobytes()).hexdigest()[:32]


class ZarrRows:
    """Array-like view of a sealed zarr copy that checks every row block it reads.

    Holds the store's path, shape, dtype, block height and the SHA-256 of each block recorded
    while copying (taken once, when the run opened the copy: a manifest changed later does not
    count), and the source file's state when the run opened it; pickles to Dask workers. A block
    that is missing, undecodable or not the bytes that were copied, or a source file changed
    since, raises `InputChangedError`.
    """

    ndim = 2

    def __init__(self, store: str, shape: tuple, dtype, step: int, digests: list, *, source: str | None = None,
                 source_state: tuple | None = None):
        self.store, self.shape, self.dtype = str(store), tuple(shape), np.dtype(dtype)
        self.step, self.digests = int(step), list(digests)
        self.source, self.source_state = source, None if source_state is None else tuple(source_state)

    @classmethod
    def open(cls, store: Path, step: int, digests: list, *, source: str | None = None,
             source_state: tuple | None = None) -> "ZarrRows":
        """The view of ``store`` with the block height and digests of its manifest (read by the caller);
        ``source`` in `daudit.core.files.file_state` ``source_state`` is the file it was copied from,
        checked on every read like the HDF5 reader checks it."""
        try:
            z = zarr.open_array(str(store), mode="r")
            return cls(store, z.shape, z.dtype, step, digests, source=source, source_state=source_state)
        except Exception as err:  # noqa: BLE001 - gone or damaged between its check and now
            raise _changed(store, "cannot be opened", err) from err

    def __getitem__(self, index):
        if self.source is not None:
            check_unchanged(self.source, self.source_state)  # the run's input, not only its copy, is as opened
        rows, cols = index if isinstance(index, tuple) else (index, slice(None))
        start, stop, _ = rows.indices(self.shape[0])
        if stop <= start:
            return np.empty((0, self.shape[1]), self.dtype)[:, cols]
        first, last = start // self.step, (stop - 1) // self.step
        try:
            z = zarr.open_array(self.store, mode="r")
            blocks = [np.asarray(z[c * self.step:min((c + 1) * self.step, self.shape[0])])
                      for c in range(first, last + 1)]
        except Exception as err:  # noqa: BLE001 - a deleted or damaged store: the run must stop
            raise _changed(self.store, f"rows {start}-{stop} cannot be read", err) from err
        for c, block in zip(range(first, last + 1), blocks):
            if block_digest(block) != self.digests[c]:
                raise _changed(self.store, f"rows {c * self.step}-{c * self.step + len(block)} are not the "
                                           "bytes copied from the source (changed, damaged or deleted)")
        out = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
        return out[start - first * self.step:stop - first * self.step, cols]

    def __repr__(self):
        return f"ZarrRows({self.store!r}, shape={self.shape})"


def _changed(store, what: str, err: BaseException | None = None) -> InputChangedError:
    why = f" ({type(err).__name__}: {str(err).splitlines()[0][:100] if str(err) else ''})" if err else ""
    return InputChangedError(f"zarr cache {store}: {what}{why}; the cache changed under this run (rewritten, "
                             "damaged or removed by another process): remove that folder and rerun")
