"""The figures' real inputs computed from a simulated sample of a given size (3k, 20k rows).

Not a full audit: the error spectra of ``n_rows`` stars (``N_PIXELS`` pixels, sky spikes and a
telluric band, a per-star noise scale) with a diffuse planted leak (log_g scales the error at the
stellar lines); OLS and Ridge are fitted on the train rows, with the true labels and with
``N_PERM`` permutations of them (one eigendecomposition of the train Gram serves every fit). From those fits come what the pipeline hands the figures:
metrics rows (`plot_r2_models`), |coef| x std importance with its family-wise per-pixel null
threshold (`plot_importance_spectrum`, `plot_importance_hist`), and a ``sanity`` dict with the
original, shuffled and permuted test R² and bootstrap intervals (`plot_sanity_checks`). Small
samples give what makes the figures hard: a null far above every pixel, very negative OLS R².
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score

from daudit.output.report import DEFAULT_LINES

N_PIXELS = 512
N_PERM = 19
ALPHAS = (1e-4, 1e-2, 1.0)
LEVELS = (0.0, 0.5, 1.0)
WAVE = np.linspace(7100.0, 8850.0, N_PIXELS)


def _spectra(n, rng):
    """(error (n, p) float32, log_g (n,)): continuum, sky spikes, a telluric band, stellar-line leak."""
    base = 0.02 + 0.005 * (WAVE - WAVE[0]) / (WAVE[-1] - WAVE[0])
    for centre in rng.uniform(WAVE[0], WAVE[-1], 25):
        base = base + rng.uniform(0.01, 0.08) * np.exp(-0.5 * ((WAVE - centre) / 3.0) ** 2)
    base = base * np.where((WAVE > 7594) & (WAVE < 7700), 8.0, 1.0)  # O2 A: the error spikes there
    lines = np.zeros(N_PIXELS)
    for _, centre in DEFAULT_LINES:
        lines += np.exp(-0.5 * ((WAVE - centre) / 4.0) ** 2)
    logg = rng.normal(3.0, 1.1, n)
    scale = np.exp(rng.normal(0.0, 0.4, (n, 1)))  # per-star noise level (magnitude, SNR)
    leak = 1.0 + 0.6 * (logg[:, None] - 3.0) * lines[None, :]
    err = base[None, :] * scale * leak * (1.0 + 0.05 * rng.standard_normal((n, N_PIXELS)))
    return err.astype(np.float32), logg


def _threshold(null):
    """Family-wise per-pixel threshold: null mean + c * null std, c the 95th percentile of the
    per-permutation maximum of the standardised null (the rule of `daudit.checks.importance_null`)."""
    mean, std = null.mean(axis=1), null.std(axis=1) + 1e-300
    c = np.quantile(((null - mean[:, None]) / std[:, None]).max(axis=0), 0.95)
    return mean + c * std


def _interval(y, pred, rng, n=200):
    idx = rng.integers(0, len(y), (n, len(y)))
    scores = [r2_score(y[i], pred[i]) for i in idx]
    return [float(np.quantile(scores, 0.025)), float(np.quantile(scores, 0.975))]


class _Fits:
    """Ridge / OLS of many label columns from one eigendecomposition of the centred train Gram."""

    def __init__(self, x, y):
        self.mx, self.my = x.mean(axis=0), y.mean(axis=0)
        xc = (x - self.mx).astype(np.float64)
        self.vals, self.vecs = np.linalg.eigh(xc.T @ xc)
        self.proj = self.vecs.T @ (xc.T @ (y - self.my))  # (p, k)

    def coef(self, alpha):
        """(p, k) coefficients; alpha 0: OLS on the directions above float64 resolution."""
        if alpha == 0:
            keep = self.vals > self.vals.max() * 1e-12
            inv = np.where(keep, 1.0 / np.where(keep, self.vals, 1.0), 0.0)
        else:
            inv = 1.0 / (self.vals + alpha)
        return self.vecs @ (inv[:, None] * self.proj)

    def predict(self, x, coef):
        return (x - self.mx) @ coef + self.my


def _r2(y, pred):
    """R² of each column of pred (n, k) against y (n,): 1 - RSS / TSS."""
    pred = pred.reshape(len(y), -1)
    return 1.0 - ((pred - y[:, None]) ** 2).sum(0) / ((y - y.mean()) ** 2).sum()


def _interval(y, pred, rng, n=200):
    idx = rng.integers(0, len(y), (n, len(y)))
    scores = [_r2(y[i], pred[i])[0] for i in idx]
    return [float(np.quantile(scores, 0.025)), float(np.quantile(scores, 0.975))]


@functools.lru_cache(maxsize=None)
def sample_inputs(n_rows: int, seed: int = 0) -> dict:
    """Figure inputs from a sample of ``n_rows`` (80 / 10 / 10 % train / val / test)."""
    rng = np.random.default_rng(seed)
    x, y = _spectra(n_rows, rng)
    n_tr, n_va = int(0.8 * n_rows), int(0.1 * n_rows)
    parts = {"train": slice(0, n_tr), "val": slice(n_tr, n_tr + n_va), "test": slice(n_tr + n_va, None)}
    xtr, ytr = x[parts["train"]], y[parts["train"]]
    labels = np.column_stack([ytr] + [rng.permutation(ytr) for _ in range(N_PERM)])
    fits = _Fits(xtr, labels)
    names = {"OLS": 0.0, **{f"Ridge_{a:g}": a for a in ALPHAS}}
    rows, coefs = [], {}
    for level in LEVELS:
        for name, alpha in names.items():
            row = {"noise_level": level, "model": name, "degenerate": level == 0}
            # X_L = L x: Ridge(alpha) at level L is Ridge(alpha / L^2) at level 1, with coef / L
            coef = fits.coef(alpha / level**2) if level > 0 else np.zeros((N_PIXELS, N_PERM + 1))
            coefs[(level, name)] = coef
            for split, sl in parts.items():
                pred = fits.predict(x[sl], coef)[:, 0] if level > 0 else np.full(len(y[sl]), ytr.mean())
                row[f"{split}_r2"] = float(_r2(y[sl], pred)[0])
            rows.append(row)
    metrics = pd.DataFrame(rows)
    prim = "OLS"  # the primary model of the demo runs is an OLS step: its null fits have the largest coefficients
    coef = coefs[(1.0, prim)]
    imp_all = np.abs(coef) * xtr.std(axis=0)[:, None]  # (p, 1 + N_PERM)
    importance, null = imp_all[:, 0], imp_all[:, 1:]
    yt, xt = y[parts["test"]], x[parts["test"]]
    pred = {name: fits.predict(xt, coefs[(1.0, name)])[:, 0] for name in names}
    null_r2 = _r2(yt, fits.predict(xt, coef)[:, 1:])
    xt_shuf = rng.permuted(xt, axis=1)
    shuffled = _Fits(rng.permuted(xtr, axis=1), ytr[:, None])

    def rec(p, model):
        return {"model": model, "test_r2": float(_r2(yt, p)[0]), "test_ci95": _interval(yt, p, rng)}

    sanity = {
        "threshold": 0.05, "reference_noise_level": 1.0,
        "original": {"OLS": rec(pred["OLS"], "OLS"), "best_ridge": rec(pred[prim], prim)},
        "wavelength_shuffle": {"refit": {"best_ridge": rec(shuffled.predict(xt_shuf, shuffled.coef(names[prim]))[:, 0],
                                                           prim)},
                               "unrefitted": {"OLS": rec(fits.predict(xt_shuf, coefs[(1.0, "OLS")])[:, 0], "OLS"),
                                              "best_ridge": rec(fits.predict(xt_shuf, coef)[:, 0], prim)}},
        "permutation": {"linear": {"figure_model": f"L=1 {prim}", "figure_null": null_r2.tolist(),
                                   "n_permutations": N_PERM,
                                   "models": {f"L=1 {prim}": {"observed_test_r2": float(_r2(yt, pred[prim])[0]),
                                                              "p_value": 1 / (N_PERM + 1)}}}},
    }
    return {"wave": WAVE, "metrics": metrics, "importance": importance, "threshold": _threshold(null),
            "mean_error": xtr.mean(axis=0), "top_idx": np.argsort(-importance)[:40], "label": f"{prim} |coef| x std",
            "sanity": sanity}
