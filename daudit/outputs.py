"""Writing a run's results: tables, figures, summary, report; staging folder, lock, swap-in.

Plots and the report take finished results and never recompute. Everything goes to a staging
folder beside the output folder, swapped in at the end with ``summary.json`` written last.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from daudit.artifacts import pid_alive
from daudit.errors import DauditError

if TYPE_CHECKING:
    from daudit.pipeline import AuditContext

__all__ = ["write_tables", "write_figures", "build_summary", "write_report", "check_output_dir",
           "staging_dir", "swap_in", "OutputLock", "setup_log", "staged_output", "package_versions",
           "split_facts", "GATE_THRESHOLD"]

log = logging.getLogger("daudit")

GATE_THRESHOLD = 0.05  # the seed's Gate-1 rule: PASS if error-only R2 < 0.05


def write_tables(staging: Path, ctx: AuditContext, imp_table):
    import csv
    import io

    from daudit.artifacts import atomic_write_text
    from daudit.results import METRIC_COLUMNS

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in ctx.metrics:
        w.writerow({k: ("" if r.get(k) is None else (repr(r[k]) if isinstance(r[k], float) else r[k]))
                    for k in METRIC_COLUMNS})
    atomic_write_text(staging / "metrics.csv", buf.getvalue())
    if imp_table is not None:
        cols = list(imp_table)
        buf = io.StringIO()
        buf.write(",".join(cols) + "\n")
        arr = np.column_stack([np.asarray(imp_table[c], dtype=np.float64) for c in cols])
        for row in arr:
            buf.write(f"{int(row[0])}," + ",".join(repr(float(v)) for v in row[1:]) + "\n")
        atomic_write_text(staging / "importance.csv", buf.getvalue())


def write_figures(staging: Path, ctx: AuditContext, imp_table, imp_summary) -> dict:
    import pandas as pd

    from daudit import figures

    img = staging / "img"
    img.mkdir(exist_ok=True)
    out = {}
    threshold = GATE_THRESHOLD
    for plot in ctx.spec.plots:
        name = plot.save if plot.save.startswith(ctx.spec.prefix) else f"{ctx.spec.prefix}_{plot.save}"
        path = img / name
        if plot.type == "r2_bar_chart":
            figures.plot_r2_models(pd.DataFrame(ctx.metrics), path, threshold=threshold)
        elif plot.type in ("feature_importance_spectrum", "importance_histogram") and imp_table is not None:
            primary = imp_summary["primary"]
            imp = np.asarray(imp_table[f"{primary}_abs_coef_x_std"])
            label = f"{primary} |coef| x std(error), noise level {imp_summary['reference_noise_level']:g}"
            if plot.type == "feature_importance_spectrum":
                top = np.argsort(-imp, kind="stable")[: imp_summary["top_k"]]
                figures.plot_importance_spectrum(ctx.splits["train"].wave, imp, imp_table["mean_error"], top,
                                                 path, label=label)
            else:
                figures.plot_importance_hist(imp, path, top_k=imp_summary["top_k"], label=label)
        else:
            continue
        out[plot.type] = f"img/{name}"
    if ctx.sanity is not None:
        from daudit.checks.figure import plot_sanity_checks

        name = f"{ctx.spec.prefix}_sanity_checks.png"
        plot_sanity_checks(ctx.sanity, img / name)
        out["sanity_checks"] = f"img/{name}"
    return out


def package_versions() -> dict:
    import importlib.metadata as md
    import platform

    out = {"python": platform.python_version()}
    for pkg in ("daudit", "numpy", "scipy", "dask", "distributed", "h5py", "zarr", "scikit-learn",
                "lightgbm", "matplotlib", "pandas"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def split_facts(split, counts) -> dict:
    c = [int(v) for v in counts]
    return {"paths": split.paths, "n_rows": split.n_rows, "rows_per_file": split.rows_per_file,
            "n_nan_filled": c[0], "n_nonfinite_after_fill": c[1], "n_nonpositive": c[2], **split.notes}


def build_summary(ctx, started, counts, imp_summary, figures_out) -> dict:
    from daudit import __version__
    from daudit.report import leakage_degree
    from daudit.results import best_rows, linear_summary

    spec = ctx.spec
    best = best_rows(ctx.metrics)
    threshold = GATE_THRESHOLD
    b = best["best"]
    gate = {"name": "Gate-1", "threshold": threshold, "best_test_r2": b["test_r2"], "best_model": b["model"],
            "best_noise_level": b["noise_level"], "verdict": "PASS" if b["test_r2"] < threshold else "FAIL",
            "borderline": False, "ci95": None, "leakage_degree": leakage_degree(b["test_r2"])}
    train = ctx.splits["train"]
    plan = ctx.lgbm_plan
    summary = {
        "daudit_version": __version__, "experiment_id": spec.experiment_id, "status": "finished",
        "started_utc": started, "date": started[:10],
        "spec": spec.to_dict(),
        "data": {"source": spec.data.source, "param": spec.data.param, "input": spec.input.X,
                 "n_pixels": train.n_pixels, "wave_min": float(train.wave.min()),
                 "wave_max": float(train.wave.max()),
                 "splits": {k: split_facts(ctx.splits[k], counts[k]) for k in ("train", "val", "test")}},
        "noise_levels": list(spec.noise_levels), "alphas": list(spec.alphas),
        "metrics": ctx.metrics, **best, "gate": gate,
        "importance": imp_summary,
        "scheduler": ctx.scheduler,
        "versions": package_versions(),
        "outputs": {"report": "report.md", "metrics": "metrics.csv", "importance": "importance.csv",
                    "log": "run.log", "figures": figures_out},
    }
    if ctx.eigen is not None:
        summary["linear"], summary["linear_scale"] = linear_summary(
            ctx.fits, ctx.eigen, ctx.linear_checks, ctx.ols_sensitivity_summary)
    if plan is not None:
        summary["lightgbm"] = {"n_train_rows_used": plan.n_rows_used, "n_train_rows": plan.n_rows,
                               "subsampled": plan.subsampled, "reason": plan.reason,
                               "bin_construct_sample_cnt": plan.bin_construct_sample_cnt,
                               "memory_budget_bytes": plan.budget_bytes, "params": ctx.lgbm_params,
                               "fit_seconds": ctx.timings.get("lightgbm fit"),
                               **(ctx.lgbm_backend or {}),  # backend, backend_note (why not lightgbm.dask)
                               "scale_invariant_note": "one fit serves every noise level > 0"}
    if ctx.sanity is not None:
        summary["sanity"] = ctx.sanity
        gate.update({k: v for k, v in (ctx.sanity.get("gate") or {}).items() if k in ("ci95", "borderline")})
    return summary


def setup_log(path: Path):
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


def staging_dir(out: Path) -> Path:
    import shutil

    out.parent.mkdir(parents=True, exist_ok=True)
    for old in out.parent.glob(f".{out.name}.staging-*"):
        pid = old.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)  # left by a killed run
    st = out.parent / f".{out.name}.staging-{os.getpid()}"
    if st.exists():
        shutil.rmtree(st)
    st.mkdir()
    return st


def swap_in(staging: Path, out: Path) -> Path | None:
    """Replace ``out`` by ``staging``; earlier results move to ``<out>.previous``."""
    import shutil

    prev = None
    if out.exists():
        prev = out.parent / f"{out.name}.previous"
        if prev.exists():
            shutil.rmtree(prev)
        os.replace(out, prev)
    os.replace(staging, out)
    return prev


def check_output_dir(out: Path):
    """Refuse a folder that exists, is not empty and does not hold daudit results."""
    if out.exists():
        if not out.is_dir():
            raise DauditError(f"output path {out} exists and is not a directory; choose another --output-dir")
        names = {p.name for p in out.iterdir()}
        if names and not names & {"summary.json", "run.log", "metrics.csv"}:
            raise DauditError(f"output directory {out} is not empty and holds no daudit results; "
                              "choose another --output-dir (nothing was changed)")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise DauditError(f"output directory {out} cannot be made: {parent} is a file; choose another --output-dir")
    if not os.access(parent, os.W_OK):
        raise DauditError(f"output directory {out} is not writable (no write permission on {parent})")
    import tempfile

    try:  # os.access says yes to root even on a read-only or virtual file system: try it
        os.rmdir(tempfile.mkdtemp(prefix=f".{out.name}.probe-", dir=parent))
    except OSError as err:
        raise DauditError(f"output directory {out} is not writable ({err.strerror or err} in {parent}); "
                          "choose another --output-dir") from err


def write_report(staging: Path, summary: dict):
    from daudit.artifacts import atomic_write_text
    from daudit.report import numbers_not_in_summary, render_report

    text = render_report(summary)
    bad = numbers_not_in_summary(text, summary)
    if bad:
        raise RuntimeError(f"report quotes numbers that are not in summary.json: {bad[:10]}")
    atomic_write_text(staging / "report.md", text)


class OutputLock:
    """The PID lock of an output folder, kept beside it (the folder itself is swapped)."""

    def __init__(self, out: Path):
        from daudit.artifacts import RunLock

        out.parent.mkdir(parents=True, exist_ok=True)
        self._lock = RunLock(out.parent)
        self._lock.path = out.parent / f".{out.name}.lock"

    def __enter__(self):
        return self._lock.acquire()

    def __exit__(self, *exc):
        self._lock.release()


@contextlib.contextmanager
def staged_output(out: Path, *, echo=print):
    """Yield a staging folder for a run's results; swap it in as ``out`` when the block succeeds.

    Checks ``out`` first, holds its PID lock, logs to ``<staging>/run.log``. On a `DauditError`
    or a file-system error (e.g. a full disk) the staging folder is removed and ``out`` is left
    untouched; earlier results move to ``<out>.previous`` only once the new ones are complete.
    """
    import shutil

    out = Path(out)
    check_output_dir(out)
    with OutputLock(out):
        staging = staging_dir(out)
        handler = setup_log(staging / "run.log")
        try:
            yield staging
        except DauditError:
            shutil.rmtree(staging, ignore_errors=True)  # bad input or full disk: leave nothing behind
            raise
        except OSError as err:  # e.g. a full disk while a figure is written
            shutil.rmtree(staging, ignore_errors=True)
            where = f" on {err.filename}" if err.filename else ""
            raise DauditError(f"file system error{where}: {err.strerror or err}; the previous results in {out} "
                              "are untouched (free disk space or fix permissions, then rerun)") from err
        finally:
            log.removeHandler(handler)
            handler.close()
        prev = swap_in(staging, out)
        if prev is not None:
            echo(f"previous results kept in {prev}")
