"""Checks of the opened data: one clear line per problem, before the heavy passes.

`validate_splits` runs on the opened splits before any pass over the spectra (the labels are in
memory): non-finite labels are refused, or dropped with ``drop_bad_labels``; constant labels are
refused; fewer rows than ``num_samples`` and splits that read the same rows of the same file are
warned about; val / test labels far from train's are refused or flagged (`daudit.data.consistency`).
`drop_empty_rows` is the first streamed pass: it flags the rows whose error has no finite pixel
(nothing to audit there) and drops them.

Dropping keeps the streamed design: `select_rows` takes the kept rows of every row chunk lazily
(a Dask take per chunk, then the usual row chunking), and the labels, ``y`` and the index of the
kept rows with it, so ``X`` and ``y`` stay aligned in every later pass. Counts go to
``split.notes`` (and from there to ``summary["data"]["splits"][name]``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import sys

import numpy as np
import pandas as pd

from daudit.core import runlog
from daudit.core.errors import DauditError
from daudit.core.progress import compute
from daudit.data.cache import source_key
from daudit.data.consistency import check_label_shift
from daudit.data.layout import ERROR_KEY

__all__ = ["validate_splits", "check_wave", "check_binning_columns", "BINNING_COLUMNS", "select_rows", "split_overlaps",
           "overlap_warnings", "empty_rows_graph", "drop_empty_rows",
           "emit_warnings", "value_range_graph", "check_value_range", "check_enough_rows"]

log = logging.getLogger("daudit")

LABEL_SPREAD = (1e-100, 1e100)  # std of the label: its square, summed over rows, stays a normal float64
LABEL_RELATIVE_SPREAD = 1e-12  # std / max |label|: below it float64 cannot resolve the label's variation
MIN_EVAL_ROWS = 30  # rows of val and of test: fewer make a held-out R2 (and a PASS) a matter of chance


def select_rows(split, keep: np.ndarray):
    """The split restricted to the rows where ``keep`` (bool, (n_rows,)) is true, lazily.

    ``row_index`` keeps the positions of those rows among the rows read from the files.
    """
    keep = np.asarray(keep, dtype=bool)
    if keep.shape != (split.n_rows,):
        raise ValueError(f"keep has shape {keep.shape}, expected ({split.n_rows},)")
    if keep.all():
        return split
    idx = np.flatnonzero(keep)
    chunk_rows = max(split.error_raw.chunks[0][0], 1)

    def take(arr):
        if arr is None:
            return None
        return arr[idx].rechunk((chunk_rows, arr.shape[1]))

    base = np.arange(split.n_rows) if split.row_index is None else np.asarray(split.row_index)
    return dataclasses.replace(
        split, error_raw=take(split.error_raw), mask=take(split.mask),
        labels=split.labels.iloc[idx].reset_index(drop=True), y=split.y[idx],
        row_index=base[idx], notes=dict(split.notes))


def _where_row(split, i: int) -> str:
    """'row R of FILE' for the i-th row read (rows are read from the start of each file)."""
    i = int(split.row_index[i]) if split.row_index is not None else int(i)
    for path, take in zip(split.paths, split.rows_per_file):
        if i < take:
            return f"row {i} of {path}"
        i -= take
    return f"row {i}"


def split_overlaps(splits: dict) -> list:
    """(split_a, split_b, what, n_rows) for every source two splits both read rows from.

    Every split reads its files from the first row, so two splits reading the same file share
    ``min(rows_a, rows_b)`` rows (``what``: ``"the first N rows of PATH"``). Splits made from
    in-memory arrays carry ``row_keys`` (`daudit.data.pfsspec.SpectraSplit`): rows with the same
    key are the same memory (``what``: ``"N rows of the same in-memory array"``).
    """
    def ident(path):
        try:
            st = os.stat(path)
            return (st.st_dev, st.st_ino)
        except OSError:
            return os.path.realpath(path)

    names = list(splits)
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            rows_b = {ident(p): (p, t) for p, t in zip(splits[b].paths, splits[b].rows_per_file)}
            for p, t in zip(splits[a].paths, splits[a].rows_per_file):
                hit = rows_b.get(ident(p))
                if hit is not None and min(t, hit[1]) > 0:
                    n = min(t, hit[1])
                    out.append((a, b, f"the first {n} rows of {p}", n))
            n = _shared_rows(splits[a], splits[b])
            if n:
                out.append((a, b, f"{n} rows of the same in-memory array", n))
    return out


def _row_keys(split):
    """(source, offsets of the rows kept) of an in-memory split, or None."""
    if split.row_keys is None:
        return None
    source, offsets = split.row_keys
    offsets = np.asarray(offsets)
    return source, (offsets if split.row_index is None else offsets[np.asarray(split.row_index)])


def _shared_rows(a, b) -> int:
    """Rows two in-memory splits both hold (the same memory); 0 for files."""
    ka, kb = _row_keys(a), _row_keys(b)
    if ka is None or kb is None or ka[0] != kb[0]:
        return 0
    return int(np.intersect1d(ka[1], kb[1]).size)


def validate_splits(spec, splits: dict, *, drop_bad_labels: bool = False) -> dict:
    """Check the labels and the row counts of opened splits; drop bad-label rows if asked.

    Parameters
    ----------
    spec : AuditSpec
    splits : dict of name -> SpectraSplit
        Replaced in place by the splits with bad-label rows dropped (when ``drop_bad_labels``).
    drop_bad_labels : bool
        Drop rows whose label is NaN or infinite instead of refusing them.

    Returns
    -------
    dict with ``warnings`` (list of str) and ``counts`` (name -> {n_rows_read,
    n_dropped_bad_labels}). Raises `DauditError` for non-finite labels (without
    ``drop_bad_labels``), constant labels and splits left empty.
    """
    d = spec.data
    wanted = {"train": d.num_samples, "val": d.num_test_samples, "test": d.num_test_samples}
    param = d.param
    warnings, counts = [], {}
    for name in list(splits):
        s = splits[name]
        check_wave(name, s)
        if spec.sanity.enabled:
            check_binning_columns(name, s)
        notes = {"n_rows_read": s.n_rows, "n_dropped_bad_labels": 0, "warnings": list(s.notes.get("warnings", []))}
        n_req = wanted.get(name)
        if n_req is not None and s.n_rows < n_req:
            key = "data.num_samples" if name == "train" else "data.num_test_samples"
            notes["warnings"].append(
                f"{name} split: {key} is {n_req} but the files hold {s.n_rows} rows; using all {s.n_rows} "
                f"(lower {key} to silence this)")
        bad = ~np.isfinite(s.y)
        n_bad = int(bad.sum())
        if n_bad:
            first = _where_row(s, int(np.flatnonzero(bad)[0]))
            what = f"{name} split: {n_bad} of {s.n_rows} rows have a NaN or infinite {param!r} label (first: {first})"
            if not drop_bad_labels:
                raise DauditError(f"{what}; fix the params table or rerun with --drop-bad-labels to leave "
                                  "those rows out")
            if n_bad == s.n_rows:
                raise DauditError(f"{what}: no row is left to audit; check data.param and the params table")
            s = select_rows(s, ~bad)
            notes["n_dropped_bad_labels"] = n_bad
            notes["warnings"].append(f"{what}: dropped (--drop-bad-labels)")
        _check_not_constant(s, name, param)
        _check_label_scale(s, name, param)
        s.notes.update(notes)
        splits[name] = s
        counts[name] = {k: v for k, v in notes.items() if k != "warnings"}
        warnings += notes["warnings"]
    check_enough_rows(splits)
    warnings += check_label_shift(splits, param)
    for b, msg in overlap_warnings(splits):
        splits[b].notes["warnings"].append(msg)
        warnings.append(msg)
    return {"warnings": warnings, "counts": counts}


def overlap_warnings(splits: dict) -> list:
    """(split, warning) for every pair of splits that share rows (`split_overlaps`): files and arrays alike."""
    return [(b, f"WARNING: {a} and {b} splits both read {what}: the audit would test on training rows and overstate "
                f"R2; give each split its own {'file' if splits[b].row_keys is None else 'rows'}")
            for a, b, what, _ in split_overlaps(splits)]


BINNING_COLUMNS = ("mag", "snr")  # params columns the sanity checks bin rows by (group shuffle, SNR bins)


def check_wave(name: str, split) -> None:
    """Refuse a wavelength grid that is not one finite number per pixel (files and in-memory arrays alike)."""
    w = np.asarray(split.wave)
    if w.ndim != 1 or w.shape[0] != split.n_pixels or w.dtype.kind not in "fiu":
        raise DauditError(f"{name} split: the wavelength grid has shape {w.shape} and dtype {w.dtype}; expected "
                          f"{split.n_pixels} wavelengths (Angstrom), one per pixel")
    bad = ~np.isfinite(w.astype(np.float64))
    if bad.any():
        raise DauditError(f"{name} split: the wavelength grid holds {int(bad.sum())} non-finite value(s) (first at "
                          f"pixel {int(np.flatnonzero(bad)[0])}); every pixel needs a finite wavelength")


def check_binning_columns(name: str, split) -> None:
    """Refuse a params column the sanity checks bin by (`BINNING_COLUMNS`) that does not hold numbers."""
    lab = split.labels
    for col in BINNING_COLUMNS:
        if lab is None or col not in getattr(lab, "columns", ()) or col == split.param:
            continue
        values = lab[col]
        if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
            first = next((v for v in values if not isinstance(v, (int, float, np.number))), values.iloc[0]
                         if len(values) else None)
            raise DauditError(f"{name} split: params column {col!r} has dtype {values.dtype} (e.g. {first!r}), not "
                              f"numbers; the sanity checks bin rows by {col} (group shuffle, SNR bins): convert it "
                              "to numbers, or remove it from the params table (those checks are then skipped)")


def check_enough_rows(splits: dict) -> None:
    """Refuse val or test splits too small for a verdict (fewer than `MIN_EVAL_ROWS` rows).

    A train split with no more rows than pixels is audited (a leak found there is real), but it
    cannot earn a PASS: `daudit.models.selection.check_pass_earned`.
    """
    for name in ("val", "test"):
        if name in splits and splits[name].n_rows < MIN_EVAL_ROWS:
            raise DauditError(f"{name} split: {splits[name].n_rows} rows; an R2 on fewer than {MIN_EVAL_ROWS} held-out "
                              "rows is a matter of chance, so no verdict is given: audit more rows "
                              "(data.num_test_samples)")


def _check_not_constant(split, name: str, param: str):
    y = split.y
    if y.size and float(np.ptp(y)) == 0.0:
        raise DauditError(f"{name} split: the {param!r} label is constant ({y[0]:g}) over all {y.size} rows, "
                          "so R2 is undefined; check data.param and that the split files are the right ones")


def _check_label_scale(split, name: str, param: str):
    """Refuse labels whose spread float64 sums of squares cannot carry (every R² would be NaN or 0)."""
    y = split.y
    if not y.size:
        return
    with np.errstate(all="ignore"):
        top = float(np.max(np.abs(y)))
        spread = float(np.std(y - np.mean(y)))
    ok = (np.isfinite(spread) and LABEL_SPREAD[0] <= spread <= LABEL_SPREAD[1] and top <= LABEL_SPREAD[1]
          and spread >= LABEL_RELATIVE_SPREAD * top)
    if not ok:
        raise DauditError(f"{name} split: the {param!r} label varies by {spread:.3g} (std) with values up to "
                          f"{top:.3g}: "
                          f"R2 needs a spread between {LABEL_SPREAD[0]:g} and {LABEL_SPREAD[1]:g} and at least "
                          f"{LABEL_RELATIVE_SPREAD:g} of the largest value (float64 sums of squares); rescale or "
                          "recenter the label")


def _empty_rows_block(block):
    return ~np.isfinite(block).any(axis=1)


def empty_rows_graph(split):
    """Lazy bool (n_rows,): rows of the error whose pixels are all NaN or infinite."""
    return split.error_raw.map_blocks(_empty_rows_block, drop_axis=1, dtype=bool)


def _range_block(block):
    a = np.abs(np.asarray(block, dtype=np.float64))
    a = a[np.isfinite(a)]
    pos = a[a > 0]
    return np.array([[a.max() if a.size else np.nan, pos.min() if pos.size else np.nan]])


def value_range_graph(split):
    """Lazy float64 (n_chunks, 2): per row chunk, the largest finite |error| and the smallest
    positive one (NaN where none), read from the stored values before any conversion."""
    x = split.error_raw
    return x.map_blocks(_range_block, dtype=np.float64, chunks=(tuple(1 for _ in x.chunks[0]), (2,)))


def check_value_range(name: str, split, ranges: np.ndarray, noise_levels) -> None:
    """Refuse error values that do not survive float32, the dtype the models see, at any noise level.

    ``ranges`` (n_chunks, 2) from `value_range_graph`. The input at level L is ``L * error`` in
    float32 (level 1 is the error itself): above 3.4e38 it becomes inf, and below 1.2e-38 a
    denormal or 0, silently changing what the models are fitted on.
    """
    with np.errstate(all="ignore"):
        top, low = np.nanmax(ranges[:, 0]), np.nanmin(ranges[:, 1])
    f32 = np.finfo(np.float32)
    files = ", ".join(split.paths)
    for level in sorted({1.0, *(float(lv) for lv in noise_levels if lv > 0)}):
        at = "" if level == 1.0 else f" times noise level {level:g}"
        if np.isfinite(top) and top * level > f32.max:
            raise DauditError(f"{name} split: an error value of {top:.3g} in {files}{at} exceeds float32 "
                              f"({f32.max:.3g}), the dtype daudit computes in, and would become inf; rescale the "
                              "error array" + (" or lower the noise level" if at else ""))
        if np.isfinite(low) and low * level < f32.tiny:
            raise DauditError(f"{name} split: an error value of {low:.3g} in {files}{at} is below float32's "
                              f"smallest normal number ({f32.tiny:.3g}) and would be rounded to a denormal or 0; "
                              "rescale the error array" + (" or raise the noise level" if at else ""))


def _flagged_rows(splits: dict, cache) -> tuple[dict, dict]:
    """Per split: the rows with no finite error value and the value ranges (cached when possible)."""
    names = list(splits)
    key = _flags_key(splits) if cache is not None else None
    hit = cache.load(key) if cache is not None else None
    if hit is not None:
        return ({n: hit[n].astype(bool) for n in names}, {n: hit[f"range_{n}"] for n in names})
    done = compute(*[empty_rows_graph(splits[n]) for n in names], *[value_range_graph(splits[n]) for n in names],
                   desc="row check (rows with no finite error, value range)")
    flags, ranges = dict(zip(names, done[:len(names)])), dict(zip(names, done[len(names):]))
    if cache is not None:
        cache.save(key, {**flags, **{f"range_{n}": r for n, r in ranges.items()}})
    return flags, ranges


def drop_empty_rows(splits: dict, *, cache=None, noise_levels=()) -> dict:
    """The streamed row check: drop rows whose error has no finite pixel, in every split, and
    refuse error values float32 cannot hold at level 1 or any of ``noise_levels``
    (`check_value_range`).

    ``cache`` : optional `daudit.data.cache.StatsCache`, keeps the per-row flags keyed by the source
    files and the rows read, so a rerun does not read the spectra for this check again.
    Replaces ``splits`` entries in place; returns ``{name: n_dropped_all_nan_rows}``.
    """
    flags, ranges = _flagged_rows(splits, cache)
    out = {}
    for name in list(splits):
        s, empty = splits[name], np.asarray(flags[name], dtype=bool)
        n = int(empty.sum())
        if n == s.n_rows:
            raise DauditError(f"{name} split: all {n} rows have an error with no finite pixel (all NaN); nothing "
                              f"to audit in {', '.join(s.paths)}")
        check_value_range(name, s, np.asarray(ranges[name], dtype=np.float64), noise_levels)
        if n:
            s = select_rows(s, ~empty)
            first = _where_row(splits[name], int(np.flatnonzero(empty)[0]))
            msg = f"{name} split: {n} rows have an error with no finite pixel (first: {first}); dropped"
            s.notes.setdefault("warnings", []).append(msg)
            emit_warnings([msg])
        s.notes["n_dropped_all_nan_rows"] = n
        splits[name] = s
        out[name] = n
    check_enough_rows(splits)
    return out


def _flags_key(splits: dict) -> dict:
    key = {"name": "empty-rows", "version": 2}  # 2: with the value ranges
    for name, s in splits.items():
        rows = np.arange(s.n_rows) if s.row_index is None else np.asarray(s.row_index, dtype=np.int64)
        key[name] = {"files": [source_key(p, ERROR_KEY) for p in s.paths], "rows_per_file": list(s.rows_per_file),
                     "rows_sha": hashlib.sha256(np.ascontiguousarray(rows, dtype=np.int64).tobytes()).hexdigest()}
    return key


def emit_warnings(warnings, *, stream=None):
    """Print each warning as ``daudit: warning: ...`` on stderr and log it.

    Inside a run whose log already goes to stderr (nohup, --detach) the log line is enough.
    """
    echoed = stream is None and runlog.current() is not None and runlog.logging_to_stderr()
    stream = sys.stderr if stream is None else stream
    for w in warnings:
        log.warning("%s", w)
        if not echoed:
            print(f"daudit: warning: {w}", file=stream)
