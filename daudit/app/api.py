"""The Python API for notebooks: `audit`, `audit_arrays`, `load_result` and the typed `AuditResult`.

``import daudit`` stays cheap: these names are re-exported lazily by ``daudit/__init__.py``.

>>> import daudit
>>> res = daudit.audit("my_spec.yaml", output_dir="results/my-audit")   # doctest: +SKIP
>>> res.gate["verdict"], res.metrics.sort_values("test_r2").tail(3)       # doctest: +SKIP

`audit_arrays` audits in-memory numpy or Dask arrays with the same statistics and checks as a
run on files (the same chunked passes, so the same numbers when the rows and ``chunk_rows`` are
the same).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd

from daudit.app.api_view import ci_text, result_html, sig
from daudit.app.runspec import ensure_demo, with_demo_data
from daudit.core import schema
from daudit.core.errors import DauditError
from daudit.core.gate_rule import verdict_label
from daudit.core.spec import DEFAULT_SPEC_PATH, AuditSpec, DataSpec, InputSpec, load_spec, parse_spec
from daudit.data.pfsspec import SpectraSplit
from daudit.output.staging import resolve_output_dir
from daudit.pipeline.run import run_audit

__all__ = ["AuditResult", "audit", "audit_arrays", "load_result"]


@dataclass(frozen=True)
class AuditResult:
    """A finished run, read back through the result schema (`daudit.core.schema`).

    Attributes
    ----------
    output_dir : Path
        The run's folder.
    summary : dict
        summary.json (`daudit.core.schema.AuditSummary`, or `DeleakSummary` for a deleak run).
    metrics : pandas.DataFrame
        metrics.csv: one row per (noise level, model) with R², MAE, RMSE on train/val/test.
    importance : pandas.DataFrame or None
        importance.csv: one row per pixel (None when the run wrote none).
    gate : dict
        ``summary["gate"]``: ``verdict`` ("PASS" / "FAIL"), ``best_test_r2``, ``best_model``, ``ci95``...
    figures : dict of str -> Path
        Plot type -> PNG file.
    report : Path
        report.md.
    """

    output_dir: Path
    summary: dict
    metrics: pd.DataFrame
    importance: pd.DataFrame | None
    gate: dict
    figures: dict
    report: Path

    @property
    def verdict(self) -> str:
        """``"PASS"`` or ``"FAIL"``."""
        return self.gate.get("verdict", "?")

    @property
    def best_test_r2(self) -> float:
        return self.gate.get("best_test_r2")

    def __repr__(self) -> str:
        return (f"AuditResult({self.summary.get('experiment_id')!r}: {self.gate.get('name', 'Gate')} "
                f"{verdict_label(self.gate)}, best test R2 {sig(self.best_test_r2)}{ci_text(self.gate)}, "
                f"{len(self.metrics)} metric rows, folder {str(self.output_dir)!r})")

    def _repr_html_(self) -> str:
        """The notebook view: verdict, the gate's number with its interval, the metrics table."""
        return result_html(self)


def load_result(path) -> AuditResult:
    """Read a finished run from its folder (or its summary.json) through the result schema.

    Raises
    ------
    DauditError
        No summary.json there (the run is unfinished or failed), or one that is damaged or of
        another schema version (one line, as on the command line).
    """
    path = Path(path)
    out = path.parent if path.name == schema.SUMMARY_FILE else path
    if not (out / schema.SUMMARY_FILE).is_file():
        raise DauditError(f"{out}: no {schema.SUMMARY_FILE}; not a finished daudit run (see python -m daudit "
                          "status for a run that is going or failed)")
    summary = schema.load_summary(out / schema.SUMMARY_FILE)
    outputs = summary.get("outputs") or {}
    metrics_path = out / outputs.get("metrics", "metrics.csv")
    metrics = pd.read_csv(metrics_path) if metrics_path.is_file() else pd.DataFrame(summary.get("metrics") or [])
    imp_path = out / str(outputs.get("importance") or "importance.csv")
    importance = pd.read_csv(imp_path) if imp_path.is_file() else None
    figures = {k: out / v for k, v in (outputs.get("figures") or {}).items() if isinstance(v, str)}
    return AuditResult(output_dir=out.absolute(), summary=summary, metrics=metrics, importance=importance,
                       gate=dict(summary.get("gate") or {}), figures=figures,
                       report=out / outputs.get("report", "report.md"))


def _as_spec(spec_or_path) -> tuple[AuditSpec, bool]:
    """(spec, whether it is the built-in demo spec) from a path, a mapping, an `AuditSpec` or None."""
    if spec_or_path is None:
        return with_demo_data(load_spec(DEFAULT_SPEC_PATH)), True
    if isinstance(spec_or_path, AuditSpec):
        return spec_or_path, False
    if isinstance(spec_or_path, dict):
        return parse_spec(spec_or_path, base_dir=Path.cwd(), source="<spec dict>"), False
    if isinstance(spec_or_path, (str, Path)):
        return load_spec(spec_or_path), False
    raise DauditError(f"spec: expected a YAML path, a mapping or an AuditSpec, got {type(spec_or_path).__name__}")


def audit(spec_or_path=None, output_dir=None, *, quick: bool = False, drop_bad_labels: bool = False,
          echo=print) -> AuditResult:
    """Run a leakage audit, as ``python -m daudit run`` does, and return its result.

    Parameters
    ----------
    spec_or_path : str, Path, dict, AuditSpec or None
        A YAML spec file (relative data paths from its folder), the same content as a mapping
        (relative paths from the working folder), or a parsed spec. None: LOGG-ERR-BASE-01 on the
        built-in demo data (simulated on first use, about 4.4 GB).
    output_dir : path-like, optional
        Results folder; default the spec's ``output_dir``, else ``results/<experiment_id>``.
    quick : bool
        A first look, as ``run --quick``: the same checks with lighter nulls and intervals
        (`daudit.core.spec.SanitySpec.quick`).
    drop_bad_labels : bool
        Leave out rows whose label is NaN or infinite instead of refusing them.
    echo : callable
        Where the few progress lines go (default: print).

    Returns
    -------
    AuditResult

    Raises
    ------
    DauditError
        Bad spec or data, or an output folder in use (one line: what, where, the fix).
    """
    spec, builtin = _as_spec(spec_or_path)
    spec = _quick(spec) if quick else spec
    if builtin:
        ensure_demo(spec)
    out = resolve_output_dir(spec, None if output_dir is None else str(output_dir))
    run_audit(spec, output_dir=out, echo=echo, drop_bad_labels=drop_bad_labels)
    return load_result(out)


def _quick(spec: AuditSpec) -> AuditSpec:
    """The spec of a quick run, as ``run --quick`` makes it (`daudit.app.runspec.resolve_spec`)."""
    return dataclasses.replace(spec, sanity=spec.sanity.quick())


def _array(x, name: str, chunk_rows: int):
    """A row-chunked 2-D Dask array of floats from a numpy or Dask array."""
    if not isinstance(x, da.Array):
        x = np.asarray(x)
    elif any(np.isnan(n) for n in x.shape) or any(np.isnan(c) for dim in x.chunks for c in dim):
        raise DauditError(f"X_{name}: a Dask array with unknown chunk sizes (shape {x.shape}, e.g. after boolean "
                          f"indexing); call X_{name}.compute_chunk_sizes() first, or pass a numpy array")
    if x.ndim != 2:
        raise DauditError(f"X_{name}: expected a 2-D array (spectra x pixels), got shape {tuple(x.shape)}")
    if not np.issubdtype(x.dtype, np.floating):
        raise DauditError(f"X_{name}: expected floating-point errors, got dtype {x.dtype}")
    if isinstance(x, da.Array):
        return x.rechunk((chunk_rows, x.shape[1]))
    return da.from_array(x, chunks=(chunk_rows, x.shape[1]))


def _split(name: str, x, y, *, wave, params, param: str, chunk_rows: int) -> SpectraSplit:
    arr = _array(x, name, chunk_rows)
    raw = np.asarray(y)
    if raw.dtype.kind not in "fiu":  # words, dates, objects: R2 of labels needs numbers (bools are not labels)
        first = next((v for v in raw.reshape(-1) if not isinstance(v, (int, float, np.integer, np.floating))
                      or isinstance(v, bool)), raw.reshape(-1)[0] if raw.size else None)
        raise DauditError(f"y_{name}: labels must be numbers, got dtype {raw.dtype} (e.g. {first!r}); convert them "
                          "(a class label is not a regression target)")
    y = raw.astype(np.float64).reshape(-1)
    if y.shape[0] != arr.shape[0]:
        raise DauditError(f"y_{name}: {y.shape[0]} labels for {arr.shape[0]} rows of X_{name}")
    labels = pd.DataFrame(index=pd.RangeIndex(len(y))) if params is None else params.reset_index(drop=True).copy()
    if len(labels) != len(y):
        raise DauditError(f"params[{name!r}]: {len(labels)} rows for {len(y)} rows of X_{name}")
    labels[param] = y
    return SpectraSplit(name=name, paths=[f"<in-memory {name} array>"], wave=wave, error_raw=arr, mask=None,
                        labels=labels, y=y, param=param, rows_per_file=[int(arr.shape[0])],
                        row_keys=_row_keys(x, int(arr.shape[0])))


def _row_keys(x, n_rows: int):
    """Which memory holds each row of ``x`` (`SpectraSplit.row_keys`): a numpy array's row addresses
    (views of one array share them), a Dask array's name and row numbers; None otherwise."""
    if isinstance(x, da.Array):
        return ("dask", x.name), np.arange(n_rows, dtype=np.int64)
    arr = np.asarray(x)
    if arr is not x or arr.ndim != 2:
        return None  # a copy made here (a list, a DataFrame): no memory shared with another split
    start = arr.__array_interface__["data"][0]
    return ("memory",), start + np.arange(n_rows, dtype=np.int64) * arr.strides[0]


def audit_arrays(X_train, y_train, X_val, y_val, X_test, y_test, *, wave=None, params=None, spec=None,
                 experiment_id: str | None = None, output_dir=None, param: str = "log_g",
                 quick: bool = False, drop_bad_labels: bool = False, echo=print) -> AuditResult:
    """Audit in-memory error arrays with the same statistics and checks as a run on files.

    Parameters
    ----------
    X_train, X_val, X_test : numpy or Dask arrays, (n_split, n_pixels), float
        The per-pixel error of each spectrum (NaN allowed: filled from the nearest valid pixel,
        as for files). Dask arrays stay out of core.
    y_train, y_val, y_test : array-like, (n_split,)
        The label (``param``, e.g. log g).
    wave : array-like (n_pixels,), optional
        Wavelengths in Angstrom, for the importance figure and table; default the pixel index.
    params : dict of str -> pandas.DataFrame, optional
        Per split, other columns of the params table, row-aligned with X; ``mag`` and ``snr``
        enable the group shuffle and the SNR bins of the sanity checks.
    spec : str, Path, dict or AuditSpec, optional
        Where the models, noise levels, seed, sanity and compute settings come from (its data
        section is not used); default the built-in LOGG-ERR-BASE-01 settings.
    experiment_id : str, optional
        Default: the spec's.
    output_dir : path-like, optional
        Default: ``results/<experiment_id>``.
    param : str
        The label's name in the results.
    quick : bool
        A first look, as ``run --quick`` (see `audit`).

    Returns
    -------
    AuditResult
    """
    base = _as_spec(spec)[0] if spec is not None else load_spec(DEFAULT_SPEC_PATH)
    base = _quick(base) if quick else base
    exp_id = experiment_id or base.experiment_id
    if experiment_id is not None:
        parse_spec({"experiment_id": exp_id, "data": {"train_path": "x", "val_path": "x", "test_path": "x"},
                    "models": [{"type": "Ridge"}]}, source="experiment_id")  # the same rules as a spec file
    compute = dataclasses.replace(base.compute, zarr_cache=False, stats_cache=False)  # nothing on disk to key by
    run_spec = dataclasses.replace(base, experiment_id=exp_id, data=DataSpec(source="in-memory arrays", param=param),
                                   input=InputSpec(X="error", y=param), compute=compute,
                                   output_dir=None if output_dir is None else str(output_dir), source_path=None)
    n_pixels = int(np.shape(X_train)[1]) if len(np.shape(X_train)) == 2 else 0
    wave = np.arange(n_pixels, dtype=np.float64) if wave is None else np.asarray(wave, dtype=np.float64)
    if wave.shape != (n_pixels,):
        raise DauditError(f"wave: expected {n_pixels} wavelengths (one per pixel of X_train), got shape {wave.shape}")
    params = params or {}
    splits = {name: _split(name, x, y, wave=wave, params=params.get(name), param=param,
                           chunk_rows=run_spec.compute.chunk_rows)
              for name, x, y in (("train", X_train, y_train), ("val", X_val, y_val), ("test", X_test, y_test))}
    out = resolve_output_dir(run_spec, None)
    run_audit(run_spec, output_dir=out, echo=echo, drop_bad_labels=drop_bad_labels, splits=splits)
    return load_result(out)
