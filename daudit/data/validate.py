"""Checks of the opened data: one clear line per problem, before the heavy passes.

`validate_splits` runs on the opened splits before any pass over the spectra (the labels are in
memory): non-finite labels are refused, or dropped with ``drop_bad_labels``; constant labels are
refused; fewer rows than ``num_samples`` and splits that read the same rows of the same file are
warned about. `drop_empty_rows` is the first streamed pass: it flags the rows whose error has no
finite pixel (nothing to audit there) and drops them.

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

from daudit.core import runlog
from daudit.core.errors import DauditError
from daudit.core.progress import compute
from daudit.data.cache import source_key
from daudit.data.layout import ERROR_KEY

__all__ = ["validate_splits", "select_rows", "split_overlaps", "empty_rows_graph", "drop_empty_rows",
           "emit_warnings"]

log = logging.getLogger("daudit")


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
    """(split_a, split_b, path, n_rows) for every file two splits both read rows from.

    Every split reads its files from the first row, so two splits reading the same file share
    ``min(rows_a, rows_b)`` rows.
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
                    out.append((a, b, p, min(t, hit[1])))
    return out


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
        notes = {"n_rows_read": s.n_rows, "n_dropped_bad_labels": 0, "warnings": []}
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
        s.notes.update(notes)
        splits[name] = s
        counts[name] = {k: v for k, v in notes.items() if k != "warnings"}
        warnings += notes["warnings"]
    for a, b, path, n in split_overlaps(splits):
        msg = (f"WARNING: {a} and {b} splits both read the first {n} rows of {path}: the audit would test on "
               f"training rows and overstate R2; give each split its own file")
        splits[b].notes["warnings"].append(msg)
        warnings.append(msg)
    return {"warnings": warnings, "counts": counts}


def _check_not_constant(split, name: str, param: str):
    y = split.y
    if y.size and float(np.ptp(y)) == 0.0:
        raise DauditError(f"{name} split: the {param!r} label is constant ({y[0]:g}) over all {y.size} rows, "
                          "so R2 is undefined; check data.param and that the split files are the right ones")


def _empty_rows_block(block):
    return ~np.isfinite(block).any(axis=1)


def empty_rows_graph(split):
    """Lazy bool (n_rows,): rows of the error whose pixels are all NaN or infinite."""
    return split.error_raw.map_blocks(_empty_rows_block, drop_axis=1, dtype=bool)


def drop_empty_rows(splits: dict, *, cache=None) -> dict:
    """The streamed row check: drop rows whose error has no finite pixel, in every split.

    ``cache`` : optional `daudit.data.cache.StatsCache`, keeps the per-row flags keyed by the source
    files and the rows read, so a rerun does not read the spectra for this check again.
    Replaces ``splits`` entries in place; returns ``{name: n_dropped_all_nan_rows}``.
    """

    names = list(splits)
    flags, key = {}, None
    if cache is not None:
        key = _flags_key(splits)
        hit = cache.load(key)
        if hit is not None:
            flags = {n: hit[n].astype(bool) for n in names}
    if not flags:
        flags = dict(zip(names, compute(*[empty_rows_graph(splits[n]) for n in names],
                                        desc="row check (rows with no finite error)")))
        if cache is not None:
            cache.save(key, flags)
    out = {}
    for name in names:
        s, empty = splits[name], np.asarray(flags[name], dtype=bool)
        n = int(empty.sum())
        if n == s.n_rows:
            raise DauditError(f"{name} split: all {n} rows have an error with no finite pixel (all NaN); nothing "
                              f"to audit in {', '.join(s.paths)}")
        if n:
            s = select_rows(s, ~empty)
            msg = (f"{name} split: {n} rows have an error with no finite pixel (first: {_where_row(splits[name], int(np.flatnonzero(empty)[0]))}); "
                   "dropped")
            s.notes.setdefault("warnings", []).append(msg)
            emit_warnings([msg])
        s.notes["n_dropped_all_nan_rows"] = n
        splits[name] = s
        out[name] = n
    return out


def _flags_key(splits: dict) -> dict:
    key = {"name": "empty-rows"}
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
