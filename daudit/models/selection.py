"""Which model is "best", and the Gate-1 verdict: one definition of each, used everywhere.

- `best_by_test`: the highest **test** R² over every model at every noise level > 0. The gate
  uses it: for a leakage audit the most pessimistic held-out number is the conservative one.
- `best_by_val`: the highest **validation** R² within a family at one level: an honest model
  choice (test untouched), used for the importance ("primary") model and the checks' best Ridge.
- `gate_verdict`: the seed's rule, PASS when the gate statistic is below `GATE_THRESHOLD`.
- `check_gate_defined`: no verdict at all unless every model at every level > 0 has a finite
  test R² (the gate statistic is their maximum, undefined when one of them is).
"""

from __future__ import annotations

import math

from daudit.core.errors import DauditError

__all__ = ["GATE_THRESHOLD", "GATE_NAME", "gate_verdict", "best_by_test", "best_by_val", "best_rows",
           "is_linear", "is_ridge", "BEST_KEYS", "check_gate_defined"]

GATE_NAME = "Gate-1"
GATE_THRESHOLD = 0.05  # the seed's Gate-1 rule: PASS if error-only R² < 0.05

BEST_KEYS = ("model", "noise_level", "alpha", "train_r2", "val_r2", "test_r2", "test_mae", "test_rmse")


def is_ridge(model: str) -> bool:
    return model.startswith("Ridge")


def is_linear(model: str) -> bool:
    return model == "OLS" or is_ridge(model)


def gate_verdict(statistic: float, threshold: float = GATE_THRESHOLD) -> str:
    """``"PASS"`` when ``statistic < threshold``, else ``"FAIL"`` (a NaN statistic is not a PASS)."""
    return "PASS" if math.isfinite(float(statistic)) and float(statistic) < threshold else "FAIL"


def _finite(v) -> float:
    v = float("nan") if v is None else float(v)
    return v if math.isfinite(v) else -math.inf


def best_by_test(rows, keep=lambda r: True) -> dict | None:
    """The row with the highest test R² (ties: higher val R²) among ``keep`` rows.

    Degenerate rows (noise level 0: identically zero input) count only when nothing else is
    left. Returns the row's `BEST_KEYS`, or None when no row is kept.
    """
    cand = [r for r in rows if keep(r) and not r["degenerate"]] or [r for r in rows if keep(r)]
    if not cand:
        return None
    r = max(cand, key=lambda r: (_finite(r["test_r2"]), _finite(r["val_r2"])))
    return {k: r[k] for k in BEST_KEYS}


def best_by_val(rows, *, level: float, keep=is_linear) -> str | None:
    """Name of the model with the highest validation R² among ``keep`` models at ``level``."""
    cand = [r for r in rows if float(r["noise_level"]) == float(level) and keep(r["model"])]
    return max(cand, key=lambda r: _finite(r["val_r2"]))["model"] if cand else None


def best_rows(rows) -> dict:
    """Best overall, best Ridge, best linear and best LightGBM by test R² over noise levels > 0."""
    return {
        "best": best_by_test(rows),
        "best_ridge": best_by_test(rows, lambda r: is_ridge(r["model"])),
        "best_linear": best_by_test(rows, lambda r: is_linear(r["model"])),
        "best_lightgbm": best_by_test(rows, lambda r: r["model"] == "LightGBM"),
    }


def check_gate_defined(rows) -> None:
    """Refuse (`DauditError`) a verdict whose statistic is undefined.

    The gate statistic is the highest test R² over every model at every level > 0; when one of
    them is NaN or infinite (labels or inputs the arithmetic cannot carry) the maximum is not
    known, and a PASS read off the others could hide the very model that leaks.
    """
    live = [r for r in rows if not r["degenerate"]]
    bad = [r for r in live if r["test_r2"] is None or not math.isfinite(float(r["test_r2"]))]
    if not live or bad:
        which = ", ".join(f"{r['model']} at level {float(r['noise_level']):g}" for r in bad[:4]) or "no model"
        raise DauditError(f"no {GATE_NAME} verdict: the test R2 of {which} is not a finite number "
                          f"({len(bad)} of {len(live)} fits), so the best test R2 is undefined; check the labels "
                          "and error values for extreme magnitudes (rescale them) and rerun")
