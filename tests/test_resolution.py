"""Issue 14: linear numbers that hold at any units, against an independent float64 SVD oracle.

Error-like float32 spectra with condition numbers 1e3, 1e9 and 1e16, scaled by 10^k: daudit's
models (streamed statistics, one eigh, resolution threshold) agree with numpy's SVD of the
centred X truncated at the same rank (and with scikit-learn where every direction is resolved)
to 1e-6 of the label spread in every prediction and 1e-6 in every R2.
"""

import numpy as np
import pytest
import scipy.linalg
from ill_conditioned import error_spectra, r2, svd_oracle
from sklearn.linear_model import LinearRegression, Ridge

from daudit.core.errors import DauditInternalError
from daudit.models.linear import decompose, fit_family, resolution
from daudit.models.linear_checks import check_train_r2
from daudit.models.stats import chunk_stats, reduce_stats

ALPHAS = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0]
P, N = 48, {"train": 480, "val": 200, "test": 200}
TOL = 1e-6


def _splits(cond, scale=1.0):
    return {name: error_spectra(n, P, cond, seed=i, scale=scale) for i, (name, n) in enumerate(N.items())}


def _stats(x32, y, chunk=128):
    """The pipeline's statistics: float32 rows to float64, shifted by the first chunk's means."""
    x = x32.astype(np.float64)
    shift, y0 = x[:chunk].mean(0), np.array([y[:chunk].mean()])
    return reduce_stats([chunk_stats(x[i:i + chunk], y[i:i + chunk], x_shift=shift, y_shift=y0)
                         for i in range(0, len(x), chunk)])


def _fit(data, level=1.0, **kw):
    x, y = data["train"]
    return fit_family(decompose(_stats(x, y), input_dtype=x.dtype), ALPHAS, noise_level=level, **kw)


@pytest.mark.parametrize("cond", [1e3, 1e9, 1e16])
@pytest.mark.parametrize("k", [-20, -10, 0, 6, 10, 20])
def test_family_matches_truncated_svd_oracle(cond, k):
    data = _splits(cond, scale=10.0**k)
    fit = _fit(data)
    r = fit.resolved_rank
    assert 1 <= r <= P
    if cond == 1e3:
        assert r == P  # well conditioned: nothing is cut
    if cond == 1e16:
        assert r < P // 2  # most directions are below float32 / Gram resolution: expected
    xtr, ytr = data["train"]
    predict, dof, _ = svd_oracle(xtr, ytr, r, [None] + ALPHAS)
    spread = ytr.std()
    np.testing.assert_allclose(fit.effective_dof, dof, rtol=1e-9)
    for split, (x, y) in data.items():
        ours, ref = fit.predict(x)[:, :, 0], predict(x)
        assert np.max(np.abs(ours - ref)) <= TOL * spread, (split, np.max(np.abs(ours - ref)) / spread)
        for j in range(ours.shape[1]):
            assert abs(r2(y, ours[:, j]) - r2(y, ref[:, j])) <= TOL, (split, fit.names[j])
    # the train R2 daudit reports (from the statistics) is the R2 of the reported coefficients
    pred_tr = fit.predict(xtr)[:, :, 0]
    np.testing.assert_allclose([r2(ytr, pred_tr[:, j]) for j in range(len(fit.names))], fit.train_r2[:, 0],
                               rtol=0, atol=TOL)
    assert np.all(fit.train_r2[0] >= fit.train_r2[1:] - 1e-12)  # OLS >= every Ridge, by construction


@pytest.mark.parametrize("k", [-20, -10, 0, 6, 10, 20])
def test_all_resolved_equals_scikit_learn(k):
    data = _splits(1e3, scale=10.0**k)
    fit = _fit(data)
    assert fit.resolved_rank == P
    xtr, ytr = (a.astype(np.float64) for a in data["train"])
    spread = ytr.std()
    models = [LinearRegression().fit(xtr, ytr)] + [Ridge(alpha=a, solver="svd").fit(xtr, ytr) for a in ALPHAS]
    for x, y in data.values():
        ours = fit.predict(x)[:, :, 0]
        for j, model in enumerate(models):
            ref = model.predict(x.astype(np.float64))
            assert np.max(np.abs(ours[:, j] - ref)) <= TOL * spread, fit.names[j]
            assert abs(r2(y, ours[:, j]) - r2(y, ref)) <= TOL


@pytest.mark.parametrize("cond", [1e9, 1e16])
def test_ols_invariant_to_units_and_ridge_alpha_scales(cond):
    """The same stored values in other units (x 10^k, k from -20 to 20): OLS predictions move by
    less than 1e-6 of the label spread; Ridge(alpha) on c X is Ridge(alpha / c^2) on X."""
    data = _splits(cond)
    x32, y = data["train"]
    xv = data["val"][0].astype(np.float64)
    base = fit_family(decompose(_stats(x32, y)), [1.0])
    base_pred = base.predict(xv)[:, :, 0]
    for k in range(-20, 21, 4):
        c = 10.0**k
        eg = decompose(_stats(x32.astype(np.float64) * c, y), input_dtype=np.float32)
        assert resolution(eg).rank == base.resolved_rank
        scaled = fit_family(eg, [1.0])
        pred = scaled.predict(xv * c)[:, :, 0]
        assert np.max(np.abs(pred[:, 0] - base_pred[:, 0])) <= TOL * y.std(), k
        same = fit_family(decompose(_stats(x32, y)), [1.0 / c**2])  # Ridge(1) on cX = Ridge(1/c^2) on X
        assert np.max(np.abs(pred[:, 1] - same.predict(xv)[:, 1, 0])) <= TOL * y.std(), k


def test_noise_levels_share_the_resolved_directions():
    data = _splits(1e9)
    fits = {lv: _fit(data, level=lv) for lv in (0.5, 1.0, 3.0)}
    assert len({f.resolved_rank for f in fits.values()}) == 1
    xv = data["val"][0]
    ols = [f.predict(lv * xv.astype(np.float64))[:, 0, 0] for lv, f in fits.items()]
    assert np.max(np.abs(ols[0] - ols[1])) <= TOL * data["train"][1].std()
    assert np.max(np.abs(ols[2] - ols[1])) <= TOL * data["train"][1].std()


def test_threshold_factor_moves_the_rank_both_ways():
    data = _splits(1e16)
    fits = {f: _fit(data, threshold_factor=f) for f in (0.1, 1.0, 10.0)}
    ranks = [fits[f].resolved_rank for f in (0.1, 1.0, 10.0)]
    assert ranks[0] > ranks[1] > ranks[2]
    for f, fit in fits.items():
        assert fit.resolution.threshold == pytest.approx(f * fits[1.0].resolution.threshold, rel=1e-12)


def test_ridge_below_resolution_is_flagged_and_close_to_ols():
    data = _splits(1e9, scale=1e8)  # eigenvalues ~1e16 x theirs at unit scale: tau far above every alpha
    fit = _fit(data)
    assert fit.below_resolution[1:].all() and not fit.below_resolution[0]
    shrink = max(ALPHAS) / fit.resolution.threshold
    assert shrink < 1e-3
    xv = data["val"][0]
    pred = fit.predict(xv)[:, :, 0]
    # on the resolved directions Ridge differs from OLS by a relative shrinkage below alpha / tau
    assert np.max(np.abs(pred[:, 1:] - pred[:, :1])) <= 2 * shrink * np.max(np.abs(pred[:, :1] - pred[:, :1].mean()))
    assert any("below the resolution threshold" in n for n in fit.notes)


def test_train_r2_mismatch_is_an_internal_error():
    names = ["OLS", "Ridge_1"]
    assert check_train_r2(1.0, names, [0.5, 0.4], [0.5 + 4e-7, 0.4])["max_abs_diff"] == pytest.approx(4e-7)
    with pytest.raises(DauditInternalError, match="Ridge_1"):
        check_train_r2(1.0, names, [0.5, 0.4], [0.5, 0.4 + 3e-6])
    with pytest.raises(DauditInternalError):
        check_train_r2(1.0, names, [0.5, float("nan")], [0.5, 0.4])


@pytest.mark.parametrize("k", [-10, 0, 6])
def test_deleak_ridge_uses_the_same_threshold(k):
    """deleak's standardised Ridge: the train R2 it reports is its coefficients' R2, and it equals
    the oracle's Ridge on the standardised features truncated at the audit's rule."""
    from daudit.deleak.evaluate import ridge_standardized_path

    data = _splits(1e16, scale=10.0**k)
    x32, y = data["train"]
    y2 = np.column_stack([y, -2 * y + 1])
    stats = _stats(x32, y2).centered()
    fits = ridge_standardized_path(stats, ALPHAS)
    x = x32.astype(np.float64)
    scale = x.std(axis=0)
    zst = _stats(x / scale, y)  # the standardised input (values as precise as the float32 error)
    rank = resolution(decompose(zst, input_dtype=np.float32)).rank
    assert rank < P // 2
    predict, _, _ = svd_oracle((x - x.mean(0)) / scale, y, rank, ALPHAS)
    for i, fit in enumerate(fits):
        pred = fit.predict(x)
        np.testing.assert_allclose([r2(y2[:, j], pred[:, j]) for j in range(2)], fit.train_r2, rtol=0, atol=TOL)
        for xx, _ in data.values():
            ref = predict((xx.astype(np.float64) - x.mean(0)) / scale)[:, i]
            assert np.max(np.abs(fit.predict(xx)[:, 0] - ref)) <= TOL * y.std(), ALPHAS[i]


def test_gpu_decompose_builds_the_same_record(monkeypatch):
    """decompose_cuda goes through the same record builder (threshold terms included); the device
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
