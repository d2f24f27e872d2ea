"""The linear family from sufficient statistics against scikit-learn (the oracle)."""

import dask.array as da
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, Ridge

from daudit.core.progress import compute
from daudit.engine.streaming import first_block_shift
from daudit.models.linear import decompose, fit_family, fit_family_dense
from daudit.models.passes import gram_graph
from daudit.models.stats import combine_stats, gram_chunk, reduce_stats

ALPHAS = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0]


def _problem(n=400, p=12, seed=0, offset=5.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p)) * rng.uniform(0.5, 2.0, p) + offset
    y = x @ rng.normal(size=p) + 0.5 * rng.normal(size=n) + 3.0
    return x, y


def _streamed_fit(x, y, chunk_rows, **kw):
    xd = da.from_array(x, chunks=(chunk_rows, x.shape[1]))
    g = gram_graph(xd, y, x_shift=first_block_shift(xd), y_shift=np.array([y[:chunk_rows].mean()]))
    (stats,) = compute(g, desc="test")
    return fit_family(decompose(stats), ALPHAS, **kw)


def _rel(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


@pytest.mark.parametrize("chunk_rows", [17, 64, 400])
def test_matches_sklearn_for_every_chunking(chunk_rows):
    x, y = _problem()
    fit = _streamed_fit(x, y, chunk_rows)
    pred = fit.predict(x)[:, :, 0]
    ols = LinearRegression().fit(x, y)
    assert _rel(fit.coef[0, :, 0], ols.coef_) < 1e-6
    assert abs(fit.intercept[0, 0] - ols.intercept_) / abs(ols.intercept_) < 1e-6
    assert _rel(pred[:, 0], ols.predict(x)) < 1e-6
    for a in ALPHAS:
        i = fit.names.index(f"Ridge_{a:g}")
        r = Ridge(alpha=a, solver="svd").fit(x, y)
        assert _rel(fit.coef[i, :, 0], r.coef_) < 1e-6
        assert abs(fit.intercept[i, 0] - r.intercept_) / abs(r.intercept_) < 1e-6
        assert _rel(pred[:, i], r.predict(x)) < 1e-6
        assert fit.train_r2[i, 0] == pytest.approx(r.score(x, y), rel=1e-9)


@pytest.mark.parametrize("scale", [1e-17, 1e6])
def test_ols_is_scale_invariant_like_sklearn(scale):
    x, y = _problem(seed=3)
    fit = fit_family_dense(x * scale, y, ALPHAS)
    ols = LinearRegression().fit(x * scale, y)
    assert _rel(fit.coef[0, :, 0], ols.coef_) < 1e-6
    assert _rel(fit.predict(x * scale)[:, 0, 0], ols.predict(x * scale)) < 1e-6


@pytest.mark.parametrize("seed", range(5))
def test_ols_train_r2_never_below_ridge(seed):
    # Nearly collinear pixels, like error spectra: the case the user's OLS got wrong.
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.5, 1.5, 200)
    scale = rng.uniform(0.5, 2, size=(300, 1))
    x = scale * base + 1e-4 * rng.normal(size=(300, 200))
    y = scale[:, 0] + 0.1 * rng.normal(size=300)
    fit = fit_family_dense(x, y, ALPHAS)
    r2 = fit.train_r2[:, 0]
    assert np.all(r2[0] >= r2[1:] - 1e-12), r2
    # The R2 from the statistics is the R2 of the actual predictions.
    pred = fit.predict(x)[:, :, 0]
    tss = np.sum((y - y.mean()) ** 2)
    np.testing.assert_allclose(1 - ((pred - y[:, None]) ** 2).sum(0) / tss, r2, atol=1e-8)


def test_chunked_statistics_equal_one_shot():
    x, y = _problem(n=300, p=7)
    shift, ys = x[:50].mean(0), np.array([y.mean()])
    whole = gram_chunk(x, y, x_shift=shift, y_shift=ys).centered()
    parts = [gram_chunk(x[i:i + 37], y[i:i + 37], x_shift=shift, y_shift=ys) for i in range(0, 300, 37)]
    chunked = reduce_stats(parts).centered()
    for a, b in ((whole.sxx, chunked.sxx), (whole.sxy, chunked.sxy), (whole.x_mean, chunked.x_mean)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(a).max())
    assert chunked.n == 300
    with pytest.raises(ValueError):
        combine_stats(parts[0], gram_chunk(x[:5], y[:5], x_shift=shift + 1, y_shift=ys))


@pytest.mark.parametrize("level", [0.5, 2.0])
def test_noise_level_equals_direct_refit(level):
    x, y = _problem(seed=7)
    eg = decompose(gram_chunk(x, y, x_shift=x[:10].mean(0), y_shift=np.array([0.0])), input_dtype=x.dtype)
    derived = fit_family(eg, ALPHAS, noise_level=level)
    direct = fit_family_dense(level * x, y, ALPHAS)
    np.testing.assert_allclose(derived.coef, direct.coef, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(derived.intercept, direct.intercept, rtol=1e-9)
    np.testing.assert_allclose(derived.train_r2, direct.train_r2, rtol=1e-9)
    for a in ALPHAS:
        i = derived.names.index(f"Ridge_{a:g}")
        r = Ridge(alpha=a).fit(level * x, y)
        assert _rel(derived.coef[i, :, 0], r.coef_) < 1e-6


def test_level_zero_is_the_intercept_model():
    x, y = _problem()
    fit = fit_family(decompose(gram_chunk(x, y, x_shift=x.mean(0), y_shift=np.array([0.0]))), ALPHAS,
                     noise_level=0.0)
    assert fit.degenerate
    assert np.all(fit.coef == 0)
    np.testing.assert_allclose(fit.intercept[:, 0], y.mean())
    np.testing.assert_allclose(fit.train_r2, 0.0, atol=1e-12)


def test_tree_reduce_keeps_row_order():
    # Combines that concatenate per-row outputs (aggregate features, predictions) rely on it.
    import dask

    from daudit.engine.streaming import tree_reduce

    parts = [dask.delayed(np.arange(i * 3, i * 3 + 3)) for i in range(11)]
    for lanes in (1, 2, 3, 5):
        out = tree_reduce(parts, lambda a, b: np.concatenate([a, b]), lanes=lanes).compute()
        np.testing.assert_array_equal(out, np.arange(33))


def test_fold_graph_keeps_row_order_and_in_place_merges_equal_one_shot():
    import dask

    from daudit.engine.streaming import fold_graph
    from daudit.models.stats import gram_chunk, gram_merge

    args = [(np.arange(i * 3, i * 3 + 3),) for i in range(11)]
    for lanes in (1, 2, 3, 5):
        with dask.config.set(scheduler="threads"):
            out = fold_graph(lambda a: a.copy(), args, lambda a, b: np.concatenate([a, b]), lanes=lanes).compute()
        np.testing.assert_array_equal(out, np.arange(33))
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(90, 7)), rng.normal(size=(90, 1))
    shift, y0 = x[:10].mean(axis=0), y[:10].mean(axis=0)
    blocks = [(x[i:i + 9], y[i:i + 9]) for i in range(0, 90, 9)]
    for lanes in (1, 2, 4):
        with dask.config.set(scheduler="threads"):
            acc = fold_graph(lambda a, b: gram_chunk(a, b, x_shift=shift, y_shift=y0), blocks, gram_merge,
                             lanes=lanes).compute()
        one = gram_chunk(x, y, x_shift=shift, y_shift=y0)
        assert acc.n == 90
        for name in ("sum_x", "sum_y", "xtx", "xty", "yty"):
            np.testing.assert_allclose(getattr(acc, name), getattr(one, name), rtol=1e-12, atol=1e-12)
