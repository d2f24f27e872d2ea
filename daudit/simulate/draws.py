"""Random draws of one split, made up front so that spectra do not depend on the chunk size.

All randomness of a split comes from one ``np.random.Generator`` in a fixed order and is
O(n_rows) in memory (labels, observing conditions, sparse positions of cosmic rays and NaN
pixels); the per-pixel work in :mod:`daudit.simulate.physics` is then deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "LABEL_RANGES",
    "COSMIC_RAY_RATE",
    "NAN_ERROR_RATE",
    "SplitDraws",
    "draw_split",
]

# Labels drawn from scaled Beta distributions (name -> (low, high, a, b)).
LABEL_RANGES = {
    "T_eff": (3750.0, 6000.0, 1.6, 1.6),  # K
    "log_g": (1.0, 5.0, 1.4, 1.4),  # dex (cgs)
    "M_H": (-2.5, 0.75, 3.0, 1.8),  # dex
}
MAG_RANGE = (20.5, 22.5)  # HSC-i, AB, uniform
SEEING_RANGE = (0.5, 1.5, 2.0, 4.0)  # arcsec FWHM at zenith, scaled Beta (mode 0.75")
ZENITH_RANGE = (0.0, 45.0)  # degrees, uniform
SKY_SCALE_RANGE = (0.85, 1.15)  # night-to-night sky brightness factor, uniform
COSMIC_RAY_RATE = 1e-3  # mean fraction of masked cosmic-ray pixels per spectrum
NAN_ERROR_RATE = 1e-4  # mean fraction of NaN error pixels per spectrum


@dataclass(frozen=True)
class SplitDraws:
    """Everything random about one split.

    Attributes
    ----------
    labels : dict of str -> float64 (n,)
        T_eff (K), log_g, M_H, a_M, C_M (dex), mag (AB), seeing (arcsec),
        target_zenith_angle (deg).
    sky_scale : float64 (n,)
        Sky brightness factor of each observation.
    cr_rows, cr_pix : int64 (n_cr,)
        Cosmic-ray pixels (row within the split, pixel), sorted by row.
    nan_rows, nan_pix : int64 (n_nan,)
        Error pixels set to NaN, sorted by row.
    """

    labels: dict
    sky_scale: np.ndarray
    cr_rows: np.ndarray
    cr_pix: np.ndarray
    nan_rows: np.ndarray
    nan_pix: np.ndarray

    @property
    def n_rows(self) -> int:
        return int(self.sky_scale.size)

    def rows(self, start: int, stop: int) -> "SplitDraws":
        """Return the draws of rows ``start:stop``; sparse rows are re-based to ``start``."""
        lo, hi = np.searchsorted(self.cr_rows, [start, stop])
        nlo, nhi = np.searchsorted(self.nan_rows, [start, stop])
        return SplitDraws(
            labels={k: v[start:stop] for k, v in self.labels.items()},
            sky_scale=self.sky_scale[start:stop],
            cr_rows=self.cr_rows[lo:hi] - start,
            cr_pix=self.cr_pix[lo:hi],
            nan_rows=self.nan_rows[nlo:nhi] - start,
            nan_pix=self.nan_pix[nlo:nhi],
        )


def _scaled_beta(rng, n, low, high, a, b):
    return low + (high - low) * rng.beta(a, b, n)


def _sparse_positions(rng, n_rows, n_pix, rate):
    counts = rng.poisson(rate * n_pix, n_rows)
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), counts)
    pix = rng.integers(0, n_pix, rows.size, dtype=np.int64)
    return rows, pix


def draw_split(rng: np.random.Generator, n_rows: int, *, n_pix: int) -> SplitDraws:
    """Draw labels, observing conditions and sparse defects for ``n_rows`` spectra.

    Parameters
    ----------
    rng : numpy.random.Generator
        The split's generator; draws are made in a fixed order.
    n_rows : int
        Number of spectra.
    n_pix : int
        Pixels per spectrum (positions of cosmic rays and NaNs).

    Returns
    -------
    SplitDraws
    """
    labels = {
        name: _scaled_beta(rng, n_rows, lo, hi, a, b)
        for name, (lo, hi, a, b) in LABEL_RANGES.items()
    }
    labels["a_M"] = np.clip(rng.normal(0.0, 0.08, n_rows), -0.25, 0.25)
    labels["C_M"] = np.clip(rng.normal(0.0, 0.08, n_rows), -0.25, 0.25)
    labels["mag"] = rng.uniform(*MAG_RANGE, n_rows)
    labels["seeing"] = _scaled_beta(rng, n_rows, *SEEING_RANGE)
    labels["target_zenith_angle"] = rng.uniform(*ZENITH_RANGE, n_rows)
    sky_scale = rng.uniform(*SKY_SCALE_RANGE, n_rows)
    cr_rows, cr_pix = _sparse_positions(rng, n_rows, n_pix, COSMIC_RAY_RATE)
    nan_rows, nan_pix = _sparse_positions(rng, n_rows, n_pix, NAN_ERROR_RATE)
    return SplitDraws(labels, sky_scale, cr_rows, cr_pix, nan_rows, nan_pix)
