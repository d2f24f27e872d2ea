"""The files of a finished audit: metrics.csv, importance.csv, the figures and report.md.

Plots and the report take finished results and never recompute; every file is written to a
temporary name and renamed (`daudit.core.artifacts`).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from daudit.core.artifacts import atomic_write_text
from daudit.core.spec import slug
from daudit.models.linear import is_ols_name
from daudit.models.metrics import METRIC_COLUMNS
from daudit.models.selection import GATE_THRESHOLD
from daudit.output import figures
from daudit.output.report import numbers_not_in_summary, render_report
from daudit.output.sanity_figure import plot_sanity_checks

__all__ = ["write_tables", "write_figures", "write_report", "figure_name", "chart_rows"]


def chart_rows(metrics: list[dict]) -> list[dict]:
    """The rows of the R² chart: the OLS truncation path shown by ``OLS`` (its floor) and, per
    noise level, the step with the highest test R² when that is another step (report §6.4 lists
    them all); every other model as it is."""
    keep = []
    for level in dict.fromkeys(float(r["noise_level"]) for r in metrics):
        rows = [r for r in metrics if float(r["noise_level"]) == level]
        steps = [r for r in rows if is_ols_name(r["model"]) and r["model"] != "OLS"]
        best = max(steps + [r for r in rows if r["model"] == "OLS"], default=None,
                   key=lambda r: r["test_r2"] if np.isfinite(r["test_r2"] if r["test_r2"] is not None else np.nan)
                   else -np.inf)
        keep += [r for r in rows if r not in steps or r is best]
    return keep


def write_tables(staging: Path, metrics: list[dict], imp_table: dict | None) -> None:
    """metrics.csv (one row per noise level and model) and importance.csv (one row per pixel)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in metrics:
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


def figure_name(prefix: str, save: str) -> str:
    """The file name of a figure: the spec's ``save`` name, prefixed by the experiment's prefix
    unless it already starts with the experiment id in any spelling (``LOGG-ERR-BASE-01_fig.png``)."""
    stem = slug(save.removesuffix(".png"))
    return save if stem == prefix or stem.startswith(prefix + "_") else f"{prefix}_{save}"


def write_figures(staging: Path, *, plots, prefix: str, metrics: list[dict], wave, imp_table,
                  imp_summary, sanity: dict | None) -> dict:
    """Draw the spec's plots into ``staging/img``; returns {plot type: relative path}.

    plots : the spec's `PlotSpec` records; wave : (p,) Angstrom; imp_table / imp_summary from
    `daudit.models.importance` (None when the reference level is degenerate); sanity : the
    checks' summary section or None.
    """
    img = staging / "img"
    img.mkdir(exist_ok=True)
    out = {}
    for plot in plots:
        name = figure_name(prefix, plot.save)
        path = img / name
        if plot.type == "r2_bar_chart":
            figures.plot_r2_models(pd.DataFrame(chart_rows(metrics)), path, threshold=GATE_THRESHOLD)
        elif plot.type in ("feature_importance_spectrum", "importance_histogram") and imp_table is not None:
            primary = imp_summary["primary"]
            imp = np.asarray(imp_table[f"{primary}_abs_coef_x_std"])
            label = f"{primary} |coef| x std(error), noise level {imp_summary['reference_noise_level']:g}"
            if plot.type == "feature_importance_spectrum":
                top = np.argsort(-imp, kind="stable")[: imp_summary["top_k"]]
                figures.plot_importance_spectrum(wave, imp, imp_table["mean_error"], top, path, label=label,
                                                 threshold=imp_table.get(f"{primary}_null_threshold"),
                                                 groups=_null_groups(sanity, primary))
            else:
                figures.plot_importance_hist(imp, path, top_k=imp_summary["top_k"], label=label,
                                             null_q95=_null_q95(sanity, primary))
        else:
            continue
        out[plot.type] = f"img/{name}"
    if sanity is not None:
        name = f"{prefix}_sanity_checks.png"
        plot_sanity_checks(sanity, img / name)
        out["sanity_checks"] = f"img/{name}"
    return out


def _null_groups(sanity, model):
    """The (first, last) pixel of each group above the per-pixel null, as the report counts them, or None."""
    lin = ((sanity or {}).get("importance_null") or {}).get("linear") or {}
    groups = (lin.get("pixels") or {}).get("groups") if lin.get("model") == model else None
    return None if groups is None else [(int(g["pixel_lo"]), int(g["pixel_hi"])) for g in groups]


def _null_q95(sanity, model):
    """The 95th percentile of ``model``'s top-k share under permuted labels, or None."""
    if sanity is None or "skipped" in sanity:
        return None
    lin = sanity["importance_null"]["linear"]
    return lin["top_k_share"]["null_q95"] if lin and lin["model"] == model else None


def write_report(staging: Path, summary: dict) -> None:
    """report.md; refuses (RuntimeError, a bug) a report quoting a number not in the summary."""
    text = render_report(summary)
    bad = numbers_not_in_summary(text, summary)
    if bad:
        raise RuntimeError(f"report quotes numbers that are not in summary.json: {bad[:10]}")
    atomic_write_text(staging / "report.md", text)
