"""The planted classes of issue 24 §1: leaks the earlier single cut of the linear search missed.

Shared by tests/test_planted_linear.py and bench/linear_path.py. Each class is stored as the
pipeline stores it (float32, or float64 where the class is about float64 columns).
"""

import numpy as np

__all__ = ["CASES", "planted_case"]


def _error_spectra(n, p, seed, *, rank=10, spread=0.05):
    """Low-rank error spectra like real ones: a positive template times (1 + a few smooth modes)."""
    world = np.random.default_rng(2024 + p)
    template = world.uniform(0.5, 1.5, p) * (1.0 + 0.5 * np.sin(np.linspace(0, 6, p)))
    modes = np.cumsum(world.normal(size=(rank, p)), axis=1)
    modes /= np.abs(modes).max(axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    return template, template * (1.0 + spread * rng.normal(size=(n, rank)) @ modes / np.sqrt(rank)), rng


def planted_case(name, n, p, seed):
    """(X as stored, log_g) of one planted class."""
    j = p // 3
    if name == "one_pixel_1e-5":  # errors that vary by half across spectra (mag, SNR), as real ones do
        t, x, rng = _error_spectra(n, p, seed, spread=0.5)
        y = rng.normal(size=n)
        x[:, j] += 1e-5 * t[j] * y
        return x.astype(np.float32), y
    if name == "pixel_difference_1e-5":
        t, x, rng = _error_spectra(n, p, seed, spread=0.5)
        y = rng.normal(size=n)
        x[:, j] += 1e-5 * t[j] * y
        x[:, j + 1] -= 1e-5 * t[j] * y
        return x.astype(np.float32), y
    if name == "mean_dominated_1e-6":  # the spread is 1e-6 of the mean: the rounding term binds
        t, x, rng = _error_spectra(n, p, seed, spread=1e-6)
        y = rng.normal(size=n)
        x[:, j] += 1e-6 * t[j] * y
        return x.astype(np.float32), y
    if name == "one_pixel_spans_0_1e6":
        _, x, rng = _error_spectra(n, p, seed)
        y = rng.normal(size=n)
        x[:, 0] = rng.uniform(0.0, 1e6, n)
        x[:, j] += 0.02 * y
        return x.astype(np.float32), y
    if name == "float64_columns_1e-6_1e6":
        _, x, rng = _error_spectra(n, p, seed)
        y = rng.normal(size=n)
        x[:, j] += 1e-3 * y
        return x * np.logspace(-6, 6, p), y
    raise ValueError(name)


CASES = ["one_pixel_1e-5", "pixel_difference_1e-5", "mean_dominated_1e-6", "one_pixel_spans_0_1e6",
         "float64_columns_1e-6_1e6"]


