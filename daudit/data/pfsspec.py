"""Read pfsspec HDF5 datasets into row-chunked Dask arrays (nothing whole in memory).

`load_pfsspec` opens one split (a file, a list of shard files, or a glob), checks its layout,
reads the labels from the pandas table and chunk-maps the error (and mask) arrays: each Dask
chunk is a block of whole rows (all pixels) read by a small picklable reader that opens the file
itself, so worker processes can read in parallel.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field

import dask.array as da
import h5py
import numpy as np
import pandas as pd
from dask.base import tokenize

from daudit.core.errors import DauditError
from daudit.data.layout import ERROR_KEY, MASK_KEY, WAVE_KEY

__all__ = ["SpectraSplit", "load_pfsspec", "expand_paths", "error_shape", "fill_nan_nearest", "clean_error", "H5Rows"]


class H5Rows:
    """Array-like view of one 2-D HDF5 dataset that opens the file on every read.

    Only ``path``, ``key``, ``shape`` and ``dtype`` are stored, so it pickles to Dask workers;
    ``__getitem__`` takes the row/column slices Dask asks for.
    """

    ndim = 2

    def __init__(self, path: str, key: str, shape: tuple, dtype):
        self.path, self.key, self.shape, self.dtype = str(path), key, tuple(shape), np.dtype(dtype)

    def __getitem__(self, index):
        try:
            with h5py.File(self.path, "r") as f:
                return f[self.key][index]
        except OSError as err:  # e.g. the file was truncated or replaced during the run
            raise DauditError(f"cannot read {self.key} rows {index} of {self.path} ({err.__class__.__name__}: "
                              f"{str(err).splitlines()[0][:120]}); was the file changed or damaged "
                              "during the run?") from err

    def __repr__(self):
        return f"H5Rows({self.path!r}, {self.key!r}, shape={self.shape})"


def fill_nan_nearest(block: np.ndarray) -> np.ndarray:
    """Replace non-finite values by the nearest finite pixel of the same row (ties: left).

    block : array of shape (n_rows, n_pix). Rows with no finite pixel stay non-finite.
    Returns a new float32 array (the input is not modified).
    """
    out = np.array(block, dtype=np.float32, copy=True)
    bad = ~np.isfinite(out)
    rows = np.flatnonzero(bad.any(axis=1))
    if rows.size == 0:
        return out
    sub, sbad = out[rows], bad[rows]
    p = sub.shape[1]
    idx = np.arange(p)
    fwd = np.where(sbad, -1, idx)
    np.maximum.accumulate(fwd, axis=1, out=fwd)
    bwd = np.where(sbad, p, idx)[:, ::-1]
    bwd = np.minimum.accumulate(bwd, axis=1)[:, ::-1]
    dist_f = np.where(fwd >= 0, idx - fwd, p + 1)
    dist_b = np.where(bwd < p, bwd - idx, p + 1)
    src = np.where(dist_f <= dist_b, fwd, bwd)
    ok = sbad & (np.minimum(dist_f, dist_b) <= p)
    r, c = np.nonzero(ok)
    sub[r, c] = sub[r, src[r, c]]
    out[rows] = sub
    return out


def clean_error(block: np.ndarray) -> np.ndarray:
    """The audited error block: NaN filled from the nearest pixel; rows with no finite pixel -> 0.

    The pipeline counts such rows (``n_nonfinite_after_fill``) and reports them.
    """
    out = fill_nan_nearest(block)
    bad = ~np.isfinite(out)
    if bad.any():
        out[bad] = 0.0
    return out


def expand_paths(paths, *, where: str = "path") -> list[str]:
    """Expand globs (sorted) and check that every file exists."""
    out = []
    for p in paths:
        if any(ch in p for ch in "*?["):
            hits = sorted(glob.glob(os.path.expanduser(p)))
            if not hits:
                raise DauditError(f"{where}: no file matches the glob {p!r}")
            out.extend(hits)
        else:
            out.append(os.path.expanduser(p))
    for p in out:
        if not os.path.exists(p):
            raise DauditError(f"{where}: file not found: {p} (check the path in the spec)")
        if os.path.isdir(p):
            raise DauditError(f"{where}: {p} is a directory; give the dataset.h5 file inside it")
    return out


@dataclass
class SpectraSplit:
    """One split (train, val or test) of a pfsspec dataset, first ``n_rows`` rows.

    wave : ndarray (n_pix,), Angstrom
    error_raw : dask array (n_rows, n_pix), float32 as stored (may hold NaN)
    mask : dask array (n_rows, n_pix) or None, nonzero = bad pixel
    labels : pandas.DataFrame, n_rows rows (the params table)
    y : ndarray (n_rows,), float64, the audited label
    """

    name: str
    paths: list
    wave: np.ndarray
    error_raw: object
    mask: object
    labels: object
    y: np.ndarray
    param: str
    rows_per_file: list = field(default_factory=list)
    row_index: object = None  # rows kept after `daudit.data.validate` dropped some (None: all rows read)
    notes: dict = field(default_factory=dict)  # counts and warnings of `daudit.data.validate`

    @property
    def n_rows(self) -> int:
        return int(self.error_raw.shape[0])

    @property
    def n_pixels(self) -> int:
        return int(self.error_raw.shape[1])

    @property
    def error(self):
        """The audited error (lazy, per chunk): see `clean_error`."""
        return self.error_raw.map_blocks(clean_error, dtype=np.float32)


def _open_checked(path: str, where: str):
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DauditError(f"{where}: {path} is not a readable HDF5 file ({err.__class__.__name__}: "
                          f"{str(err).splitlines()[0][:120]})") from err
    return f


def error_shape(path: str, where: str = "path") -> tuple[int, int]:
    """(rows, pixels) of the error array of a pfsspec file, from its header; `DauditError` if absent."""
    with _open_checked(path, where) as f:
        if ERROR_KEY not in f or len(f[ERROR_KEY].shape) != 2:
            raise DauditError(f"{where}: {path} has no 2-D {ERROR_KEY} (is it a pfsspec dataset?)")
        return tuple(int(v) for v in f[ERROR_KEY].shape)


def _read_labels(path: str, where: str):
    try:
        return pd.read_hdf(path)
    except (ValueError, KeyError, OSError, TypeError) as err:
        raise DauditError(f"{where}: cannot read the params table of {path} with pandas.read_hdf "
                          f"({str(err).splitlines()[0][:160]})") from err


def load_pfsspec(paths, *, n_rows: int | None, param: str, chunk_rows: int = 2048,
                 name: str = "train", with_mask: bool = True, clamp: bool = True,
                 zarr_cache=None) -> SpectraSplit:
    """Open a split: the first ``n_rows`` rows over its files, in order.

    Parameters
    ----------
    paths : list of str
        Files or globs (shards are concatenated in the given, then sorted-glob, order).
    n_rows : int or None
        Rows to take (None: all). When the files hold fewer rows: ``clamp`` takes all of them
        (and the caller reports it); otherwise a `DauditError` is raised.
    param : str
        Label column of the params table (e.g. ``log_g``).
    zarr_cache : daudit.data.cache.ZarrCache, optional
        Read the error arrays from validated zarr copies (made on first use) instead of HDF5.
    """

    where = f"{name} split"
    files = expand_paths(paths, where=where)
    wave, parts, masks, labels, rows_per_file = None, [], [], [], []
    remaining = n_rows
    for path in files:
        if remaining is not None and remaining <= 0:
            break
        with _open_checked(path, where) as f:
            missing = [k for k in (WAVE_KEY, ERROR_KEY) if k not in f]
            if missing:
                keys = []
                f.visit(lambda k: keys.append(k) if hasattr(f[k], "shape") else None)
                raise DauditError(f"{where}: {path} lacks {', '.join(missing)}; datasets present: "
                                  f"{', '.join(keys[:12]) or 'none'} (is it a pfsspec dataset?)")
            w = np.asarray(f[WAVE_KEY][()], dtype=np.float64)
            err_ds = f[ERROR_KEY]
            if err_ds.ndim != 2 or err_ds.shape[1] != w.shape[0]:
                raise DauditError(f"{where}: {path}: error array shape {err_ds.shape} does not match "
                                  f"the wavelength grid of {w.shape[0]} pixels")
            if err_ds.dtype.kind != "f":
                raise DauditError(f"{where}: {path}: error array has dtype {err_ds.dtype}, expected "
                                  f"floating point (float32)")
            if wave is None:
                wave = w
            elif w.shape != wave.shape or not np.allclose(w, wave):
                raise DauditError(f"{where}: {path} has a different wavelength grid from {files[0]}")
            n_file = err_ds.shape[0]
            mask_ok = with_mask and MASK_KEY in f and f[MASK_KEY].shape == err_ds.shape
            mask_dtype = f[MASK_KEY].dtype if mask_ok else None
            err_dtype = err_ds.dtype
        take = n_file if remaining is None else min(n_file, remaining)
        if take == 0:  # an empty file adds no rows (pandas cannot even store its empty table)
            rows_per_file.append(0)
            continue
        tab = _read_labels(path, where)
        if param not in tab.columns:
            raise DauditError(f"{where}: {path}: param {param!r} not in the params table; columns: "
                              f"{', '.join(map(str, tab.columns))}")
        if len(tab) < take:
            raise DauditError(f"{where}: {path}: params table has {len(tab)} rows but {take} spectra "
                              f"are needed (truncated file?)")
        chunks = (min(chunk_rows, max(take, 1)), w.shape[0])
        if zarr_cache is not None:
            arr = da.from_zarr(str(zarr_cache.get(path, ERROR_KEY, chunk_rows=chunk_rows)))
        else:
            arr = da.from_array(H5Rows(path, ERROR_KEY, (n_file, w.shape[0]), err_dtype),
                                chunks=chunks, asarray=True, fancy=False,
                                meta=np.empty((0, 0), dtype=err_dtype), name=f"error-{_token(path)}")
        parts.append(arr[:take])
        if mask_ok:
            masks.append(da.from_array(H5Rows(path, MASK_KEY, (n_file, w.shape[0]), mask_dtype),
                                       chunks=chunks, asarray=True, fancy=False,
                                       meta=np.empty((0, 0), dtype=mask_dtype),
                                       name=f"mask-{_token(path)}")[:take])
        labels.append(tab.iloc[:take])
        rows_per_file.append(take)
        if remaining is not None:
            remaining -= take
    total = sum(rows_per_file)
    if total == 0:
        raise DauditError(f"{where}: no rows to read in {', '.join(files)} (empty split)")
    if n_rows is not None and total < n_rows and not clamp:
        raise DauditError(f"{where}: {n_rows} rows requested but the files hold {total}")

    error = da.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
    error = error.rechunk((chunk_rows, error.shape[1]))
    mask = None
    if len(masks) == len(parts):
        mask = (da.concatenate(masks, axis=0) if len(masks) > 1 else masks[0]).rechunk(error.chunks)
    lab = pd.concat(labels, ignore_index=True) if len(labels) > 1 else labels[0].reset_index(drop=True)
    try:
        y = lab[param].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DauditError(f"{where}: param {param!r} has dtype {lab[param].dtype}, not numbers "
                          f"({str(err).splitlines()[0][:80]}); choose a numeric column in data.param") from err
    return SpectraSplit(name=name, paths=files, wave=wave, error_raw=error, mask=mask, labels=lab,
                        y=y, param=param, rows_per_file=rows_per_file)


def _token(path: str) -> str:
    st = os.stat(path)

    return tokenize(os.path.abspath(path), st.st_size, st.st_mtime_ns)
