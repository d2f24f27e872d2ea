"""The three splits of an audit, opened and checked; facts about their error values.

`open_data` opens train/val/test through `daudit.data.pfsspec.load_pfsspec`, checks them with
`daudit.data.validate` before any heavy work, and only then switches to the zarr copies.
"""

from __future__ import annotations

import hashlib

import numpy as np

from daudit.core.errors import DauditError
from daudit.core.spec import AuditSpec
from daudit.data.cache import StatsCache, ZarrCache, source_key
from daudit.data.clean import fill_nan_nearest
from daudit.data.consistency import check_same_grid
from daudit.data.layout import ERROR_KEY
from daudit.data.pfsspec import SpectraSplit, error_shape, expand_paths, load_pfsspec
from daudit.data.validate import emit_warnings, validate_splits

__all__ = ["open_data", "check_data", "check_splits", "peek_sizes", "quality_counts_graph", "stats_cache_key",
           "stats_cache", "SPLITS"]

SPLITS = ("train", "val", "test")


def open_data(spec: AuditSpec, *, drop_bad_labels: bool = False) -> dict[str, SpectraSplit]:
    """Open and check the three splits before any copy or pass over the data.

    ``drop_bad_labels``: leave out rows with a NaN or infinite label instead of refusing them.
    """
    splits = _open_splits(spec, None)
    report = validate_splits(spec, splits, drop_bad_labels=drop_bad_labels)
    if spec.compute.zarr_cache:  # the copy is heavy: only once the cheap checks passed
        splits = _open_splits(spec, ZarrCache())
        validate_splits(spec, splits, drop_bad_labels=drop_bad_labels)
    emit_warnings(report["warnings"])
    return splits


def check_data(spec: AuditSpec, *, drop_bad_labels: bool = False) -> tuple[dict[str, SpectraSplit], dict]:
    """The cheap checks of `open_data` (layout, labels, grids, row counts, overlaps) on the HDF5
    files themselves: no zarr copy, nothing written. Returns the splits and
    `daudit.data.validate.validate_splits`'s report (its ``warnings`` are not printed here)."""
    splits = _open_splits(spec, None)
    return splits, validate_splits(spec, splits, drop_bad_labels=drop_bad_labels)


def check_splits(spec: AuditSpec, splits: dict[str, SpectraSplit], *,
                 drop_bad_labels: bool = False) -> dict[str, SpectraSplit]:
    """The checks of `open_data` on splits made elsewhere (e.g. from in-memory arrays)."""
    splits = dict(splits)
    _check_grids(splits)
    report = validate_splits(spec, splits, drop_bad_labels=drop_bad_labels)
    emit_warnings(report["warnings"])
    return splits


def peek_sizes(spec: AuditSpec) -> tuple[dict[str, int], int]:
    """Rows each split will read and the pixel count, from the files' headers only (no data read).

    Returns ``({"train": n, "val": n, "test": n}, n_pixels)``; a missing or unreadable file raises
    the same one-line `DauditError` as opening the data would.
    """
    d = spec.data
    rows, n_pixels = {}, None
    for name, paths, n in (("train", d.train_path, d.num_samples), ("val", d.val_path, d.num_test_samples),
                           ("test", d.test_path, d.num_test_samples)):
        total = 0
        for path in expand_paths(paths, where=f"{name} split"):
            shape = error_shape(path, where=f"{name} split")
            n_pixels = shape[1] if n_pixels is None else n_pixels
            total += shape[0]
        rows[name] = total if n is None else min(total, n)
    return rows, int(n_pixels or 0)


def _open_splits(spec: AuditSpec, zc) -> dict[str, SpectraSplit]:
    d = spec.data
    splits = {}
    for name, paths, n in (("train", d.train_path, d.num_samples), ("val", d.val_path, d.num_test_samples),
                           ("test", d.test_path, d.num_test_samples)):
        splits[name] = load_pfsspec(paths, n_rows=n, param=d.param, chunk_rows=spec.compute.chunk_rows,
                                    name=name, zarr_cache=zc)
    _check_grids(splits)
    return splits


def _check_grids(splits: dict) -> None:
    """Refuse val / test splits whose pixel count or wavelength grid is not train's (one line)."""
    train = splits["train"]
    p = train.n_pixels
    for name in ("val", "test"):
        if splits[name].n_pixels != p:
            raise DauditError(f"{name} split has {splits[name].n_pixels} pixels but train has {p}")
        check_same_grid(splits[name].wave, train.wave, where=f"{name} split",
                        path=(splits[name].paths or [name])[0], ref_path=(train.paths or ["train"])[0])


def _count_block(block: np.ndarray) -> np.ndarray:
    raw_bad = ~np.isfinite(block)
    filled = fill_nan_nearest(block)
    fin = np.isfinite(filled)
    return np.array([[raw_bad.sum(), (~fin).sum(), (fin & (filled <= 0)).sum()]], dtype=np.int64)


def quality_counts_graph(split: SpectraSplit):
    """Lazy int64 (3,): NaN/inf values filled, values still non-finite after the fill, values <= 0."""
    x = split.error_raw
    return x.map_blocks(_count_block, dtype=np.int64, chunks=(tuple(1 for _ in x.chunks[0]), (3,))).sum(axis=0)


def stats_cache_key(train: SpectraSplit, name: str, *, chunk_rows: int, lanes: int = 1) -> dict:
    """The key of statistics of the train split: source files, rows read, labels, chunking, and
    the fold's lane count (the order of the sums; left out at one lane, the keys of before)."""
    key = {"name": name, "files": [source_key(p, ERROR_KEY) for p in train.paths],
           "rows_per_file": train.rows_per_file, "param": train.param,
           "y_sha": hashlib.sha256(np.ascontiguousarray(train.y).tobytes()).hexdigest(),
           "chunk_rows": chunk_rows, "transform": "clean_error"}
    if lanes > 1:
        key["fold_lanes"] = int(lanes)
    return key


def stats_cache(spec: AuditSpec) -> StatsCache | None:
    """The statistics cache, or None when ``compute.stats_cache`` is off."""
    return StatsCache() if spec.compute.stats_cache else None
