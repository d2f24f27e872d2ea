"""Issue 24: linear numbers that no units can blind, against independent oracles.

Error-like float32 spectra with condition numbers 1e3, 1e9 and 1e16 (tests/ill_conditioned.py),
in units 10^k and with per-pixel scalings:
- OLS is cut on the column-equilibrated problem, from the floor of what the stored values resolve
  up to the earlier releases' threshold (the truncation path); the path's top step agrees with a
  float64 SVD of the equilibrated centred X truncated at the same rank to 1e-6 of the label
  spread, and every step's R2 is reproducible to 1e-3 when the data are re-rounded in other units;
- on well-posed data OLS equals scikit-learn's LinearRegression with every direction kept, and
  Ridge(alpha) equals scikit-learn's Ridge(alpha, solver="svd") on the raw array (every direction).
"""

import numpy as np
import pytest
import scipy.linalg
from ill_conditioned import error_spectra, r2, svd_oracle
from sklearn.linear_model import LinearRegression, Ridge

from daudit.core.errors import DauditInternalError
from daudit.models.linear import decompose, fit_family, resolution
from daudit.models.linear_checks import check_train_r2
from daudit.models.stats import gram_chunk, reduce_stats

ALPHAS = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0]
P, N = 48, {"train": 480, "val": 200, "test": 200}
TOL = 1e-6


def _splits(cond, scale=1.0):
    return {name: error_spectra(n, P, cond, seed=i, scale=scale) for i, (name, n) in enumerate(N.items())}


def _stats(x, y, chunk=128):
    """The pipeline's statistics: rows to float64, shifted by the first chunk's means."""
    x = np.asarray(x, dtype=np.float64)
    shift, y0 = x[:chunk].mean(0), np.array([y[:chunk].mean()])
    return reduce_stats([gram_chunk(x[i:i + chunk], y[i:i + chunk], x_shift=shift, y_shift=y0)
                         for i in range(0, len(x), chunk)])


def _fit(data, level=1.0, alphas=ALPHAS, **kw):
    x, y = data["train"]
    return fit_family(decompose(_stats(x, y), input_dtype=np.float32), alphas, noise_level=level, **kw)


def _ols_steps(fit):
    return [(i, n) for i, n in enumerate(fit.names) if n == "OLS" or n.startswith("OLS_x")]


@pytest.mark.parametrize("cond", [1e3, 1e9, 1e16])
@pytest.mark.parametrize("k", [-20, -10, 0, 6, 10, 20])
def test_path_top_matches_the_equilibrated_svd_oracle(cond, k):
    data = _splits(cond, scale=10.0**k)
    fit = _fit(data)
    res = fit.resolution
    steps = _ols_steps(fit)
    assert [n for _, n in steps][0] == "OLS" and len(steps) == len(res.path) >= 2
    ranks = [r for _, _, r in res.path]
    assert ranks == sorted(ranks, reverse=True) and ranks[0] == fit.resolved_rank
    if cond == 1e3:
        assert ranks[0] == ranks[-1] == P  # well conditioned: nothing is cut anywhere on the path
    xtr, ytr = data["train"]
    top, (_, _, top_rank) = steps[-1][0], res.path[-1]
    predict, _, _ = svd_oracle(xtr, ytr, top_rank, [None], equilibrate=True)
    for split, (x, y) in data.items():
        ours, ref = fit.predict(x)[:, top, 0], predict(x)[:, 0]
        assert np.max(np.abs(ours - ref)) <= TOL * ytr.std(), split


@pytest.mark.parametrize("cond", [1e9, 1e16])
def test_every_path_step_is_reproducible_under_re_rounding(cond):
    """The same spectra stored again in other units (x 1e4, x 3.7 on every other pixel, rounded
    to float32 again): each step keeps the same rank to within a few directions and its test R2
    to 1e-3 where it cuts at or above the rounding floor (below it the fit also uses directions
    that are the rounding itself, which re-rounding redraws: 5e-3 there, and no rank); rescaling pixels by
    powers of two changes nothing at all."""
    data = _splits(cond)
    base = _fit(data, alphas=[])
    xte, yte = data["test"]
    base_r2 = [r2(yte, base.predict(xte)[:, i, 0]) for i, _ in _ols_steps(base)]
    unit = np.where(np.arange(P) % 2 == 0, 1.0, 3.7) * 1e4
    pow2 = np.ldexp(1.0, np.arange(P) % 7 - 3)
    for scale, exact in ((unit, False), (pow2, True)):
        moved = {k: ((x.astype(np.float64) * scale).astype(np.float32), y) for k, (x, y) in data.items()}
        fit = _fit(moved, alphas=[])
        got = [r2(yte, fit.predict(moved["test"][0])[:, i, 0]) for i, _ in _ols_steps(fit)]
        assert len(got) == len(base_r2)
        if exact:
            assert [r for _, _, r in fit.resolution.path] == [r for _, _, r in base.resolution.path]
            np.testing.assert_allclose(got, base_r2, rtol=0, atol=1e-9)
        else:
            for (_, t, _), a, b in zip(base.resolution.path, got, base_r2):
                assert abs(a - b) <= (1e-3 if t >= base.resolution.data_term else 5e-3), t
            for (_, _, a), (_, t, b) in zip(fit.resolution.path, base.resolution.path):
                assert t < base.resolution.data_term or abs(a - b) <= 3, t


@pytest.mark.parametrize("k", [-20, -10, 0, 6, 10, 20])
@pytest.mark.parametrize("pixel_spread", [0, 6])
def test_well_posed_equals_scikit_learn_at_any_units(k, pixel_spread):
    """Well-posed data (float64, n > p, condition up to 1e12 after column scaling), every pixel in
    its own unit 10^-s..10^s and all of them x 10^k: OLS = LinearRegression keeping every direction."""
    rng = np.random.default_rng(5)
    n, p = 600, 40
    z = rng.normal(size=(n, p)) @ np.diag(np.logspace(0, -3, p)) @ np.linalg.qr(rng.normal(size=(p, p)))[0]
    y = z @ rng.normal(size=p) + 0.1 * rng.normal(size=n)
    x = (1.0 + z) * np.logspace(-pixel_spread, pixel_spread, p) * 10.0**k
    fit = fit_family(decompose(_stats(x, y), input_dtype=np.float64), [])
    assert fit.resolved_rank == p
    ref = LinearRegression(tol=1e-300).fit(x, y)
    xc = x - x.mean(0)
    lstsq = np.linalg.lstsq(xc / x.std(0), y - y.mean(), rcond=1e-14)[0] / x.std(0)  # a second oracle
    for i, _ in _ols_steps(fit):
        ours = fit.predict(x)[:, i, 0]
        assert np.max(np.abs(ours - (xc @ lstsq + y.mean()))) <= TOL * y.std()
        if pixel_spread == 0:
            assert np.max(np.abs(ours - ref.predict(x))) <= TOL * y.std()


@pytest.mark.parametrize("cond", [1e3, 1e9, 1e16])
def test_ridge_equals_scikit_learn_svd_on_the_raw_array(cond):
    """Ridge keeps every direction, like Ridge(solver="svd"); where scikit-learn's absolute 1e-15
    cut on singular values bites (tiny units), Ridge(c^2 alpha) on cX equals its Ridge(alpha) on X."""
    data = _splits(cond)
    xtr, ytr = (np.asarray(a, dtype=np.float64) for a in data["train"])
    fit = _fit(data)
    for a in ALPHAS:
        i = fit.names.index(f"Ridge_{a:g}")
        ref = Ridge(alpha=a, solver="svd").fit(xtr, ytr)
        for x, _ in data.values():
            assert np.max(np.abs(fit.predict(x)[:, i, 0] - ref.predict(x.astype(np.float64)))) <= TOL * ytr.std(), a
    for k in (-20, 20):
        c = 10.0**k
        fit_c = fit_family(decompose(_stats(xtr * c, ytr), input_dtype=np.float32), [a * c**2 for a in ALPHAS])
        xv = data["val"][0].astype(np.float64)
        for a in ALPHAS:
            ref = Ridge(alpha=a, solver="svd").fit(xtr, ytr)
            i = fit_c.names.index(f"Ridge_{a * c**2:g}")
            assert np.max(np.abs(fit_c.predict(xv * c)[:, i, 0] - ref.predict(xv))) <= TOL * ytr.std(), (k, a)


@pytest.mark.parametrize("cond", [1e3, 1e9, 1e16])
@pytest.mark.parametrize("k", [-10, 0, 10])
def test_ols_never_below_ridge_and_statistics_match_the_predictions(cond, k):
    data = _splits(cond, scale=10.0**k)
    fit = _fit(data)
    xtr, ytr = data["train"]
    pred = fit.predict(xtr)[:, :, 0]
    got = np.array([r2(ytr, pred[:, j]) for j in range(len(fit.names))])
    ridge = [j for j, n in enumerate(fit.names) if n.startswith("Ridge")]
    assert got[0] >= got[ridge].max() - 1e-9, dict(zip(fit.names, got))
    # the statistics' train R2 is within each model's stated tolerance of its predictions'
    assert np.all(np.abs(got - fit.train_r2[:, 0]) <= fit.train_r2_tolerance), (got, fit.train_r2[:, 0])
    check_train_r2(1.0, fit.names, got, fit.train_r2[:, 0], tol=fit.train_r2_tolerance)


def test_noise_levels_share_the_path():
    data = _splits(1e9)
    fits = {lv: _fit(data, level=lv) for lv in (0.5, 1.0, 3.0)}
    assert len({tuple(r for _, _, r in f.resolution.path) for f in fits.values()}) == 1
    xv = data["val"][0].astype(np.float64)
    for i, _ in _ols_steps(fits[1.0]):
        ols = [f.predict(lv * xv)[:, i, 0] for lv, f in fits.items()]
        assert np.max(np.abs(ols[0] - ols[1])) <= TOL * data["train"][1].std()
        assert np.max(np.abs(ols[2] - ols[1])) <= TOL * data["train"][1].std()


def test_floor_and_path_follow_the_stated_bounds():
    """The floor is the Gram term (every direction float64 resolves is kept); the rounding term
    is counted, not cut; the path climbs by x10 up to the earlier releases' cut, so the old model
    is still a step of it."""
    fit = _fit(_splits(1e16))
    res = fit.resolution
    assert res.threshold == res.gram_term < res.data_term
    assert res.rounding_rank < res.rank
    thresholds = [t for _, t, _ in res.path]
    np.testing.assert_allclose(np.diff(np.log10(thresholds)), 1.0, rtol=1e-12)
    assert thresholds[-2] < res.previous_threshold <= thresholds[-1]
    assert res.previous_threshold / res.threshold > 1e3  # the earlier cut was far above the floor


def test_ridge_below_accuracy_is_flagged():
    data = _splits(1e9, scale=1e8)  # eigenvalues ~1e16 x theirs at unit scale: every alpha far below
    fit = _fit(data)
    ridge = [j for j, n in enumerate(fit.names) if n.startswith("Ridge")]
    assert fit.below_resolution[ridge].all() and not fit.below_resolution[0]
    assert any("exact Ridge" in n for n in fit.notes)


def test_train_r2_mismatch_is_an_internal_error():
    names = ["OLS", "Ridge_1"]
    assert check_train_r2(1.0, names, [0.5, 0.4], [0.5 + 4e-7, 0.4])["max_abs_diff"] == pytest.approx(4e-7)
    with pytest.raises(DauditInternalError, match="Ridge_1"):
        check_train_r2(1.0, names, [0.5, 0.4], [0.5, 0.4 + 3e-6])
    with pytest.raises(DauditInternalError):
        check_train_r2(1.0, names, [0.5, float("nan")], [0.5, 0.4])
    # a per-model tolerance: a deep cut may differ more, a Ridge may not
    check_train_r2(1.0, names, [0.5, 0.4], [0.5 + 1e-3, 0.4], tol=[2e-3, 1e-6])
    with pytest.raises(DauditInternalError, match="OLS"):
        check_train_r2(1.0, names, [0.5, 0.4], [0.5 + 1e-3, 0.4], tol=[1e-4, 1e-6])


@pytest.mark.parametrize("k", [-10, 0, 6])
def test_deleak_ridge_keeps_every_direction(k):
    """deleak's standardised Ridge: the train R2 it reports is its coefficients' R2, and it equals
    the oracle's Ridge on the standardised features with every direction."""
    from daudit.deleak.evaluate import ridge_standardized_path

    data = _splits(1e16, scale=10.0**k)
    x32, y = data["train"]
    y2 = np.column_stack([y, -2 * y + 1])
    stats = _stats(x32, y2).centered()
    fits = ridge_standardized_path(stats, ALPHAS)
    x = x32.astype(np.float64)
    scale = x.std(axis=0)
    predict, _, _ = svd_oracle((x - x.mean(0)) / scale, y, P, ALPHAS)
    for i, fit in enumerate(fits):
        pred = fit.predict(x)
        np.testing.assert_allclose([r2(y2[:, j], pred[:, j]) for j in range(2)], fit.train_r2, rtol=0, atol=TOL)
        for xx, _ in data.values():
            ref = predict((xx.astype(np.float64) - x.mean(0)) / scale)[:, i]
            assert np.max(np.abs(fit.predict(xx)[:, 0] - ref)) <= TOL * y.std(), ALPHAS[i]


def test_gpu_decompose_builds_the_same_record(monkeypatch):
    """decompose_cuda goes through the same record builder (floor and path included); the device
    is replaced by numpy here, so this runs without a GPU (tests/test_gpu.py compares on one)."""
    import daudit.models.gpu as gpu

    class NumpyOps:
        to_dev = staticmethod(np.asarray)
        to_host = staticmethod(np.asarray)
        # the CPU path's own LAPACK driver, so the two records agree to the bit
        eigh = staticmethod(lambda a: scipy.linalg.eigh(a, driver="evd"))

    monkeypatch.setattr(gpu, "_ops", lambda name=None: NumpyOps())
    stats = _stats(*_splits(1e9)["train"])
    cpu, dev = decompose(stats, input_dtype=np.float32), gpu.decompose_cuda(stats, input_dtype=np.float32)
    assert resolution(dev) == resolution(cpu)
    assert dev.input_roundoff == cpu.input_roundoff == 2.0**-24
