"""Sanity checks (issue 4): pure pieces, and the real pipeline on three planted datasets."""

import json

import numpy as np
import pytest
from planted import N_LEAK, leak_pixels

from daudit.checks.bootstrap import r2_in_bins
from daudit.checks.partials import CrossStats, MaskGram
from daudit.checks.permutation import group_codes, p_value, permute_within_groups, solve_many
from daudit.checks.transforms import aggregate_features, shuffle_chunk
from daudit.checks.variability import overlap, relative_spread
from daudit.models.metrics import bootstrap_r2, r2


# ---------------------------------------------------------------- pure functions
def test_shuffle_is_per_row_permutation_and_reproducible():
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    a = shuffle_chunk(x, seed=1, split="train", chunk_index=3)
    assert np.array_equal(a, shuffle_chunk(x, seed=1, split="train", chunk_index=3))
    assert not np.array_equal(a, shuffle_chunk(x, seed=1, split="train", chunk_index=4))
    assert not np.array_equal(a, shuffle_chunk(x, seed=1, split="val", chunk_index=3))
    assert np.array_equal(np.sort(a, axis=1), x)  # each row keeps its own values
    assert np.array_equal(x, np.arange(24, dtype=np.float32).reshape(4, 6))  # input untouched


def test_aggregate_features_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    x = np.random.default_rng(0).gamma(2.0, size=(5, 300))
    f = aggregate_features(x)
    assert f.shape == (5, 10)
    np.testing.assert_allclose(f[:, 0], x.mean(1))
    np.testing.assert_allclose(f[:, 1], x.std(1))
    np.testing.assert_allclose(f[:, 4], np.median(x, 1))
    np.testing.assert_allclose(f[:, 5], x.sum(1))
    np.testing.assert_allclose(f[:, 8], stats.skew(x, axis=1))
    np.testing.assert_allclose(f[:, 9], stats.kurtosis(x, axis=1))
    assert np.all(aggregate_features(np.ones((2, 8)))[:, 8:] == 0)


def test_mask_gram_centres_raw_sums_as_dense_centring_does():
    """The train pass's mask sums (tested against dense counts in test_train_pass) centred exactly."""
    rng = np.random.default_rng(1)
    m = (rng.uniform(size=(60, 12)) < 0.1).astype(np.uint8)
    y = rng.normal(size=60)
    cols = np.flatnonzero(m.any(0))
    d = m[:, cols].astype(float)
    g = MaskGram(n=60, cols=cols, sum_x=d.sum(0), xtx=d.T @ d, xty=d.T @ (y - 0.5))
    sxx, sxy, mx = g.centered(float((y - 0.5).sum()), 0.5)
    dc = d - d.mean(0)
    np.testing.assert_allclose(sxx, dc.T @ dc, atol=1e-12)
    np.testing.assert_allclose(sxy, dc.T @ (y - y.mean()), atol=1e-12)


def test_cross_stats_and_solve_many_match_dense_fits():
    from daudit.models.linear import decompose, fit_family_dense
    from daudit.models.stats import gram_chunk

    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 8))
    y = x @ rng.normal(size=8) + rng.normal(size=300)
    yp = np.column_stack([y[rng.permutation(300)] for _ in range(3)])
    shift = x.mean(0)
    xc, yc = x - shift, yp - yp.mean(0)  # the raw sums the train pass keeps (test_train_pass checks them)
    c = CrossStats(300, shift, yp.mean(0), xc.sum(0), yc.sum(0), xc.T @ yc, (yc * yc).sum(0))
    sxy, syy, ym = c.centered()
    st = gram_chunk(x, y, x_shift=shift, y_shift=np.array([y.mean()])).centered()
    fit = solve_many(decompose(st), st, sxy, syy, ym, [0.1, 10.0], include_ols=True, level=1.0)
    for j in range(3):  # X^T Y is taken in float32 per chunk: agreement to ~1e-5
        ref = fit_family_dense(x, yp[:, j], [0.1, 10.0])
        np.testing.assert_allclose(fit.coef[:, :, j], ref.coef[:, :, 0], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(fit.intercept[:, j], ref.intercept[:, 0], rtol=1e-4, atol=1e-5)


def test_permutation_helpers():
    assert p_value(0.5, np.array([0.1, 0.6, 0.2])) == pytest.approx(2 / 4)
    assert p_value(0.9, np.zeros(199)) == pytest.approx(1 / 200)
    rng = np.random.default_rng(3)
    mag, snr, y = rng.uniform(20, 23, 400), rng.uniform(1, 10, 400), rng.normal(size=400)
    codes, edges = group_codes(mag, snr, 4, 3)
    assert len(np.unique(codes)) == 12 and len(edges["mag"]) == 3 and len(edges["snr"]) == 2
    yp = permute_within_groups(y, codes, 2, rng)
    for g in np.unique(codes):
        sel = codes == g
        assert np.array_equal(np.sort(yp[sel, 0]), np.sort(y[sel]))
    assert not np.array_equal(yp[:, 0], y)


def test_bootstrap_and_bins():
    rng = np.random.default_rng(4)
    y = rng.normal(size=2000)
    pred = np.column_stack([y + 0.5 * rng.normal(size=2000), np.zeros(2000)])
    ci = bootstrap_r2(y, pred, 500, rng)
    assert ci[0, 0] < r2(y, pred[:, 0]) < ci[0, 1] and ci[0, 1] - ci[0, 0] < 0.05
    assert ci[1, 1] <= 0.0 + 1e-12
    bins = r2_in_bins(y, pred[:, 0], np.array([1.0, 2.0, 3.0, 8.0] * 500), [2.0, 4.0, 7.0],
                      ["<=2", "2-4", "4-7", ">7"])
    assert [b["n"] for b in bins] == [1000, 500, 0, 500] and bins[2]["test_r2"] is None


def test_variability_helpers():
    n, s, sq = np.array([4, 4]), np.array([4.0, 4.0]), np.array([4.0, 4.16])
    np.testing.assert_allclose(relative_spread(n, s, sq), [0.0, 0.2])
    assert overlap([1, 2, 3], [3, 4]) == {"count": 1, "jaccard": 0.25}


# ---------------------------------------------------------------- the pipeline on planted sets
# (the runs are the session fixtures pixel_run, scale_run, null_run of conftest.py)


def _best_check(block):
    return max(block[k]["test_r2"] for k in ("OLS", "best_ridge", "LightGBM") if k in block)


def test_pixel_leak_found_and_shuffle_collapses_it(pixel_run):
    summary = pixel_run.summary
    san = summary["sanity"]
    imp = summary["importance"]
    top = {p["pixel"] for p in imp["models"][imp["primary"]]["top_pixels"]}
    assert len(top & set(leak_pixels(256).tolist())) >= 36
    assert summary["gate"]["verdict"] == "FAIL"
    assert _best_check(san["original"]) > 0.9
    assert _best_check(san["wavelength_shuffle"]["refit"]) < 0.05
    assert san["wavelength_shuffle"]["effect"] == "collapsed"
    best = summary["best"]
    key = f"L={best['noise_level']:g} {best['model']}"
    assert san["permutation"]["linear"]["models"][key]["p_value"] < 0.01
    assert san["permutation"]["linear"]["n_permutations"] >= 200
    assert san["permutation"]["lightgbm"]["n_permutations"] >= 20
    # the variable pixels are the planted ones, and the importance finds them
    assert san["variability"]["overlap"][imp["primary"]]["count"] >= 30
    assert san["mask_only"]["n_pixels_ever_masked"] == 0  # positive error, no file mask
    assert len(san["variability"]["top_pixels"]) == N_LEAK


def test_scale_leak_survives_shuffle_and_aggregates_capture_it(scale_run):
    summary = scale_run.summary
    san = summary["sanity"]
    r0 = _best_check(san["original"])
    assert r0 > 0.5
    assert abs(_best_check(san["wavelength_shuffle"]["refit"]) - r0) <= 0.05
    assert san["wavelength_shuffle"]["effect"] == "survived"
    assert _best_check(san["aggregate_stats"]) >= r0 - 0.05
    assert san["aggregate_stats"]["effect"] == "captured"
    # the unrefitted model on shuffled inputs is reported separately and is not the refit
    assert san["wavelength_shuffle"]["unrefitted"]["OLS"]["test_r2"] < san["wavelength_shuffle"]["refit"]["OLS"]["test_r2"]
    # the file mask leaks through pixels 0-9 only
    mo = san["mask_only"]
    assert mo["source"] == "the file's mask array or non-finite or non-positive error" and mo["n_pixels_ever_masked"] == 10
    assert _best_check(mo) > 0.05


def test_null_set_passes(null_run):
    summary = null_run.summary
    san = summary["sanity"]
    assert all(r["test_r2"] < 0.02 for r in summary["metrics"])
    assert all(m["p_value"] > 0.05 for m in san["permutation"]["linear"]["models"].values())
    assert san["permutation"]["lightgbm"]["p_value"] > 0.05
    assert summary["gate"]["verdict"] == "PASS"
    lo, hi = summary["gate"]["ci95"]
    assert lo <= summary["gate"]["best_test_r2"] <= hi
    assert summary["gate"]["borderline"] == (lo < 0.05 <= hi)
    assert _best_check(san["mask_only"]) < 0.05
    assert [b["bin"] for b in san["snr"]["bins"]] == ["<=2", "2-4", "4-7", ">7"]
    assert sum(b["n"] for b in san["snr"]["bins"]) == san["n_test"]
    assert sum(b["n"] for b in san["snr"]["quartiles"]) == san["n_test"]


def test_outputs_written_and_report_consistent(scale_run):
    from daudit.output.report import numbers_not_in_summary

    out = scale_run.out
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["sanity"]["gate"]["ci95"] == on_disk["gate"]["ci95"]
    png = out / on_disk["outputs"]["figures"]["sanity_checks"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    report = (out / "report.md").read_text()
    assert numbers_not_in_summary(report, on_disk) == []
    for words in ("打乱后重新拟合", "未重新拟合", "Mask-only", "Label-permutation null", "Bootstrap", "40 positions"):
        assert words in report


def test_refit_plan_follows_the_time_budget_and_the_null_resolution():
    from daudit.checks.lgbm_plan import ALPHA, fit_seconds, plan_refits

    def plan(n, **kw):
        args = dict(n_train=n, n_features=4096, n_mask=4096, main_rows=n, main_sample=200_000, trees=100,
                    max_rows=20_000, max_null_rows=3_000, n_permutations=20, threads=2, budget_bytes=2**33)
        return plan_refits(**{**args, **kw})

    big, small = plan(100_000), plan(3_000)
    # the demo's budget (half its own 100k-row fit) affords richer refits than a 3,000-row audit's
    assert big.seconds <= big.budget_seconds and big.rows == 20_000 and big.null_rows == 3_000
    assert (big.feature_fraction, big.max_bin) >= (small.feature_fraction, small.max_bin)
    assert big.budget_seconds == pytest.approx(0.5 * fit_seconds(100_000, 4096, sample=100_000), abs=0.05)
    assert "over the time budget" in small.reason and small.rows == 2_000 and small.null_rows == 1_000
    # K: what p < alpha needs (1 / (K + 1) < 0.05), not more; fewer only when the spec asks for fewer
    assert big.n_permutations == 20 and 1 / (big.n_permutations + 1) < ALPHA
    assert plan(100_000, n_permutations=200).n_permutations == 20
    assert plan(100_000, n_permutations=5).n_permutations == 5
    # narrow inputs keep every feature in every tree; wide ones may not
    assert big.params(10)["feature_fraction"] == 1.0 and big.params(4096)["feature_fraction"] == big.feature_fraction


def test_null_stops_after_enough_exceedances_and_keeps_order():
    import lightgbm as lgb

    from daudit.checks import lgbm as lg
    from daudit.checks.lgbm_plan import plan_refits

    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 8)).astype(np.float32)
    y = rng.normal(size=300)  # no signal: permuted fits reach the observed R2 early
    rp = plan_refits(n_train=300, n_features=8, n_mask=0, main_rows=300, main_sample=300, trees=5, max_rows=300,
                     max_null_rows=300, n_permutations=20, threads=2, budget_bytes=2**30)
    params, _ = lg.train_params({"objective": "regression", "max_depth": 2, "learning_rate": 0.1,
                                 "random_state": 1, "n_estimators": 5}, rp, n_features=8)
    xv, yv = rng.normal(size=(200, 8)).astype(np.float32), rng.normal(size=200)

    def val_r2(bs):
        return [r2(yv, b.predict(xv)) for b in bs]

    perms = np.column_stack([y[rng.permutation(300)] for _ in range(20)])
    runs = [lg.fit_null(x, y, perms, params, 5, threads=t, stop_after=3, val_r2=val_r2) for t in (1, 3)]
    (ref, null, stopped), (ref3, null3, _) = runs
    obs = val_r2([ref])[0]
    scores = np.array(val_r2(null))
    assert stopped and len(null) < 20 and (scores >= obs).sum() == 3 and scores[-1] >= obs
    # the same boosters whatever the number of threads: one thread each, bins shared
    assert len(null3) == len(null) and all(a.model_to_string() == b.model_to_string() for a, b in zip(null, null3))
    assert isinstance(ref3, lgb.Booster)


def test_lightgbm_native_creation_never_overlaps_across_refit_threads(monkeypatch):
    """LightGBM crashed (SIGSEGV) when one refit thread created a Booster while another built a
    Dataset: every native creation (Dataset construction, Booster creation) runs one at a time,
    whichever refit path calls it, while the boosting rounds still overlap."""
    import threading
    import time

    import lightgbm as lgb

    from daudit.checks import lgbm as lg

    active, overlaps, rounds_overlap = {}, [0], [0]  # active: thread id -> nesting depth
    in_rounds = [0]
    guard = threading.Lock()

    def tracked(fn):
        def wrapper(*a, **k):
            me = threading.get_ident()
            with guard:
                active[me] = active.get(me, 0) + 1  # Booster() constructs its Dataset: same thread
                overlaps[0] = max(overlaps[0], len(active))
            time.sleep(0.01)  # widen the window a race would need
            try:
                return fn(*a, **k)
            finally:
                with guard:
                    active[me] -= 1
                    if not active[me]:
                        del active[me]
        return wrapper

    monkeypatch.setattr(lgb.Dataset, "construct", tracked(lgb.Dataset.construct))
    monkeypatch.setattr(lgb.Booster, "__init__", tracked(lgb.Booster.__init__))
    real_update = lgb.Booster.update

    def update(self, *a, **k):
        with guard:
            in_rounds[0] += 1
            rounds_overlap[0] = max(rounds_overlap[0], in_rounds[0])
        time.sleep(0.005)
        try:
            return real_update(self, *a, **k)
        finally:
            with guard:
                in_rounds[0] -= 1

    monkeypatch.setattr(lgb.Booster, "update", update)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((300, 8)).astype(np.float32), rng.standard_normal(300)
    params = {"objective": "regression", "max_depth": 3, "learning_rate": 0.1, "seed": 0, "verbose": -1,
              "max_bin": 31, "bin_construct_sample_cnt": 300, "num_threads": 1, "feature_fraction": 1.0}
    jobs = {i: (lambda: lg.fit_on(lg.build_dataset(x, y, params), params, 20)) for i in range(6)}
    done = lg.run_jobs(jobs, threads=3)
    ref, perm, _ = lg.fit_null(x, y, np.stack([rng.permutation(y) for _ in range(4)], axis=1), params, 20,
                               threads=3, stop_after=10, val_r2=lambda bs: [0.0] * len(bs))
    assert len(done) == 6 and len(perm) == 4
    assert overlaps[0] == 1  # never two threads inside a native creation at once
    assert rounds_overlap[0] >= 2  # the rounds themselves still ran side by side
