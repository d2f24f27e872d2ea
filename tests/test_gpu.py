"""The CUDA backend equals the CPU path to 1e-8 relative (skipped without a GPU)."""

import numpy as np
import pytest

from daudit.models.gpu import GramAccumulator, backend_name, decompose_cuda
from daudit.models.linear import decompose, fit_family
from daudit.models.stats import gram_chunk, reduce_stats

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(backend_name() is None, reason="no CUDA device")]


def test_gpu_statistics_and_fits_equal_cpu():
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(3000, 64)) * rng.uniform(0.5, 2, 64) + 2).astype(np.float32)
    y = x.astype(np.float64) @ rng.normal(size=64) + rng.normal(size=3000)
    shift, ys = x[:500].mean(0).astype(np.float64), np.array([y[:500].mean()])
    cpu = reduce_stats([gram_chunk(x[i:i + 500], y[i:i + 500], x_shift=shift, y_shift=ys) for i in range(0, 3000, 500)])
    acc = GramAccumulator(shift, ys)
    for i in range(0, 3000, 500):
        acc.add(x[i:i + 500], y[i:i + 500])
    gpu = acc.result()
    np.testing.assert_allclose(gpu.xtx, cpu.xtx, rtol=1e-10)
    fc = fit_family(decompose(cpu), [0.01, 1.0, 100.0])
    fg = fit_family(decompose_cuda(gpu), [0.01, 1.0, 100.0])
    assert np.max(np.abs(fg.coef - fc.coef)) / np.max(np.abs(fc.coef)) < 1e-8
    assert np.max(np.abs(fg.intercept - fc.intercept)) / np.max(np.abs(fc.intercept)) < 1e-8
