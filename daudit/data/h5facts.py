"""Facts about an HDF5 dataset read from its header alone: filters it needs, rows it really stores.

Both guard readers against files whose header promises what the data cannot give: an array
compressed with a filter this installation cannot decode (every read would fail, and the error
HDF5 gives looks like damage), and a header declaring far more rows than the file stores (a
small file declaring 1e9 rows: reading them all would take minutes and return fill values).
"""

from __future__ import annotations

import math

import h5py

__all__ = ["missing_filter", "stored_rows"]


def missing_filter(ds: h5py.Dataset) -> str | None:
    """``"filter 32001 (blosc)"`` when ``ds`` needs an HDF5 filter that is not available here, else None."""
    plist = ds.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        code, _flags, _values, name = plist.get_filter(i)
        if not h5py.h5z.filter_avail(code):
            label = name.decode("utf-8", "replace").strip() if isinstance(name, bytes) else str(name)
            return f"filter {code}" + (f" ({label})" if label else "")
    return None


def stored_rows(ds: h5py.Dataset) -> int:
    """How many leading rows of the 2-D (or 1-D) dataset ``ds`` the file can really hold.

    A chunked dataset stores only the chunks written: with fewer chunks than its shape needs, the
    rows they can cover (counted from the first); a contiguous one stores all rows or none. Reads
    only the header and the chunk index (no data).
    """
    n = int(ds.shape[0]) if ds.shape else 0
    if n == 0:
        return 0
    if ds.chunks is None:
        return n if ds.id.get_storage_size() > 0 else 0
    per_row_block = math.prod(math.ceil(s / c) for s, c in zip(ds.shape[1:], ds.chunks[1:]))
    blocks = math.ceil(n / ds.chunks[0])
    allocated = ds.id.get_num_chunks()
    if allocated >= blocks * per_row_block:
        return n
    return min(n, allocated // max(per_row_block, 1) * ds.chunks[0])
