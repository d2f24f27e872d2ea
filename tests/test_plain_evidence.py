"""The checks' evidence functions called directly on plain arrays (issue 26), no audit run:
permutation p-values against the closed form ``(1 + #{null >= observed}) / (1 + K)`` with
scikit-learn's R², bootstrap intervals against numpy percentiles of scikit-learn R² on the same
resamples, R² by SNR bin against scikit-learn on the rows of each bin."""

import numpy as np
import pytest
from sklearn.metrics import r2_score

from daudit.checks.gate_evidence import (
    GATE_STREAM,
    all_intervals,
    gate_record,
    null_stats,
    permutation_evidence,
    resampled_test_r2,
    snr_record,
)
from daudit.checks.permutation import p_value


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    return rng, y


def test_p_value_is_the_closed_form_with_ties_counted():
    rng = np.random.default_rng(3)
    null = np.round(rng.normal(size=39), 1)  # ties with the observed value on purpose
    for obs in (null[5], 0.0, 10.0, -10.0):
        assert p_value(obs, null) == (1 + np.sum(null >= obs)) / (1 + len(null))
    assert null_stats(null[5], null)["p_value"] == (1 + np.sum(null >= null[5])) / 40


def test_linear_nulls_from_rss_match_sklearn_r2_and_the_closed_form():
    rng, y = _data()
    k, keys = 9, [(1.0, "OLS"), (1.0, "Ridge_1"), (2.0, "OLS")]
    preds = {key: [y * s + rng.normal(size=len(y)) for s in rng.uniform(0, 0.5, k)] for key in keys}
    rss = np.array([np.sum((y - p) ** 2) for key in keys for p in preds[key]])
    observed = {key: float(v) for key, v in zip(keys, (0.30, 0.05, 0.12))}
    out = permutation_evidence(y, observed, rss, k, figure_key=(1.0, "Ridge_1"))["linear"]
    for key in keys:
        null = np.array([r2_score(y, p) for p in preds[key]])
        rec = out["models"][f"L={key[0]:g} {key[1]}"]
        assert rec["p_value"] == (1 + np.sum(null >= observed[key])) / (1 + k)
        assert rec["null_max"] == pytest.approx(null.max(), rel=1e-12)
    best_null = np.array([max(r2_score(y, preds[key][j]) for key in keys) for j in range(k)])
    assert out["familywise"]["p_value"] == (1 + np.sum(best_null >= 0.30)) / (1 + k)
    assert out["familywise"]["observed_model"] == "L=1 OLS"
    np.testing.assert_allclose(out["figure_null"], [r2_score(y, p) for p in preds[(1.0, "Ridge_1")]], rtol=1e-12)


def test_lightgbm_null_p_value_from_predictions():
    rng, y = _data(seed=1)
    obs = y + 0.5 * rng.normal(size=len(y))
    null = [rng.normal(size=len(y)) for _ in range(19)]
    rec = permutation_evidence(y, {}, None, 0, lightgbm=(obs, null, 500))["lightgbm"]
    scores = np.array([r2_score(y, p) for p in null])
    assert rec["p_value"] == (1 + np.sum(scores >= r2_score(y, obs))) / 20
    assert rec["at_resolution"] is (rec["p_value"] <= 1 / 20)


def test_bootstrap_interval_equals_numpy_percentiles_of_the_same_resamples():
    rng, y = _data(n=80, seed=2)
    preds = [y + rng.normal(size=len(y)), 0.5 * y + rng.normal(size=len(y))]
    n_res, seed = 200, 7
    scores = resampled_test_r2(y, preds, n_res, seed)
    # the same resamples by hand: resample b takes rows integers(0, n, n) of the gate generator
    gen = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=GATE_STREAM))
    rows = [gen.integers(0, len(y), len(y)) for _ in range(n_res)]
    oracle = np.array([[r2_score(y[r], p[r]) for p in preds] for r in rows])
    np.testing.assert_allclose(scores, oracle, rtol=1e-10, atol=1e-12)
    keys = [(1.0, "A"), (1.0, "B")]
    ci = all_intervals(keys, scores, dict(zip(keys, preds)), y)
    for i, key in enumerate(keys):
        np.testing.assert_allclose(ci[f"L=1 {key[1]}"]["ci95"], np.percentile(oracle[:, i], [2.5, 97.5]), rtol=1e-10)
        assert ci[f"L=1 {key[1]}"]["test_r2"] == pytest.approx(r2_score(y, preds[i]), rel=1e-12)


def test_r2_by_snr_bin_matches_sklearn_on_each_bin():
    rng, y = _data(n=300, seed=4)
    pred = y + rng.normal(size=len(y))
    snr = rng.uniform(0, 10, len(y))
    best = {"noise_level": 1.0, "model": "OLS"}
    out = snr_record(snr, (2.0, 4.0, 7.0), best, {(1.0, "OLS"): pred}, y)
    bins = [snr <= 2, (snr > 2) & (snr <= 4), (snr > 4) & (snr <= 7), snr > 7]
    for rec, sel in zip(out["bins"], bins):
        assert rec["n"] == sel.sum()
        assert rec["test_r2"] == pytest.approx(r2_score(y[sel], pred[sel]), rel=1e-12)
    assert snr_record(None, (2.0,), best, {(1.0, "OLS"): pred}, y) == {"skipped": "no snr column in the params table"}


def test_gate_record_interval_is_the_percentiles_of_the_per_resample_maximum():
    rng, y = _data(n=100, seed=5)
    preds = [0.6 * y + rng.normal(size=len(y)), 0.3 * y + rng.normal(size=len(y)), rng.normal(size=len(y))]
    names = ["OLS", "Ridge_1", "LightGBM"]
    base = {"alpha": None, "train_r2": 0.0, "test_mae": 0.0, "test_rmse": 0.0}
    rows = [{**base, "noise_level": 1.0, "model": n, "val_r2": v, "test_r2": r2_score(y, p), "degenerate": False}
            for n, p, v in zip(names, preds, (0.2, 0.25, 0.0))]
    rows.append({**base, "noise_level": 0.0, "model": "OLS", "val_r2": 0.0, "test_r2": 0.0, "degenerate": True})
    keys = [(1.0, n) for n in names] + [(0.0, "OLS")]
    test = dict(zip(keys, preds + [np.zeros(len(y))]))
    scores = resampled_test_r2(y, [test[k] for k in keys], 300, 11)
    ci = all_intervals(keys, scores, test, y)
    perm = {"linear": {}, "lightgbm": None}
    gate = gate_record(rows, keys, scores, ci, perm)
    # the maximum over the three non-degenerate models, re-selected in every resample
    np.testing.assert_allclose(gate["ci95"], np.percentile(scores[:, :3].max(axis=1), [2.5, 97.5]), rtol=1e-12)
    assert gate["n_candidates"] == 3
    best = int(np.argmax([r2_score(y, p) for p in preds]))
    assert (gate["best_model"], gate["best_test_r2"]) == (names[best], pytest.approx(r2_score(y, preds[best])))
    assert gate["val_selected"]["model"] == "Ridge_1"  # highest val R2, chosen without the test set
