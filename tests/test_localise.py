"""Where the leak is, by refits (issue 24 §3): each region's R2 dropped and alone.

The pure functions are checked against scikit-learn refits on the column subsets; the pipeline
on planted 1024-pixel leaks: in a band outside the catalogue, inside the O2 A band, and none.
"""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, Ridge

from daudit.models.linear import decompose, resolution
from daudit.models.stats import gram_chunk

P_E2E = 1024
_LIGHT = ("sanity: {n_permutations_linear: 60, n_permutations_lightgbm: 0, n_bootstrap: 300, "
          "wavelength_shuffle: false, group_shuffle: false, mask_only: false, aggregate_stats: false}")


def _problem(n=400, p=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p)) * rng.uniform(0.5, 2.0, p) + 3.0
    y = 0.3 * x[:, 5] + x[:, 20] - x[:, 21] + rng.normal(size=n)
    st = gram_chunk(x, y[:, None], x_shift=x.mean(0), y_shift=np.array([y.mean()])).centered()
    return x, y, st


@pytest.mark.parametrize("alpha,level", [(3.0, 0.5), (None, 1.0)])
def test_drop_and_alone_refits_equal_scikit_learn_on_the_column_subsets(alpha, level):
    from daudit.checks.localise import Unit, build_plan

    x, y, st = _problem()
    sxy, syy, xm, ym = st.sxy[:, 0].copy(), float(st.syy[0]), st.x_mean, float(st.y_mean[0])
    eg = decompose(st, input_dtype=np.float64)
    units = [Unit("a", "band", "a", "a", 0.0, 1.0, np.arange(18, 25)), Unit("b", "band", "b", "b", 0.0, 1.0, np.array([5]))]
    plan = build_plan(eg.eigvals, eg.eigvecs, n=len(y), x_mean=xm, y_mean=ym, sxy=sxy, syy=syy, units=units,
                      model="m", alpha=alpha, level=level, threshold=resolution(eg).threshold,
                      input_dtype=np.float64)

    def oracle(cols):
        m = LinearRegression() if alpha is None else Ridge(alpha=alpha, solver="svd")
        return m.fit(level * x[:, cols], y).predict(level * x[:, cols])

    def mine(j):
        return x @ plan.coef[:, j] + plan.intercept[j]

    spread = y.std()
    np.testing.assert_allclose(mine(0), oracle(np.arange(x.shape[1])), atol=1e-9 * spread)
    for j, u in enumerate(units):
        rest = np.setdiff1d(np.arange(x.shape[1]), u.pixels)
        np.testing.assert_allclose(mine(1 + j), oracle(rest), atol=1e-9 * spread)
        np.testing.assert_allclose(mine(1 + len(units) + j), oracle(u.pixels), atol=1e-9 * spread)
        assert not plan.coef[u.pixels, 1 + j].any()


def test_judge_units_names_what_the_drop_or_the_region_alone_shows():
    from daudit.checks.localise import Unit, judge_units

    rng = np.random.default_rng(1)
    n = 2000
    y = rng.normal(size=n)
    full = y + 0.1 * rng.normal(size=n)  # R2 ~ 0.99
    noise = rng.normal(size=n)
    units = [Unit(k, "band", k, k, 0.0, 1.0, np.arange(3)) for k in ("leak", "half", "none")]
    dropped = np.column_stack([noise * 0.1 + y.mean(),  # dropping it removes the leak
                               0.7 * y + 0.1 * rng.normal(size=n),  # takes part of it
                               full + 0.001 * rng.normal(size=n)])  # changes nothing
    alone = np.column_stack([full, 0.3 * y, np.full(n, y.mean())])
    out = judge_units(units, y, full, dropped, alone, n_resamples=200, rng=np.random.default_rng(2),
                      threshold=0.05, tolerance=0.05)
    rec = {r["key"]: r for r in out["units"]}
    assert rec["leak"]["source"] and rec["leak"]["removes"]
    assert rec["half"]["source"] and not rec["half"]["removes"]
    assert not rec["none"]["source"] and not rec["none"]["removes"]
    assert rec["leak"]["drop_ci95"][0] > 0.9
    assert [r["key"] for r in out["units"]][0] == "leak"  # ordered by drop


def _run(root, maker):
    from planted import write_planted

    from daudit.core.spec import load_spec
    from daudit.pipeline.run import run_audit

    spec = write_planted(root, maker, n_train=2000, n_val=500, n_test=500, p=P_E2E, extra=_LIGHT)
    text = spec.read_text().replace("  - type: LightGBM\n", "").replace("    n_estimators: 10\n", "")
    text = text.replace("    max_depth: 3\n", "").replace("    learning_rate: 0.1\n", "")
    text = "\n".join(line for line in text.splitlines() if not line.startswith("  - {type: ")).replace(
        "plots:", "plots: []")  # no figures: the report's text is what is tested
    spec.write_text(text)
    summary = run_audit(load_spec(spec), output_dir=root / "out", echo=lambda *a: None)
    return summary, (root / "out" / "report.md").read_text()


@pytest.fixture(scope="module")
def off_catalogue(tmp_path_factory):
    from planted import band_leak

    return _run(tmp_path_factory.mktemp("offcat"), band_leak(7520.0, 7588.0))


@pytest.fixture(scope="module")
def in_o2a(tmp_path_factory):
    from planted import band_leak

    return _run(tmp_path_factory.mktemp("o2a"), band_leak(7600.0, 7690.0))


@pytest.fixture(scope="module")
def no_leak(tmp_path_factory):
    from planted import null_error

    return _run(tmp_path_factory.mktemp("nullloc"), null_error)


def _loc(summary):
    return summary["sanity"]["localisation"]


def _advice(report) -> str:
    """The de-leak line of the report's design implications (§5.3)."""
    return next(line for line in report.splitlines() if line.startswith("- 重要性的位置："))


def test_a_leak_outside_the_catalogue_is_named_by_its_band_only(off_catalogue):
    summary, report = off_catalogue
    advice = _advice(report)
    assert "与无泄露一致" not in advice and "不能只靠屏蔽" not in advice, advice
    assert "屏蔽 逐像素零分布的像素带" in advice and "即可去除" in advice, advice
    loc = _loc(summary)
    src = [r for r in loc["units"] if r["source"]]
    assert src and all(r["kind"] in ("band", "bands") for r in src), [r["key"] for r in src]
    band = src[0]
    assert band["lo"] <= 7530 and band["hi"] >= 7575 and band["removes"]
    assert band["dropped_test_r2"] < 0.05 <= loc["full_test_r2"]
    for r in loc["units"]:  # no catalogue region is a source, and dropping any leaves the leak
        if r["kind"] not in ("band", "bands"):
            assert not r["source"] and r["dropped_test_r2"] > 0.5, r["key"]
    assert "泄露来源在目录特征以外" in report


def test_a_leak_inside_the_o2_a_band_is_named_there_and_masking_it_removes_it(in_o2a):
    summary, report = in_o2a
    advice = _advice(report)
    assert "屏蔽 O2 A 吸收带" in advice and "即可去除" in advice, advice
    assert "优先处理" not in advice and "不能只靠屏蔽" not in advice, advice
    loc = _loc(summary)
    rec = {r["key"]: r for r in loc["units"]}
    assert rec["o2_a"]["source"] and rec["o2_a"]["removes"], rec["o2_a"]
    assert loc["removing"][0] == "o2_a"
    for r in loc["units"]:  # nothing outside the planted range is a source
        if r["source"]:
            assert r["lo"] < 7690 and 7600 < r["hi"], r["key"]
    # the K I line inside the band reaches the gate alone, but dropping it changes nothing: no
    # physical reading of it as the leak's source
    if not rec["ki_7665"]["source"] or "drop" not in rec["ki_7665"]["why"]:
        assert "对表面重力敏感" not in report


def test_null_data_names_no_source(no_leak):
    summary, report = no_leak
    assert "重拟合没有指认任何区域为泄露来源" in _advice(report)
    loc = _loc(summary)
    assert loc["n_sources"] == 0 and not loc["removing"]
    assert all(not r["source"] for r in loc["units"])


@pytest.mark.parametrize("case", ["off_catalogue", "in_o2a", "no_leak"])
def test_every_localisation_number_is_in_the_summary_and_the_body_stays_chinese(case, request):
    from report_language import english_runs

    from daudit.output.report import numbers_not_in_summary

    summary, report = request.getfixturevalue(case)
    assert "区域重拟合" in report
    assert numbers_not_in_summary(report, summary) == []
    assert english_runs(report, summary) == []


def test_a_statement_from_k_permutations_says_what_k_allows():
    """With K = 4 the smallest p is 0.2: never "above the null's 95th percentile"."""
    from daudit.checks.importance_null import overlap_null, share_null
    from daudit.output.report.importance import lightgbm_share_text

    rng = np.random.default_rng(3)
    null = np.abs(rng.normal(size=(200, 4)))
    peaked = np.abs(rng.normal(size=200))
    peaked[:40] *= 50  # far above every permuted fit: p = 1 / 5, the smallest 4 permutations give
    s = share_null(peaked, null, k=40)
    assert s["p_value"] == pytest.approx(0.2) and not s["resolvable"] and not s["above_null"]
    assert not overlap_null(np.arange(40), peaked, null, k=40)["above_null"]
    lg = {"n_permutations": 4, "n_train_rows": 500, "split": s, "gain": s}
    text = lightgbm_share_text({"sanity": {"importance_null": {"lightgbm": lg}}})
    assert "不足以判断" in text and "高于零分布 95% 分位" not in text
    null20 = np.abs(rng.normal(size=(200, 19)))
    assert share_null(peaked, null20, k=40)["above_null"]  # 19 permutations reach p = 0.05


def test_the_lightgbm_null_stops_on_the_split_its_p_is_computed_on():
    from types import SimpleNamespace

    import dask.array as da

    from daudit.checks import lgbm_refits
    from daudit.models.metrics import r2

    rng = np.random.default_rng(4)
    splits = {name: SimpleNamespace(error=da.from_array(rng.normal(size=(50, 3)).astype(np.float32), chunks=(20, 3)),
                                    y=rng.normal(size=50)) for name in ("val", "test")}

    class Echo:  # predicts the first pixel
        def predict(self, x):
            return np.asarray(x)[:, 0]

    got = lgbm_refits.held_out_r2(splits[lgbm_refits.NULL_SPLIT], [Echo()])[0]
    split = splits[lgbm_refits.NULL_SPLIT]
    assert got == pytest.approx(r2(split.y, np.asarray(split.error)[:, 0]))
    assert lgbm_refits.NULL_SPLIT == "test"  # the split of the permutation p-values (sanity.permutation.split)
