"""The summary of one audit run (summary.json), assembled from the run's context.

Pure: takes the finished `daudit.pipeline.run.AuditContext` and returns the JSON-ready dict
whose schema is `daudit.core.schema.AuditSummary`.
"""

from __future__ import annotations

import importlib.metadata as md
import platform

from daudit._version import __version__
from daudit.core.schema import SCHEMA_VERSION
from daudit.models.linear_checks import linear_summary
from daudit.models.selection import GATE_THRESHOLD, best_rows, gate_record, is_ridge, select_by_val

__all__ = ["build_summary", "package_versions", "split_facts", "gate_blockers", "gate_untested"]

_PACKAGES = ("daudit", "numpy", "scipy", "dask", "distributed", "h5py", "zarr", "scikit-learn", "lightgbm",
             "matplotlib", "pandas")


def package_versions() -> dict:
    """Versions of Python and of the packages whose numbers the run depends on."""
    out = {"python": platform.python_version()}
    for pkg in _PACKAGES:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def split_facts(split, counts) -> dict:
    """``data.splits.<name>``: paths, rows, NaN / non-finite / non-positive counts, notes."""
    c = [int(v) for v in counts]
    return {"paths": split.paths, "n_rows": split.n_rows, "rows_per_file": split.rows_per_file,
            "n_nan_filled": c[0], "n_nonfinite_after_fill": c[1], "n_nonpositive": c[2], **split.notes}


def gate_blockers(splits: dict, sanity: dict | None) -> list[dict]:
    """The input checks that make a PASS meaningless: ``{"check", "where", "text"}`` each (empty: none).

    ``splits``: ``summary["data"]["splits"]`` (each may hold a flagged ``label_shift``,
    `daudit.data.consistency`); ``sanity``: ``summary["sanity"]`` (its ``mask_only`` check reads
    the file's mask OR the non-finite / non-positive stored error, so it tests the NaN pattern
    that the nearest-pixel fill erases).
    """
    out = []
    for name, facts in splits.items():
        shift = (facts or {}).get("label_shift") or {}
        if shift.get("flagged"):
            out.append({"check": "label_shift", "where": name,
                        "text": f"{name} labels differ from train's ({shift['reason']})"})
    mo = (sanity or {}).get("mask_only") or {}
    r2 = mo.get("best_test_r2")
    if r2 is not None and r2 >= GATE_THRESHOLD:
        out.append({"check": "bad_pixel_pattern", "where": "mask_only",
                    "text": f"the bad-pixel pattern alone (mask, NaN or non-positive error values) predicts the "
                            f"label with test R2 {r2:.4f} >= {GATE_THRESHOLD:g}"})
    return out


def gate_untested(splits: dict, sanity: dict | None) -> list[dict]:
    """Inputs the verdict did not test: the bad-pixel pattern when the mask-only check did not run
    (``sanity.enabled`` or ``sanity.mask_only`` false) although the stored error holds NaN values."""
    n_nan = sum(int((f or {}).get("n_nan_filled") or 0) for f in splits.values())
    if n_nan == 0 or (sanity or {}).get("mask_only"):
        return []
    return [{"check": "bad_pixel_pattern", "where": "mask_only",
             "text": f"the NaN pattern ({n_nan} NaN error values, filled from the nearest pixel) was not tested: "
                     "the mask-only check did not run (sanity.enabled / sanity.mask_only)"}]


def _gate(best: dict, sanity: dict | None, backend: dict | None = None, *, rule: str = "point",
          blocked_by=(), untested=()) -> dict:
    evidence = None if sanity is None or "skipped" in sanity else sanity["gate"]
    return gate_record(best, evidence, rule=rule, blocked_by=blocked_by, untested=untested, backend=backend)


def _lightgbm(ctx) -> dict:
    plan = ctx.lgbm_plan
    return {"n_train_rows_used": plan.n_rows_used, "n_train_rows": plan.n_rows,
            "subsampled": plan.subsampled, "reason": plan.reason,
            "bin_construct_sample_cnt": plan.bin_construct_sample_cnt,
            "memory_budget_bytes": plan.budget_bytes, "params": ctx.lgbm_params,
            "fit_seconds": ctx.timings.get("lightgbm fit"),
            **(ctx.lgbm_backend or {}),  # backend, backend_note (why not lightgbm.dask)
            "scale_invariant_note": "one fit serves every noise level > 0"}


def build_summary(ctx, started: str, counts: dict, imp_summary, figures_out: dict) -> dict:
    """summary.json of a finished run, less ``timings`` and ``finished_utc`` (added last)."""
    spec = ctx.spec
    best = best_rows(ctx.metrics)
    train = ctx.splits["train"]
    splits = {k: split_facts(ctx.splits[k], counts[k]) for k in ("train", "val", "test")}
    gate = _gate(best["best"], ctx.sanity, ctx.lgbm_backend, rule=spec.gate.rule,
                 blocked_by=gate_blockers(splits, ctx.sanity), untested=gate_untested(splits, ctx.sanity))
    summary = {
        "schema_version": SCHEMA_VERSION, "kind": "audit",
        "daudit_version": __version__, "experiment_id": spec.experiment_id, "status": "finished",
        "started_utc": started, "date": started[:10],
        "spec": spec.to_dict(),
        "data": {"source": spec.data.source, "param": spec.data.param, "input": spec.input.X,
                 "n_pixels": train.n_pixels, "wave_min": float(train.wave.min()),
                 "wave_max": float(train.wave.max()),
                 "splits": splits},
        "noise_levels": list(spec.noise_levels), "alphas": list(spec.alphas),
        "metrics": ctx.metrics, **best, "gate": gate,
        "selected_by_val": {"best": select_by_val(ctx.metrics),
                            "ridge": select_by_val(ctx.metrics, lambda r: is_ridge(r["model"]))},
        "linear": {str(lv): {"degenerate": f.degenerate, "notes": list(f.notes)} for lv, f in ctx.fits.items()},
        "importance": imp_summary,
        "scheduler": ctx.scheduler,
        "versions": package_versions(),
        "outputs": {"report": "report.md", "metrics": "metrics.csv", "importance": "importance.csv",
                    "log": "run.log", "figures": figures_out},
    }
    if ctx.eigen is not None:
        summary["linear"], summary["linear_scale"] = linear_summary(
            ctx.fits, ctx.eigen, ctx.linear_checks, ctx.ols_path_summary)
    if ctx.lgbm_plan is not None:
        summary["lightgbm"] = _lightgbm(ctx)
    if ctx.sanity is not None:
        summary["sanity"] = ctx.sanity
    return summary
