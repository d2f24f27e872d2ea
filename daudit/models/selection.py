"""Which model is "best", and the Gate-1 verdict: one definition of each, used everywhere.

- `best_by_test`: the highest **test** R² over every model at every noise level > 0. The gate
  uses it: for a leakage audit the most pessimistic held-out number is the conservative one.
  Because it is a maximum over many models picked on the test set, its uncertainty is that of
  the maximum: `interval_of_max` re-selects the best model in every bootstrap resample, and
  `max_null` takes the maximum over the models of every permutation's fits (family-wise null).
- `best_by_val` / `select_by_val` / `pick_by_val`: the highest **validation** R²: an honest
  model choice (test untouched), used for the importance ("primary") model, the checks' Ridge
  of each family, and the "val-selected" model shown beside the gate.
- `gate_verdict`: the seed's rule, PASS when the gate statistic is below `GATE_THRESHOLD`;
  `leakage_degree`: the words for how strongly that statistic says the error leaks.
- `decide_gate`: THE verdict of a run: the spec's rule (`daudit.core.gate_rule`: point or
  strict) on the statistic and its selection-aware interval, borderline when that interval
  straddles the threshold, and no PASS while an input check blocks it.
- `gate_record`: ``summary["gate"]``, the one place the Gate-1 record is shaped: the verdict of
  `decide_gate` with the best model and the checks' evidence (``sanity.gate``).
- `check_gate_defined`: no verdict at all unless every model at every level > 0 has a finite
  test R² (the gate statistic is their maximum, undefined when one of them is).
"""

from __future__ import annotations

import math

import numpy as np

from daudit.core.errors import DauditError
from daudit.core.gate_rule import DEFAULT_GATE_RULE, GATE_RULES
from daudit.core.schema_sanity import GateEvidence
from daudit.models.linear import is_ols_name
from daudit.models.metrics import finite_or_minus_inf

__all__ = ["GATE_THRESHOLD", "GATE_NAME", "gate_verdict", "leakage_degree", "gate_record", "BACKEND_NOTES",
           "GATE_FROM_EVIDENCE", "best_by_test", "best_by_val", "best_rows",
           "select_by_val", "pick_by_val", "decide_gate", "gate_candidates", "interval_of_max", "max_null",
           "is_linear", "is_ridge", "BEST_KEYS", "SELECTION_WORDS", "check_gate_defined",
           "check_pass_earned"]

GATE_NAME = "Gate-1"
GATE_THRESHOLD = 0.05  # the seed's Gate-1 rule: PASS if error-only R² < 0.05

BEST_KEYS = ("model", "noise_level", "alpha", "train_r2", "val_r2", "test_r2", "test_mae", "test_rmse")

# How each "best" was chosen, in the words of the report (one phrase per rule).
SELECTION_WORDS = {"test": "按 test R² 选出", "val": "按验证集 R² 选出"}


def is_ridge(model: str) -> bool:
    return model.startswith("Ridge")


def is_linear(model: str) -> bool:
    """OLS, a step of its truncation path (``OLS_x10``, ...) or a Ridge."""
    return is_ols_name(model) or is_ridge(model)


def gate_verdict(statistic: float, threshold: float = GATE_THRESHOLD) -> str:
    """``"PASS"`` when ``statistic < threshold``, else ``"FAIL"`` (a NaN statistic is not a PASS)."""
    return "PASS" if math.isfinite(float(statistic)) and float(statistic) < threshold else "FAIL"


_DEGREES = (
    (0.05, "无/可忽略 (negligible)"),
    (0.2, "弱 (weak)"),
    (0.5, "中等 (moderate)"),
    (0.9, "强 (strong)"),
)


def leakage_degree(r2):
    """Words for how much the error vector leaks the label, from the best test R2.

    Parameters
    ----------
    r2 : float
        Best held-out R2 of the error-only models.

    Returns
    -------
    str
        ``"无/可忽略 (negligible)"`` below 0.05, ``"弱 (weak)"`` below 0.2, ``"中等 (moderate)"``
        below 0.5, ``"强 (strong)"`` below 0.9, else ``"极强 (severe)"``; ``"未知 (unknown)"``
        when `r2` is not finite.
    """
    r2 = float(r2)
    if not math.isfinite(r2):
        return "未知 (unknown)"
    for limit, words in _DEGREES:
        if r2 < limit:
            return words
    return "极强 (severe)"


def decide_gate(statistic, ci95, *, rule: str = DEFAULT_GATE_RULE, blocked_by=(),
                threshold: float = GATE_THRESHOLD) -> dict:
    """The Gate-1 verdict, and why: the one place a run's verdict is decided.

    Parameters
    ----------
    statistic : float
        The best test R² over the gate's candidates (`best_by_test`).
    ci95 : [lo, hi] or None
        Its selection-aware interval (`interval_of_max`); None when the checks did not run.
    rule : ``"point"`` or ``"strict"``
        ``point``: PASS when ``statistic < threshold``; ``strict``: PASS only when ``hi < threshold``
        as well (no interval: no strict PASS).
    blocked_by : sequence of dict
        Input checks that make a PASS meaningless (``{"check", "where", "text"}`` each); any of
        them turns a PASS into a FAIL.

    Returns
    -------
    dict with ``verdict`` ("PASS" / "FAIL"), ``borderline`` (the interval straddles the
    threshold: ``lo < threshold <= hi``), ``rule``, ``decided_by`` (one English sentence with the
    numbers that decided) and ``blocked_by`` (the list given).
    """
    if rule not in GATE_RULES:
        raise ValueError(f"unknown gate rule {rule!r}; one of {GATE_RULES}")
    ci = list(ci95) if ci95 else None
    lo, hi = (finite_or_minus_inf(ci[0]), finite_or_minus_inf(ci[1])) if ci and len(ci) == 2 else (-math.inf, -math.inf)
    has_ci = math.isfinite(lo) and math.isfinite(hi)
    borderline = bool(has_ci and lo < threshold <= hi)
    point = gate_verdict(statistic, threshold)
    stat = f"best test R2 {float(statistic):.4f}" if math.isfinite(float(statistic)) else "best test R2 undefined"
    if rule == "point" or point == "FAIL":
        verdict = point
        why = f"{rule} rule: {stat} {'<' if point == 'PASS' else '>='} {threshold:g}"
    elif not has_ci:
        verdict, why = "FAIL", (f"strict rule: {stat} < {threshold:g} but no selection-aware interval to bound it "
                                "(the sanity checks' bootstrap did not run)")
    else:
        verdict = "PASS" if hi < threshold else "FAIL"
        why = (f"strict rule: upper end {hi:.4f} of the selection-aware 95% interval "
               f"{'<' if verdict == 'PASS' else '>='} {threshold:g} ({stat})")
    blocked = [dict(b) for b in blocked_by]
    if blocked and verdict == "PASS":
        verdict, why = "FAIL", f"{why}, but the PASS is blocked: " + "; ".join(b["text"] for b in blocked)
    return {"verdict": verdict, "borderline": borderline, "rule": rule, "decided_by": why, "blocked_by": blocked}


# How far a LightGBM fit of another backend may land (bench/backends_RESULTS.md).
BACKEND_NOTES = {
    "in-process": "trained in one process: the same trees on any machine with the same plan",
    "lightgbm.dask": ("trained data-parallel across Dask workers (bin boundaries from one shared sample): the "
                      "trees differ from an in-process fit on the same rows, and its R2 by a few hundredths "
                      "(bench/backends_RESULTS.md)"),
}

# what the checks add to the gate (`GateEvidence` less the best model, which the gate names itself):
# the selection-aware interval, the val-selected model, the permutation nulls
GATE_FROM_EVIDENCE = tuple(k for k in GateEvidence.__annotations__ if not k.startswith("best_"))


def gate_record(best: dict, evidence: dict | None = None, *, rule: str = DEFAULT_GATE_RULE, blocked_by=(),
                untested=(), backend: dict | None = None) -> dict:
    """``summary["gate"]`` (`daudit.core.schema.Gate`): the one place the Gate-1 record is shaped.

    best : the `best_by_test` row (``model``, ``noise_level``, ``test_r2``); evidence :
    ``sanity["gate"]`` (`daudit.core.schema_sanity.GateEvidence`) or None when the checks did not
    run; rule, blocked_by : as `decide_gate`; untested : inputs the verdict did not test (same
    keys as ``blocked_by``); backend : how LightGBM was trained (``{"backend": ...}``) or None.
    """
    evidence = evidence or {}
    decision = decide_gate(best["test_r2"], evidence.get("ci95"), rule=rule, blocked_by=blocked_by)
    gate = {"name": GATE_NAME, "threshold": GATE_THRESHOLD, "best_test_r2": best["test_r2"],
            "best_model": best["model"], "best_noise_level": best["noise_level"], "ci95": None,
            **decision, "untested": list(untested), "leakage_degree": leakage_degree(best["test_r2"])}
    if backend:  # read a verdict near the threshold with the backend that trained LightGBM
        name = backend.get("backend", "in-process")
        gate["lightgbm_backend"] = name
        gate["lightgbm_backend_note"] = BACKEND_NOTES["lightgbm.dask" if name.startswith("lightgbm.dask")
                                                      else "in-process"]
    gate.update({k: v for k, v in evidence.items() if k in GATE_FROM_EVIDENCE})
    return gate


def gate_candidates(rows, keep=lambda r: True) -> list[dict]:
    """The rows the gate maximises over: ``keep`` rows that are not degenerate (noise level 0).

    Degenerate rows (identically zero input) count only when nothing else is left.
    """
    return [r for r in rows if keep(r) and not r["degenerate"]] or [r for r in rows if keep(r)]


def best_by_test(rows, keep=lambda r: True) -> dict | None:
    """The row with the highest test R² (ties: higher val R²) among `gate_candidates`.

    Returns the row's `BEST_KEYS`, or None when no row is kept.
    """
    cand = gate_candidates(rows, keep)
    if not cand:
        return None
    r = max(cand, key=lambda r: (finite_or_minus_inf(r["test_r2"]), finite_or_minus_inf(r["val_r2"])))
    return {k: r[k] for k in BEST_KEYS}


def select_by_val(rows, keep=lambda r: True) -> dict | None:
    """The row with the highest validation R² (ties: the earlier row) among `gate_candidates`.

    The honest counterpart of `best_by_test`: chosen without looking at the test set, so its
    test R² is an unbiased estimate for the chosen model. Returns its `BEST_KEYS` or None.
    """
    cand = gate_candidates(rows, keep)
    if not cand:
        return None
    r = max(cand, key=lambda r: finite_or_minus_inf(r["val_r2"]))
    return {k: r[k] for k in BEST_KEYS}


def pick_by_val(names, val_r2, keep=is_ridge) -> int | None:
    """Index of the ``keep`` name with the highest validation R² (``val_r2`` in ``names`` order)."""
    cand = [i for i, n in enumerate(names) if keep(n)]
    return max(cand, key=lambda i: finite_or_minus_inf(val_r2[i])) if cand else None


def best_by_val(rows, *, level: float, keep=is_linear) -> str | None:
    """Name of the model with the highest validation R² among ``keep`` models at ``level``."""
    cand = [r for r in rows if float(r["noise_level"]) == float(level)]
    i = pick_by_val([r["model"] for r in cand], [r["val_r2"] for r in cand], keep)
    return None if i is None else cand[i]["model"]


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
def interval_of_max(scores: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the best R² when the best model is re-selected in every resample.

    Parameters
    ----------
    scores : ndarray (B, m)
        R² of each of m candidate models on each of B bootstrap resamples of the test rows
        (`daudit.models.metrics.bootstrap_r2_scores`, predictions fixed).
    level : float

    Returns
    -------
    (lo, hi)
        Percentiles of ``max over models`` per resample: the interval of the statistic
        `best_by_test` reports, selection included. NaN when there are no resamples.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] == 0 or s.shape[1] == 0:
        return float("nan"), float("nan")
    best = np.max(np.where(np.isfinite(s), s, -np.inf), axis=1)
    best = best[np.isfinite(best)]
    if best.size == 0:
        return float("nan"), float("nan")
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(best, [a, 1.0 - a])
    return float(lo), float(hi)


def max_null(null: np.ndarray) -> np.ndarray:
    """The family-wise null of a maximum over models: each permutation's best model.

    null : ndarray (K, m), the score of each of m models refitted on each of K permuted labels.
    Returns (K,): the maximum over the m models of each permutation (NaN scores ignored).
    """
    z = np.asarray(null, dtype=np.float64)
    return np.max(np.where(np.isfinite(z), z, -np.inf), axis=1)


def check_pass_earned(rows, *, n_train: int, n_pixels: int) -> None:
    """Refuse (`DauditError`) a PASS from a train split with no more rows than pixels.

    With n_train <= n_pixels OLS interpolates the train labels and every linear model is fitted
    where any labels can be fitted, so a low held-out R² says nothing about the error vector; a
    FAIL (a leak found even so) stands.
    """
    best = best_by_test(rows)
    if n_train > n_pixels or best is None or gate_verdict(best["test_r2"]) != "PASS":
        return
    raise DauditError(f"train split: {n_train} rows for {n_pixels} pixels and the best test R2 "
                      f"{best['test_r2']:.4f} is below {GATE_THRESHOLD:g}: with no more rows than pixels the linear "
                      f"models can fit any labels exactly, so that {GATE_NAME} PASS would mean nothing; audit at "
                      f"least {n_pixels + 1} rows (data.num_samples)")
