"""One interval per model: the audit's own models are quoted with the gate's per-model interval.

``summary["sanity"]`` holds two bootstraps of the test rows. The gate's (``bootstrap.test_r2_ci95``)
gives every model at every noise level its interval, on the resamples where the selection-aware
interval of the best model re-selects the best (`daudit.models.selection.interval_of_max`). The
checks' bootstrap gives each check's refit (``test_ci95`` of its record) an interval, on resamples
shared by the checks. The audit's own models at the reference level appear in both; the report
and Fig 3 quote the gate's per-model interval for them, so that one model has one interval.
"""

from __future__ import annotations

__all__ = ["model_interval", "original_records", "ORIGINAL_MODELS"]

ORIGINAL_MODELS = ("OLS", "best_ridge", "LightGBM")  # the audit's own models among the original records


def model_interval(sanity: dict, noise_level: float, model: str):
    """The gate bootstrap's 95 % interval [lo, hi] of one model at one noise level, or None."""
    rows = (sanity.get("bootstrap") or {}).get("test_r2_ci95") or {}
    return (rows.get(f"L={noise_level:g} {model}") or {}).get("ci95")


def original_records(sanity: dict) -> dict:
    """``sanity["original"]`` with each of the audit's own models carrying its per-model interval.

    Other records (``LightGBM_same_rows``: a refit on the checks' subsample, with one interval
    only) are kept as they are.
    """
    orig = sanity.get("original") or {}
    ref = sanity.get("reference_noise_level")
    out = dict(orig)
    for key in ORIGINAL_MODELS:
        rec = orig.get(key)
        if isinstance(rec, dict) and ref is not None:
            ci = model_interval(sanity, float(ref), rec.get("model", key))
            if ci:
                out[key] = {**rec, "test_ci95": ci}
    return out
