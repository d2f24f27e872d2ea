"""Files of a deleak run: metrics.csv, the quality_features state, figures, report.md."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from daudit.core.artifacts import atomic_write_text
from daudit.deleak.features import save_state
from daudit.deleak.figures import draw_all
from daudit.deleak.report import render_deleak_report
from daudit.output.report import numbers_not_in_summary

__all__ = ["METRIC_COLUMNS", "write_outputs", "write_report", "state_definition"]

METRIC_COLUMNS = ["strategy", "n_features", "model", "target", "n_train_rows", "train_r2",
                  "val_r2", "val_ci95_lo", "val_ci95_hi", "val_mae", "val_rmse",
                  "test_r2", "test_ci95_lo", "test_ci95_hi", "test_mae", "test_rmse", "test_perm_p"]


def _csv(rows) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else (repr(r[k]) if isinstance(r[k], float) else r[k]))
                    for k in METRIC_COLUMNS})
    return buf.getvalue()


def state_definition(summary, strategies) -> dict:
    """The JSON half of the frozen representation: what each strategy computes, and how."""
    d = summary["deleak"]
    return {
        "experiment_id": summary["experiment_id"], "daudit_version": summary["daudit_version"],
        "date": summary["date"], "recommended": summary["gate"]["recommended"],
        "pca_k": d["pca_k"], "quantiles": d["quantiles"], "n_pixels": summary["data"]["n_pixels"],
        "wave_min": summary["data"]["wave_min"], "wave_max": summary["data"]["wave_max"],
        "strategies": [s.to_dict() for s in strategies],
        "cleaning": "non-finite values replaced by the nearest finite pixel of the row (ties: left); "
                    "rows with no finite pixel become 0 (daudit.data.clean.clean_error), for error and flux",
        "snr": "norm(flux) / norm(error) per row (L2 norms over pixels)",
        "definitions": {
            "S2": "s = e.t0 / t0.t0 with t0 = mean train error (npz t0); features (s, ||e - s t0||)",
            "S2b": "V_k^T (e - mean), V_k the k leading eigenvectors of the train error covariance "
                   "(npz pca_components rows, pca_mean)",
            "S3_<q>": "quantiles of the row at levels linspace(0, 1, q), numpy's linear rule",
            "S3b": "mean, std, min, max, median, sum, q25, q75, skew, kurtosis (population moments, "
                   "Fisher kurtosis)",
            "S4": "||e||_2", "S1a": "e / median(flux)", "S1b": "e / ||flux||_2", "S0": "e",
        },
        "check": "npz check_<id>: features of test rows check_rows as computed in the run",
    }


def write_outputs(staging: Path, summary: dict, res: dict, strategies, ctx) -> None:
    atomic_write_text(staging / "metrics.csv", _csv(summary["metrics"]))
    check = res.get("check") or {}
    m = min((len(v) for v in check.values()), default=0)
    save_state(staging, definition=state_definition(summary, strategies), templates=res["templates"],
               check={k: v[:m] for k, v in check.items()} if m else None, check_rows=np.arange(m))
    summary["quality_features"]["n_check_rows"] = int(m)
    img = staging / "img"
    img.mkdir(exist_ok=True)
    summary["outputs"]["figures"] = draw_all(summary, img, ctx.spec.prefix)


def write_report(staging: Path, summary: dict) -> None:
    text = render_deleak_report(summary)
    bad = numbers_not_in_summary(text, summary)
    if bad:
        raise RuntimeError(f"report quotes numbers that are not in summary.json: {bad[:10]}")
    atomic_write_text(staging / "report.md", text)
