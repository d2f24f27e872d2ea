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

from daudit.core.errors import DauditError, InputChangedError
from daudit.core.files import check_unchanged, file_kind, file_state
from daudit.data.clean import clean_error
from daudit.data.consistency import check_same_grid
from daudit.data.h5facts import missing_filter
from daudit.data.layout import ERROR_KEY, MASK_KEY, WAVE_KEY

__all__ = ["SpectraSplit", "load_pfsspec", "expand_paths", "error_shape", "H5Rows"]


class H5Rows:
    """Array-like view of one 2-D HDF5 dataset that opens the file on every read.

    Only ``path``, ``key``, ``shape``, ``dtype`` and ``state`` are stored, so it pickles to Dask
    workers; ``__getitem__`` takes the row/column slices Dask asks for. ``state`` is the file's
    `daudit.core.files.file_state` when the run opened it: a read finding the file in another
    state (rewritten, replaced, truncated, deleted) raises `InputChangedError`.
    """

    ndim = 2

    def __init__(self, path: str, key: str, shape: tuple, dtype, state: tuple | None = None):
        self.path, self.key, self.shape, self.dtype = str(path), key, tuple(shape), np.dtype(dtype)
        self.state = None if state is None else tuple(state)

    def __getitem__(self, index):
        check_unchanged(self.path, self.state)
        try:
            with h5py.File(self.path, "r") as f:
                out = f[self.key][index]
        except OSError as err:  # e.g. the file was truncated or replaced during the run
            raise InputChangedError(f"cannot read {self.key} rows {index} of {self.path} ({_first_line(err)}); the "
                                    "file is damaged (e.g. a corrupt compressed chunk) or was changed during the run") from err
        check_unchanged(self.path, self.state)  # not changed while it was read
        return out

    def __repr__(self):
        return f"H5Rows({self.path!r}, {self.key!r}, shape={self.shape})"


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0][:160]}" if text else type(err).__name__


def expand_paths(paths, *, where: str = "path") -> list[str]:
    """Expand globs (sorted) and check that every file exists, is a regular file and is listed once.

    A FIFO or a device would block or never end when opened, and the same file listed twice (also
    through a glob or a symlink) would count its rows twice: all are refused with one line.
    """
    out = []
    for p in paths:
        if any(ch in p for ch in "*?["):
            hits = sorted(glob.glob(os.path.expanduser(p)))
            if not hits:
                raise DauditError(f"{where}: no file matches the glob {p!r}")
            out.extend(hits)
        else:
            out.append(os.path.expanduser(p))
    seen = {}
    for p in out:
        kind = file_kind(p)
        if kind == "missing":
            raise DauditError(f"{where}: file not found: {p} (check the path in the spec)")
        if kind == "directory":
            raise DauditError(f"{where}: {p} is a directory; give the dataset.h5 file inside it")
        if kind != "regular file":
            raise DauditError(f"{where}: {p} is a {kind}, not a regular file; give the dataset.h5 file itself")
        st = os.stat(p)
        if (st.st_dev, st.st_ino) in seen:
            raise DauditError(f"{where}: {p} is listed twice (also as {seen[(st.st_dev, st.st_ino)]}); its rows would "
                              "count twice: list each file once")
        seen[(st.st_dev, st.st_ino)] = p
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
    file_states: list = field(default_factory=list)  # `file_state` of each file read, when opened (as rows_per_file)
    row_index: object = None  # rows kept after `daudit.data.validate` dropped some (None: all rows read)
    notes: dict = field(default_factory=dict)  # counts and warnings of `daudit.data.validate`
    # in-memory splits: (source, (n_rows,) int64 offsets): rows with the same source and offset are
    # the same row (the same memory); None for files, which `daudit.data.validate.split_overlaps`
    # compares by file identity
    row_keys: object = None

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
    except (OSError, ValueError, RuntimeError) as err:
        raise DauditError(f"{where}: {path} is not a readable HDF5 file ({err.__class__.__name__}: "
                          f"{str(err).splitlines()[0][:120] if str(err) else ''})") from err
    return f


def error_shape(path: str, where: str = "path") -> tuple[int, int]:
    """(rows, pixels) of the error array of a pfsspec file, from its header; `DauditError` if absent."""
    with _open_checked(path, where) as f:
        ds = _array(f, ERROR_KEY, path, where)  # the same refusals as opening the data (group, link, absent)
        if ds.ndim != 2:
            raise DauditError(f"{where}: {path}: {ERROR_KEY} has shape {ds.shape}; expected a 2-D array "
                              "(spectra x pixels)")
        return tuple(int(v) for v in ds.shape)


def _read_labels(path: str, where: str):
    try:
        tab = pd.read_hdf(path)
    except Exception as err:  # noqa: BLE001 - pandas/PyTables raise many types for one cause: no readable table
        first = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        raise DauditError(f"{where}: cannot read the params table of {path} with pandas.read_hdf ({first})") from err
    if not isinstance(tab, pd.DataFrame):
        raise DauditError(f"{where}: the pandas object in {path} is a {type(tab).__name__}, not a params table")
    return tab


def _keys_present(f) -> str:
    keys = []
    try:
        f.visititems(lambda k, obj: keys.append(k) if isinstance(obj, h5py.Dataset) else None)
    except (KeyError, ValueError, RuntimeError, OSError):
        pass  # a damaged file: name what was found before the damage
    return ", ".join(keys[:12]) or "none"


def _array(f, key: str, path: str, where: str, *, required: bool = True):
    """The HDF5 dataset at ``key`` in this file, or None when absent and not ``required``.

    Refused with one line: a group or a link that leads nowhere where an array is expected, and
    arrays held in another file (an external link, a soft link that leads through one, a virtual
    dataset, or raw data in external files): the caches fingerprint this file, so data read from
    elsewhere could change unseen.
    """
    parts = key.split("/")
    for i in range(1, len(parts) + 1):
        sub = "/".join(parts[:i])
        try:
            link = f.get(sub, getlink=True)
        except (KeyError, ValueError, RuntimeError, OSError):
            link = None
        if link is None:
            if required:
                raise DauditError(f"{where}: {path} lacks {key}; datasets present: {_keys_present(f)} "
                                  "(is it a pfsspec dataset?)")
            return None
        if isinstance(link, h5py.ExternalLink):
            raise DauditError(f"{where}: {path}: {sub} is an external link to {link.filename}:{link.path}; give the "
                              "file that holds the arrays itself (daudit checks files it reads for changes)")
    try:
        obj = f[key]
    except (KeyError, ValueError, RuntimeError, OSError) as err:
        raise DauditError(f"{where}: {path}: {key} is a link that leads nowhere ({type(err).__name__}); "
                          "repair the file") from err
    if not isinstance(obj, h5py.Dataset):
        raise DauditError(f"{where}: {path}: {key} is a {type(obj).__name__.lower()}, not an array")
    if obj.is_virtual:
        raise DauditError(f"{where}: {path}: {key} is a virtual dataset mapped from other files; give the files "
                          "that hold the arrays")
    if obj.external:
        raise DauditError(f"{where}: {path}: {key} keeps its values in external raw files "
                          f"({', '.join(str(e[0]) for e in obj.external[:3])}); give a file that holds the arrays itself "
                          "(daudit checks files it reads for changes)")
    home = _file_of(obj)
    if home != _file_of(f):
        raise DauditError(f"{where}: {path}: {key} leads through a soft link into another file ({home}); give the "
                          "file that holds the arrays itself (daudit checks files it reads for changes)")
    needs = missing_filter(obj)
    if needs:
        raise DauditError(f"{where}: {path}: {key} is compressed with HDF5 {needs}, which this installation cannot "
                          "decode; install its plugin (e.g. pip install hdf5plugin) or rewrite the file without it")
    return obj


def _file_of(obj) -> str:
    """The absolute, resolved path of the HDF5 file an object lives in."""
    return os.path.realpath(obj.file.filename)


def _read_wave(f, path: str, where: str) -> np.ndarray:
    ds = _array(f, WAVE_KEY, path, where)
    if ds.ndim != 1 or ds.shape[0] < 1 or ds.dtype.kind not in "fiu":
        raise DauditError(f"{where}: {path}: {WAVE_KEY} has shape {ds.shape} and dtype {ds.dtype}; expected a "
                          "1-D array of wavelengths (Angstrom), one per pixel")
    w = np.asarray(ds[()], dtype=np.float64)
    if not np.isfinite(w).all():
        raise DauditError(f"{where}: {path}: {WAVE_KEY} holds {int((~np.isfinite(w)).sum())} non-finite "
                          "wavelengths; every pixel needs one")
    return w


@dataclass
class _FileLayout:
    """What one file holds: rows, pixels, the error and mask dtypes (checked, file closed)."""

    wave: np.ndarray
    n_rows: int
    err_dtype: np.dtype
    mask_dtype: np.dtype | None


def _read_layout(path: str, where: str, *, with_mask: bool) -> _FileLayout:
    with _open_checked(path, where) as f:
        w = _read_wave(f, path, where)
        err_ds = _array(f, ERROR_KEY, path, where)
        if err_ds.ndim != 2 or err_ds.shape[1] != w.shape[0]:
            raise DauditError(f"{where}: {path}: error array shape {err_ds.shape} does not match "
                              f"the wavelength grid of {w.shape[0]} pixels")
        if err_ds.dtype.kind != "f":
            raise DauditError(f"{where}: {path}: error array has dtype {err_ds.dtype}, expected "
                              f"floating point (float32)")
        mask_ds = _array(f, MASK_KEY, path, where, required=False) if with_mask else None
        if mask_ds is not None and (mask_ds.shape != err_ds.shape or mask_ds.dtype.kind not in "biuf"):
            raise DauditError(f"{where}: {path}: the mask array has shape {mask_ds.shape} and dtype "
                              f"{mask_ds.dtype} but the error array is {err_ds.shape}; a mask needs one number "
                              "per error value (fix or remove dataset/arrays/mask/value)")
        return _FileLayout(w, int(err_ds.shape[0]), err_ds.dtype, None if mask_ds is None else mask_ds.dtype)


def _explicit_rows(tab, n_rows: int):
    """Positions in ``tab`` of spectra 0..n_rows-1 named by an explicit integer index, or None.

    The default index (0, 1, ... len-1) names nothing, so it never aligns a table of another length.
    """
    idx = tab.index
    if idx.dtype.kind not in "iu" or not idx.is_unique or np.array_equal(idx.to_numpy(), np.arange(len(tab))):
        return None
    want = np.arange(n_rows)
    pos = idx.get_indexer(want)
    return None if (pos < 0).any() else pos


def _labels_for(path: str, where: str, param: str, n_file: int, take: int) -> tuple[object, list]:
    """The first ``take`` rows of the params table, aligned with the file's ``n_file`` spectra.

    A table with one row per spectrum is read in order (as the user's loader does). One of another
    length is aligned only by an explicit index naming each spectrum's row (with a warning), and
    refused otherwise: taking its first rows would pair spectra with other stars' labels.
    """
    tab = _read_labels(path, where)
    if param not in tab.columns:
        raise DauditError(f"{where}: {path}: param {param!r} not in the params table; columns: "
                          f"{', '.join(map(str, tab.columns))}")
    if len(tab) == n_file:
        return tab.iloc[:take], []
    pos = _explicit_rows(tab, n_file)
    if pos is None:
        why = "truncated file?" if len(tab) < n_file else "which row belongs to which spectrum?"
        raise DauditError(f"{where}: {path}: params table has {len(tab)} rows but {n_file} spectra are stored "
                          f"({why}); the labels cannot be matched to the spectra: write one table row per "
                          "spectrum, or index the table by spectrum row")
    note = (f"{where}: {path}: params table has {len(tab)} rows for {n_file} spectra; labels matched to spectra "
            "by the table's index")
    return tab.iloc[pos[:take]], [note]


def _reader(path: str, key: str, take: int, n_pix: int, dtype, chunk_rows: int, state: tuple, zarr_cache=None):
    """Row-chunked Dask array of the first ``take`` rows of ``key`` (HDF5, or its checked zarr copy),
    from the file as it was in ``state`` (`file_state` when the split was opened)."""
    if zarr_cache is not None:
        try:
            return zarr_cache.array(path, key, chunk_rows=chunk_rows, n_rows=take, expect_state=state)
        except OSError as err:  # the copy reads every row: a damaged chunk of the source shows here
            if err.filename:  # the cache's own file system (a full disk, a removed folder): said by the caller
                raise
            raise DauditError(f"cannot read {key} of {path} to copy it ({_first_line(err)}); the file is damaged "
                              "(e.g. a corrupt compressed chunk): restore or rewrite it") from err
    chunks = (min(chunk_rows, max(take, 1)), n_pix)
    name = f"{key.split('/')[-2]}-{_token(path)}-{take}"
    return da.from_array(H5Rows(path, key, (take, n_pix), dtype, state), chunks=chunks, asarray=True, fancy=False,
                         meta=np.empty((0, 0), dtype=dtype), name=name)


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
        Read the error arrays from validated zarr copies (made on first use, of the rows used
        only) instead of HDF5.
    """
    where = f"{name} split"
    files = expand_paths(paths, where=where)
    wave, parts, masks, labels, rows_per_file, notes, states = None, [], [], [], [], [], []
    remaining = n_rows
    for path in files:
        if remaining is not None and remaining <= 0:
            break
        state = file_state(path)  # before anything is read: layout, labels and arrays all of this state
        states.append(state)
        lay = _read_layout(path, where, with_mask=with_mask)
        if wave is None:
            wave = lay.wave
        else:
            check_same_grid(lay.wave, wave, where=where, path=path, ref_path=files[0])
        take = lay.n_rows if remaining is None else min(lay.n_rows, remaining)
        if take == 0:  # an empty file adds no rows (pandas cannot even store its empty table)
            rows_per_file.append(0)
            continue
        tab, file_notes = _labels_for(path, where, param, lay.n_rows, take)
        parts.append(_reader(path, ERROR_KEY, take, wave.shape[0], lay.err_dtype, chunk_rows, state, zarr_cache))
        if lay.mask_dtype is not None:
            masks.append(_reader(path, MASK_KEY, take, wave.shape[0], lay.mask_dtype, chunk_rows, state))
        if bool(masks) != (lay.mask_dtype is not None) or len(masks) not in (0, len(parts)):
            raise DauditError(f"{where}: {path} {'has' if lay.mask_dtype is not None else 'lacks'} a mask array but "
                              f"{files[0]} {'lacks' if lay.mask_dtype is not None else 'has'} one; give shards "
                              "of one layout")
        labels.append(tab)
        notes += file_notes
        rows_per_file.append(take)
        if remaining is not None:
            remaining -= take
    split = _assemble(name, files, wave, parts, masks, labels, rows_per_file, notes, param=param,
                      n_rows=n_rows, clamp=clamp, chunk_rows=chunk_rows)
    split.file_states = states
    return split


def _assemble(name, files, wave, parts, masks, labels, rows_per_file, notes, *, param, n_rows, clamp,
              chunk_rows) -> SpectraSplit:
    """The split from its per-file pieces: concatenated, rechunked, labels as float64."""
    where = f"{name} split"
    total = sum(rows_per_file)
    if total == 0:
        raise DauditError(f"{where}: no rows to read in {', '.join(files)} (empty split)")
    if n_rows is not None and total < n_rows and not clamp:
        raise DauditError(f"{where}: {n_rows} rows requested but the files hold {total}")
    error = da.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
    error = error.rechunk((chunk_rows, error.shape[1]))
    mask = None
    if masks:
        mask = (da.concatenate(masks, axis=0) if len(masks) > 1 else masks[0]).rechunk(error.chunks)
    lab = pd.concat(labels, ignore_index=True) if len(labels) > 1 else labels[0].reset_index(drop=True)
    try:
        y = lab[param].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DauditError(f"{where}: param {param!r} has dtype {lab[param].dtype}, not numbers "
                          f"({str(err).splitlines()[0][:80]}); choose a numeric column in data.param") from err
    if y.ndim != 1:
        raise DauditError(f"{where}: param {param!r} names {y.shape[1]} columns of the params table; give one")
    return SpectraSplit(name=name, paths=files, wave=wave, error_raw=error, mask=mask, labels=lab,
                        y=y, param=param, rows_per_file=rows_per_file, notes={"warnings": notes} if notes else {})


def _token(path: str) -> str:
    st = os.stat(path)
    return tokenize(os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
