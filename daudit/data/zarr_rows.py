"""Array-like view of a zarr copy in the cache that refuses to read a copy removed during the run.

An opened zarr array reads a chunk whose file is gone as its fill value (zeros), so a cache
folder removed while a run reads it would silently turn spectra into zeros. `ZarrRows` opens the
copy on every read (it pickles to Dask workers as a path) and checks, after the read, that the
copy is still whole; otherwise the read is refused with one line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr

from daudit.core.errors import DauditError

__all__ = ["ZarrRows"]


class ZarrRows:
    """Rows of the 2-D zarr array at ``store`` (a copy of ``source``'s ``key``); ``shape``: rows kept."""

    ndim = 2

    def __init__(self, store: str | Path, source: str, key: str, shape: tuple, dtype):
        self.store, self.source, self.key = str(store), str(source), key
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self._chunked = (Path(self.store) / "c").is_dir()  # made whole just now; all-zero chunks are not stored

    def _removed(self, err: BaseException | None = None) -> DauditError:
        cause = f" ({type(err).__name__}: {str(err).strip()[:120]})" if err is not None else ""
        return DauditError(f"the cache copy {self.store} of {self.key} of {self.source} was removed during the "
                           f"run{cause}; keep the cache folder (DAUDIT_CACHE_DIR) while a run uses it, then rerun")

    def __getitem__(self, index):
        root = Path(self.store)
        try:
            block = zarr.open_array(self.store, mode="r")[index]
        except (OSError, zarr.errors.BaseZarrError) as err:
            raise self._removed(err) from err
        if not (root / "zarr.json").is_file() or (self._chunked and not (root / "c").is_dir()):
            raise self._removed()  # chunks read while the folder went away: zeros, not the data
        return block

    def __repr__(self):
        return f"ZarrRows({self.store!r}, shape={self.shape})"
