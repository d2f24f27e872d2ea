"""Describe a pfsspec HDF5 file: keys, shapes, dtypes, params, NaN / mask counts, S/N, wavelengths.

Works on the demo data and on real pfsspec files (the mask is optional). Arrays are streamed in
row chunks aligned with the HDF5 chunking, so a 19 GB file is never loaded whole.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from daudit.core.errors import DauditError
from daudit.data.layout import ERROR_KEY, FLUX_KEY, MASK_KEY, PARAM_COLUMNS, WAVE_KEY

__all__ = ["inspect_file", "format_inspection"]

_SNR_PERCENTILES = (5, 50, 95)


def _open(path: Path):
    if not path.exists():
        raise DauditError(f"inspect: no such file: {path}; check the path")
    if path.is_dir():
        raise DauditError(f"inspect: {path} is a directory; pass the .h5 files inside it")
    try:
        if not h5py.is_hdf5(path):
            raise DauditError(f"inspect: {path} is not an HDF5 file; pass a pfsspec dataset.h5")
        return h5py.File(path, "r")
    except OSError as err:
        raise DauditError(f"inspect: cannot read {path} ({err}); check the file") from err


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
    except (ValueError, KeyError, TypeError, OSError, ImportError) as err:
        return None, f"{type(err).__name__}: {err}".splitlines()[0]
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
        snr[start:stop] = np.nanmedian(ratio, axis=1) if bad.any() else np.median(ratio, axis=1)
        if mask is not None:
            counts["mask_nonzero"] += int(np.count_nonzero(mask[start:stop]))
    return counts, snr


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
        ``attrs``, ``wave`` {n, min, max, step} (Angstrom), ``n_rows``, ``n_pix``,
        ``rows_scanned``, ``counts``, ``snr_percentiles`` {5, 50, 95} computed from the arrays,
        ``params_columns``, ``params_missing``, ``params_error``, ``params_snr_percentiles``.

    Raises
    ------
    DauditError
        Missing file, not HDF5, or no wave / flux / error arrays.
    """

    path = Path(path)
    with _open(path) as f:
        datasets, pandas_groups = _datasets(f)
        missing = [k for k in (WAVE_KEY, FLUX_KEY, ERROR_KEY) if k not in f]
        if missing:
            raise DauditError(f"inspect: {path} lacks {', '.join(missing)}; "
                              "it is not a pfsspec dataset (see docs/internals.md)")
        wave = f[WAVE_KEY][()]
        n_rows, n_pix = f[FLUX_KEY].shape
        if f[ERROR_KEY].shape != (n_rows, n_pix) or wave.shape != (n_pix,):
            raise DauditError(f"inspect: {path} has inconsistent shapes (wave {wave.shape}, "
                              f"flux {f[FLUX_KEY].shape}, error {f[ERROR_KEY].shape})")
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
        rows = n_rows if max_rows is None else min(n_rows, int(max_rows))
        counts, snr = _stream(f, rows, chunk_rows)
    df, params_error = _params(path)
    info = {
        "path": str(path),
        "size_bytes": path.stat().st_size,
        "datasets": datasets,
        "pandas_groups": pandas_groups,
        "attrs": attrs,
        "wave": {"n": int(wave.size), "min": float(wave.min()), "max": float(wave.max()),
                 "step": float(np.median(np.diff(wave))) if wave.size > 1 else float("nan")},
        "n_rows": int(n_rows),
        "n_pix": int(n_pix),
        "rows_scanned": rows,
        "has_mask": any(name == MASK_KEY for name, *_ in datasets),
        "counts": counts,
        "snr_percentiles": _percentiles(snr),
        "params_columns": None if df is None else list(df.columns),
        "params_rows": None if df is None else len(df),
        "params_missing": None if df is None else [c for c in PARAM_COLUMNS if c not in df],
        "params_error": params_error,
        "params_snr_percentiles": (
            _percentiles(df["snr"].to_numpy()) if df is not None and "snr" in df else None),
    }
    return info


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
