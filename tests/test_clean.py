"""The NaN fill of the audited error (`daudit.data.clean.fill_nan_nearest`) against a per-pixel loop."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daudit.data.clean import clean_error, fill_nan_nearest


def _oracle(block):
    """Nearest finite pixel of the same row, ties to the left, by brute force."""
    out = np.array(block, dtype=np.float32, copy=True)
    for r, row in enumerate(np.asarray(block, dtype=np.float32)):
        good = np.flatnonzero(np.isfinite(row))
        for c in np.flatnonzero(~np.isfinite(row)):
            if good.size:
                d = np.abs(good - c)
                out[r, c] = row[good[np.flatnonzero(d == d.min())[0]]]  # the left one on a tie
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 6), p=st.integers(1, 12), frac=st.floats(0, 1), seed=st.integers(0, 2**16))
def test_fill_matches_brute_force(n, p, frac, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p)).astype(np.float32)
    x[rng.uniform(size=(n, p)) < frac] = np.nan
    x[rng.uniform(size=(n, p)) < frac / 4] = np.inf
    x[rng.uniform(size=(n, p)) < frac / 4] = -np.inf
    before = x.copy()
    np.testing.assert_array_equal(fill_nan_nearest(x), _oracle(x))
    np.testing.assert_array_equal(x, before)  # the input is not modified


def test_fill_edges_runs_and_empty_rows():
    nan = np.nan
    x = np.array([[nan, nan, 1, nan, nan, nan, 2, nan],  # runs at both edges, a tie in the middle
                  [nan, nan, nan, nan, nan, nan, nan, nan],  # no finite pixel: stays NaN
                  [3, nan, nan, nan, nan, nan, nan, nan]], dtype=np.float32)
    got = fill_nan_nearest(x)
    np.testing.assert_array_equal(got[0], [1, 1, 1, 1, 1, 2, 2, 2])
    assert np.isnan(got[1]).all()
    np.testing.assert_array_equal(got[2], [3] * 8)
    np.testing.assert_array_equal(clean_error(x)[1], np.zeros(8, dtype=np.float32))
    assert fill_nan_nearest(np.empty((0, 5), dtype=np.float32)).shape == (0, 5)
