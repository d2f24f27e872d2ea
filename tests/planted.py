"""Planted pfsspec datasets for the sanity-check tests (p=256 pixels, a few thousand rows).

Each maker has the `tests.pfsspec_factory.write_split_set` signature ``maker(n, p, seed=)`` and
returns ``(error (n, p) float32, log_g (n,))``. The template and the planted pixels come from a
fixed ``WORLD_SEED`` so that train, val and test share them.
"""

from __future__ import annotations

import numpy as np
from pfsspec_factory import write_pfsspec, write_spec

__all__ = ["leak_pixels", "band_pixels", "wave_grid", "pixel_leak", "scale_leak", "null_error", "permuted_pixel_leak",
           "write_planted", "band_leak", "N_LEAK", "LEAK_BAND", "label_mask", "random_mask"]

WORLD_SEED = 2024
N_LEAK = 40


WAVE_RANGE = (7100.0, 8850.0)  # the grid of `pfsspec_factory.write_pfsspec`
LEAK_BAND = (7594.0, 7700.0)  # the planted region: the telluric O2 A band (from the literature, not the catalogue)


def wave_grid(p: int) -> np.ndarray:
    """The wavelengths (Å) of the planted files' p pixels."""
    return np.linspace(*WAVE_RANGE, p)


def _world(p):
    """(template (p,), the 40 leak pixels): every pixel of LEAK_BAND, then random others."""
    w = np.random.default_rng(WORLD_SEED)
    template = w.uniform(0.5, 1.5, p)
    wave = wave_grid(p)
    band = np.flatnonzero((wave >= LEAK_BAND[0]) & (wave <= LEAK_BAND[1]))[:N_LEAK]
    rest = np.setdiff1d(np.arange(p), band)
    others = w.choice(rest, N_LEAK - len(band), replace=False)
    return template, np.sort(np.concatenate([band, others]))


def leak_pixels(p: int) -> np.ndarray:
    """The 40 pixels that carry the planted leak in `pixel_leak`: the O2 A band's and random others."""
    return _world(p)[1]


def band_pixels(p: int) -> np.ndarray:
    """The planted pixels inside LEAK_BAND (a contiguous run)."""
    wave = wave_grid(p)
    pix = leak_pixels(p)
    return pix[(wave[pix] >= LEAK_BAND[0]) & (wave[pix] <= LEAK_BAND[1])]


def _base(n, p, rng, template):
    scale = rng.uniform(0.8, 1.2, n)
    return template * scale[:, None] * (1.0 + 0.02 * rng.normal(size=(n, p)))


def pixel_leak(n, p, *, seed=0, c=0.05):
    """error = template * scale + c * log_g at 40 fixed pixels (scale independent of log_g)."""
    template, pix = _world(p)
    rng = np.random.default_rng(seed)
    logg = rng.uniform(1.0, 5.0, n)
    err = _base(n, p, rng, template)
    err[:, pix] += c * logg[:, None]
    return err.astype(np.float32), logg


def scale_leak(n, p, *, seed=0):
    """error = s(log_g) * template: the leak is carried by the overall scale only."""
    template, _ = _world(p)
    rng = np.random.default_rng(seed)
    logg = rng.uniform(1.0, 5.0, n)
    s = 1.0 + 0.1 * (logg - 3.0) + 0.03 * rng.normal(size=n)
    err = template * s[:, None] * (1.0 + 0.02 * rng.normal(size=(n, p)))
    return err.astype(np.float32), logg


def null_error(n, p, *, seed=0):
    """error independent of log_g."""
    template, _ = _world(p)
    rng = np.random.default_rng(seed)
    logg = rng.uniform(1.0, 5.0, n)
    return _base(n, p, rng, template).astype(np.float32), logg


def permuted_pixel_leak(n, p, *, seed=0):
    """`pixel_leak` with its labels permuted across rows: the same error vectors, no leak left."""
    err, logg = pixel_leak(n, p, seed=seed)
    return err, np.random.default_rng(1000 + seed).permutation(logg)


def band_leak(lo: float, hi: float, *, c: float = 0.05):
    """A maker: `pixel_leak`'s leak on the (at most 40) pixels with wavelength in [lo, hi] Å only."""

    def maker(n, p, *, seed=0):
        template, _ = _world(p)
        wave = wave_grid(p)
        pix = np.flatnonzero((wave >= lo) & (wave <= hi))[:N_LEAK]
        rng = np.random.default_rng(seed)
        logg = rng.uniform(1.0, 5.0, n)
        err = _base(n, p, rng, template)
        err[:, pix] += c * logg[:, None]
        return err.astype(np.float32), logg

    return maker


SANITY_TEST_SETTINGS = ("sanity: {n_permutations_linear: 200, n_permutations_lightgbm: 20, n_bootstrap: 1000, "
                        "lightgbm_rows: 1000, lightgbm_permutation_rows: 500, n_group_shuffles: 5}")


def label_mask(logg, p, rng):
    """A file mask that leaks: pixels 0-9 are masked far more often when log_g > 3.5."""
    m = np.zeros((len(logg), p), dtype=np.uint8)
    prob = np.where(logg > 3.5, 0.5, 0.02)
    m[:, :10] = rng.uniform(size=(len(logg), 10)) < prob[:, None]
    return m


def random_mask(logg, p, rng):
    """A file mask independent of log_g (1% of pixels 0-19)."""
    m = np.zeros((len(logg), p), dtype=np.uint8)
    m[:, :20] = rng.uniform(size=(len(logg), 20)) < 0.01
    return m


def write_planted(root, maker, *, n_train=2000, n_val=500, n_test=500, p=256, seed=0, mask=None,
                  scheduler="synchronous", extra=SANITY_TEST_SETTINGS):
    """Write a planted split set (pfsspec layout, optional file mask) and its spec; returns the spec path.

    mask : None (no mask array in the files) or ``mask(logg, p, rng) -> (n, p) uint8``.
    """
    paths = {}
    for i, (name, n) in enumerate((("train", n_train), ("val", n_val), ("test", n_test))):
        err, logg = maker(n, p, seed=seed + i)
        rng = np.random.default_rng(100 + seed + i)
        labels = {"T_eff": rng.uniform(3750, 6000, n), "log_g": logg, "M_H": rng.uniform(-2.5, 0.75, n),
                  "mag": rng.uniform(20.5, 22.5, n), "snr": rng.uniform(1.0, 12.0, n)}
        m = None if mask is None else mask(logg, p, rng)
        paths[name] = write_pfsspec(root / "data" / name / "dataset.h5", err, labels, mask=m)
    return write_spec(root / "spec.yaml", paths, output_dir=root / "out", chunk_rows=256,
                      scheduler=scheduler, extra=extra)
