"""One definition of each "best": the test-selected maximum with its honest interval, and the val choice."""

import numpy as np
import pytest

from daudit.models.metrics import bootstrap_r2, bootstrap_r2_scores, percentile_interval
from daudit.models.selection import (
    best_by_test,
    best_by_val,
    interval_of_max,
    max_null,
    pick_by_val,
    select_by_val,
)


def _rows():
    rows = []
    for level, deg in ((0.0, True), (0.5, False), (1.0, False)):
        for name, val, test in (("OLS", 0.10, 0.05), ("Ridge_1", 0.30, 0.20), ("Ridge_10", 0.25, 0.31),
                                ("LightGBM", 0.28, 0.29)):
            rows.append({"noise_level": level, "model": name, "alpha": None, "train_r2": 0.5,
                         "val_r2": 0.9 if deg else val + level / 100, "test_r2": 0.9 if deg else test + level / 100,
                         "test_mae": 0.1, "test_rmse": 0.2, "degenerate": deg})
    return rows


def test_best_by_test_and_by_val_skip_degenerate_rows():
    rows = _rows()
    best = best_by_test(rows)
    assert (best["model"], best["noise_level"]) == ("Ridge_10", 1.0)
    vs = select_by_val(rows)
    assert (vs["model"], vs["noise_level"]) == ("Ridge_1", 1.0)
    assert best_by_val(rows, level=0.5) == "Ridge_1"
    assert pick_by_val(["OLS", "Ridge_1", "Ridge_10"], [0.9, 0.2, 0.3]) == 2  # Ridge only by default
    assert pick_by_val(["OLS"], [0.9]) is None


def _direct_scores(y, preds, n, seed):
    """Independent oracle: resample by resample, R² as in scikit-learn (1 - RSS / TSS)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, preds.shape[1]))
    for b in range(n):
        idx = rng.integers(0, len(y), size=len(y))
        yb = y[idx]
        tss = np.sum((yb - yb.mean()) ** 2)
        for j in range(preds.shape[1]):
            out[b, j] = 1 - np.sum((yb - preds[idx, j]) ** 2) / tss
    return out


def test_interval_of_max_reselects_the_best_in_every_resample():
    rng = np.random.default_rng(7)
    n, m = 300, 12
    y = rng.normal(size=n)
    preds = 0.1 * y[:, None] + rng.normal(size=(n, m)) * 0.9  # many similar, weak models
    scores = bootstrap_r2_scores(y, preds, 400, np.random.default_rng(11))
    direct = _direct_scores(y, preds, 400, 11)
    np.testing.assert_allclose(scores, direct, rtol=0, atol=1e-12)
    lo, hi = interval_of_max(scores)
    best = direct.max(axis=1)
    assert (lo, hi) == pytest.approx(tuple(np.quantile(best, [0.025, 0.975])), abs=1e-12)
    # the interval of the maximum sits above that of the one model that won on the full set
    win = int(np.argmax([1 - np.sum((y - preds[:, j]) ** 2) / np.sum((y - y.mean()) ** 2) for j in range(m)]))
    single = percentile_interval(scores[:, win])[0]
    assert lo >= single[0] and hi >= single[1] and hi > single[1]
    # bootstrap_r2 is the per-column percentile of the same scores
    np.testing.assert_allclose(bootstrap_r2(y, preds, 400, np.random.default_rng(11)), percentile_interval(direct))


def test_max_null_is_the_best_model_of_each_permutation():
    null = np.array([[0.1, 0.3, np.nan], [0.2, -0.1, 0.05]])
    np.testing.assert_array_equal(max_null(null), [0.3, 0.2])
