"""Planted pfsspec datasets for the sanity-check tests (p=256 pixels, a few thousand rows).

Each maker has the `tests.pfsspec_factory.write_split_set` signature ``maker(n, p, seed=)`` and
returns ``(error (n, p) float32, log_g (n,))``. The template and the planted pixels come from a
fixed ``WORLD_SEED`` so that train, val and test share them.
"""

from __future__ import annotations

import numpy as np
from pfsspec_factory import write_pfsspec, write_spec

__all__ = ["leak_pixels", "pixel_leak", "scale_leak", "null_error", "write_planted", "N_LEAK",
           "label_mask", "random_mask"]

WORLD_SEED = 2024
N_LEAK = 40


def _world(p):
    w = np.random.default_rng(WORLD_SEED)
    return w.uniform(0.5, 1.5, p), np.sort(w.choice(p, N_LEAK, replace=False))


def leak_pixels(p: int) -> np.ndarray:
    """The 40 pixels that carry the planted leak in `pixel_leak`."""
    return _world(p)[1]


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
