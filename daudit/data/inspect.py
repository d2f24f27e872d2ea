"""Describe a pfsspec HDF5 file: keys, shapes, dtypes, params, NaN / mask counts, S/N, wavelengths.

Works on the demo data and on real pfsspec files (the mask is optional). Arrays are streamed in
row chunks aligned with the HDF5 chunking, so a 19 GB file is never loaded whole.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from daudit.core.errors import DauditError
from daudit.core.files import file_kind
from daudit.data.h5facts import missing_filter, stored_rows
from daudit.data.layout import ERROR_KEY, FLUX_KEY, MASK_KEY, PARAM_COLUMNS, WAVE_KEY

__all__ = ["inspect_file", "format_inspection"]

_SNR_PERCENTILES = (5, 50, 95)


def _open(path: Path):
    kind = file_kind(path)
    if kind == "missing":
        raise DauditError(f"inspect: no such file: {path}; check the path")
    if kind == "directory":
        raise DauditError(f"inspect: {path} is a directory; pass the .h5 files inside it")
    if kind != "regular file":
        raise DauditError(f"inspect: {path} is a {kind}, not a regular file; pass a pfsspec dataset.h5")
    try:
        if not h5py.is_hdf5(path):
            raise DauditError(f"inspect: {path} is not an HDF5 file; pass a pfsspec dataset.h5")
        return h5py.File(path, "r")
    except (OSError, ValueError, RuntimeError) as err:
        first = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        raise DauditError(f"inspect: cannot read {path} ({first}); check the file") from err


def _datasets(f):
    """(name, shape, dtype, chunks) of every dataset outside pandas' own groups."""

    out, pandas_groups = [], []

    def visit(name, obj):
        if any(name.startswith(g + "/") for g in pandas_groups):
            return
        if isinstance(obj, h5py.Group) and "pandas_type" in obj.attrs:
            pandas_groups.append(name)
        elif isinstance(obj, h5py.Dataset):
            out.append((name, obj.shape, str(obj.dtype), obj.chunks))

    f.visititems(visit)
    return out, pandas_groups


def _params(path: Path):
    try:
        df = pd.read_hdf(path)
    except Exception as err:  # noqa: BLE001 - reported on its line of the output, never a traceback
        return None, f"{type(err).__name__}: {err}".splitlines()[0]
    if not isinstance(df, pd.DataFrame):
        return None, f"the pandas object is a {type(df).__name__}, not a table"
    return df, None


def _stream(f, n_rows, chunk_rows):
    """Count NaNs, non-positive errors and masked pixels; per-row S/N = median(flux/error)."""

    flux, error = f[FLUX_KEY], f[ERROR_KEY]
    mask = f[MASK_KEY] if MASK_KEY in f else None
    step = chunk_rows
    if error.chunks:  # read whole HDF5 chunks
        step = max(error.chunks[0], chunk_rows // error.chunks[0] * error.chunks[0])
    counts = dict.fromkeys(("flux_nan", "error_nan", "error_nonpositive", "mask_nonzero",
                            "rows_with_nan_error"), 0)
    snr = np.empty(n_rows)
    for start in range(0, n_rows, step):
        stop = min(n_rows, start + step)
        fl = flux[start:stop]
        er = error[start:stop]
        counts["flux_nan"] += int(np.isnan(fl).sum())
        bad = np.isnan(er)
        counts["error_nan"] += int(bad.sum())
        counts["rows_with_nan_error"] += int(bad.any(axis=1).sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            counts["error_nonpositive"] += int((er <= 0).sum())
            ratio = np.where(er > 0, fl / np.where(er > 0, er, 1), np.nan)
        with warnings.catch_warnings():  # a row with no valid pixel has no S/N: NaN, not a warning
            warnings.simplefilter("ignore", RuntimeWarning)
            snr[start:stop] = np.nanmedian(ratio, axis=1) if bad.any() else np.median(ratio, axis=1)
        if mask is not None:
            counts["mask_nonzero"] += int(np.count_nonzero(mask[start:stop]))
    return counts, snr


def _array(f, key: str, path: Path):
    """The dataset at ``key``, refused (one line) when it is a group, a broken link or another file's."""
    try:
        link = f.get(key, getlink=True)
        obj = f.get(key)
    except (KeyError, ValueError, RuntimeError, OSError) as err:
        raise DauditError(f"inspect: {path}: {key} cannot be opened ({type(err).__name__}); repair the file") from err
    if isinstance(link, h5py.ExternalLink):
        raise DauditError(f"inspect: {path}: {key} is an external link to {link.filename}; inspect that file")
    if not isinstance(obj, h5py.Dataset):
        raise DauditError(f"inspect: {path}: {key} is a {type(obj).__name__.lower()}, not an array; "
                          "it is not a pfsspec dataset (see docs/internals.md)")
    needs = missing_filter(obj)
    if needs:
        raise DauditError(f"inspect: {path}: {key} is compressed with HDF5 {needs}, which this installation cannot "
                          "decode; install its plugin (e.g. pip install hdf5plugin) or rewrite the file without it")
    return obj


def _layout(f, path: Path):
    """(wave (n_pix,), n_rows, n_pix, rows stored) after checking the keys and shapes of a pfsspec file."""
    missing = [k for k in (WAVE_KEY, FLUX_KEY, ERROR_KEY) if k not in f]
    if missing:
        raise DauditError(f"inspect: {path} lacks {', '.join(missing)}; "
                          "it is not a pfsspec dataset (see docs/internals.md)")
    wave_ds, flux, error = (_array(f, k, path) for k in (WAVE_KEY, FLUX_KEY, ERROR_KEY))
    if flux.ndim != 2 or error.shape != flux.shape or wave_ds.shape != (flux.shape[-1],) \
            or wave_ds.dtype.kind not in "fiu" or error.dtype.kind not in "fiu" or flux.dtype.kind not in "fiu":
        raise DauditError(f"inspect: {path} has inconsistent shapes or types (wave {wave_ds.shape} {wave_ds.dtype}, "
                          f"flux {flux.shape} {flux.dtype}, error {error.shape} {error.dtype})")
    if MASK_KEY in f and _array(f, MASK_KEY, path).shape != error.shape:
        raise DauditError(f"inspect: {path}: the mask array has shape {f[MASK_KEY].shape} but the error array is "
                          f"{error.shape}")
    stored = min(stored_rows(flux), stored_rows(error))  # a header can declare rows the file does not hold
    return np.asarray(wave_ds[()], dtype=np.float64), int(flux.shape[0]), int(flux.shape[1]), stored


def inspect_file(path, *, max_rows=None, chunk_rows=1024) -> dict:
    """Summarise one pfsspec HDF5 file.

    Parameters
    ----------
    path : path-like
        The HDF5 file.
    max_rows : int or None
        Stream only the first ``max_rows`` spectra for the counts and S/N (None: all).
    chunk_rows : int
        Rows read at a time (rounded to whole HDF5 chunks).

    Returns
    -------
    dict
        ``path``, ``size_bytes``, ``datasets`` [(name, shape, dtype, chunks)], ``pandas_groups``,
        ``attrs``, ``wave`` {n, min, max, step} (Angstrom), ``n_rows`` (declared), ``n_pix``,
        ``rows_stored`` (rows the file holds data for: `daudit.data.h5facts.stored_rows`), ``rows_scanned``, ``counts``, ``snr_percentiles`` {5, 50, 95} computed from the arrays,
        ``params_columns``, ``params_missing``, ``params_error``, ``params_snr_percentiles``.

    Raises
    ------
    DauditError
        Missing file, not a regular HDF5 file, no wave / flux / error arrays, arrays of the
        wrong kind or shape, an array needing an HDF5 filter this installation lacks, unreadable
        arrays, a negative ``max_rows``.
    """
    path = Path(path)
    if max_rows is not None and int(max_rows) < 0:
        raise DauditError(f"inspect: --max-rows must be 0 or more, got {max_rows}")
    with _open(path) as f:
        datasets, pandas_groups = _datasets(f)
        wave, n_rows, n_pix, stored = _layout(f, path)
        attrs = {k: _attr(v) for k, v in f.attrs.items()}
        rows = stored if max_rows is None else min(stored, int(max_rows))
        try:
            counts, snr = _stream(f, rows, chunk_rows)
        except OSError as err:
            first = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
            raise DauditError(f"inspect: cannot read the arrays of {path} ({first}); the file is damaged "
                              "(e.g. a corrupt compressed chunk)") from err
    df, params_error = _params(path)
    return {
        "path": str(path), "size_bytes": path.stat().st_size, "datasets": datasets, "pandas_groups": pandas_groups,
        "attrs": attrs, "wave": _wave_facts(wave), "n_rows": n_rows, "n_pix": n_pix, "rows_scanned": rows,
        "rows_stored": stored,
        "has_mask": any(name == MASK_KEY for name, *_ in datasets), "counts": counts,
        "snr_percentiles": _percentiles(snr),
        "params_columns": None if df is None else list(df.columns),
        "params_rows": None if df is None else len(df),
        "params_missing": None if df is None else [c for c in PARAM_COLUMNS if c not in df],
        "params_error": params_error,
        "params_snr_percentiles": (
            _percentiles(df["snr"].to_numpy()) if df is not None and "snr" in df else None),
    }


def _attr(value):
    value = value.item() if hasattr(value, "item") and getattr(value, "size", 1) == 1 else value
    return value if isinstance(value, (str, int, float, bool)) else str(value)[:200]


def _wave_facts(wave: np.ndarray) -> dict:
    fin = wave[np.isfinite(wave)]
    return {"n": int(wave.size), "min": float(fin.min()) if fin.size else float("nan"),
            "max": float(fin.max()) if fin.size else float("nan"),
            "step": float(np.median(np.diff(wave))) if wave.size > 1 else float("nan")}


def _percentiles(values):
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    return {p: float(v) for p, v in zip(_SNR_PERCENTILES, np.percentile(values, _SNR_PERCENTILES))}


def _fmt_pct(p):
    return "n/a" if p is None else " / ".join(f"{p[k]:.2f}" for k in _SNR_PERCENTILES)


def format_inspection(info: dict) -> str:
    """Render :func:`inspect_file` output as plain text (one file)."""
    lines = [f"{info['path']}  ({info['size_bytes'] / 2**20:.1f} MiB)"]
    for name, shape, dtype, chunks in info["datasets"]:
        extra = f"  chunks={chunks}" if chunks else ""
        lines.append(f"  {name:<32} {str(shape):<16} {dtype:<8}{extra}")
    for g in info["pandas_groups"]:
        lines.append(f"  {g:<32} pandas table")
    w = info["wave"]
    lines.append(f"  wavelength: {w['min']:.2f} - {w['max']:.2f} A, {w['n']} pixels, "
                 f"step {w['step']:.4f} A")
    c, n_scan = info["counts"], info["rows_scanned"]
    cells = n_scan * info["n_pix"]
    scope = "all" if n_scan == info["n_rows"] else f"first {n_scan} of"
    lines.append(f"  spectra: {info['n_rows']} (scanned {scope} rows)")
    if info["rows_stored"] < info["n_rows"]:
        lines.append(f"  WARNING: the header declares {info['n_rows']} spectra but the file stores data for only "
                     f"the first {info['rows_stored']}; the rest would read as fill values (a truncated or "
                     "hand-made file?)")
    lines.append(f"  error NaN: {c['error_nan']} pixels ({c['error_nan'] / max(cells, 1):.2e}), "
                 f"in {c['rows_with_nan_error']} spectra; error <= 0: {c['error_nonpositive']}; "
                 f"flux NaN: {c['flux_nan']}")
    if info["has_mask"]:
        lines.append(f"  mask nonzero: {c['mask_nonzero']} pixels "
                     f"({c['mask_nonzero'] / max(cells, 1):.2%})")
    else:
        lines.append("  mask: absent")
    lines.append(f"  S/N median(flux/error) 5/50/95%: {_fmt_pct(info['snr_percentiles'])}")
    if info["params_columns"] is None:
        lines.append(f"  params: unreadable ({info['params_error']})")
    else:
        lines.append(f"  params: {info['params_rows']} rows; columns: "
                     f"{', '.join(info['params_columns'])}")
        if info["params_missing"]:
            lines.append(f"  params missing: {', '.join(info['params_missing'])}")
        if info["params_snr_percentiles"] is not None:
            lines.append(f"  params snr 5/50/95%: {_fmt_pct(info['params_snr_percentiles'])}")
    if info["attrs"]:
        attrs = ", ".join(f"{k}={v}" for k, v in sorted(info["attrs"].items())
                          if k != "physical_settings")
        lines.append(f"  attrs: {attrs}")
    return "\n".join(lines)
