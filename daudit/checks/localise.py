"""Where the leak is, by refits: each region's R2 with the region dropped and with the region alone.

A share of the importance says where a model puts weight, not where the label is read from: a
fit to permuted labels also puts weight somewhere, and a leak spread over redundant pixels can
sit in a region whose share is unremarkable. The refits answer the question directly. For one
linear model (the audit's primary model at the reference noise level) and every unit (each
catalogue region of `daudit.checks.importance_null.region_units` and each band of pixels above
the per-pixel null):

- dropped: the same model refitted without the unit's pixels, from the SAME decomposition of the
  train Gram ``S_xx = Q diag(lambda) Q^T`` (no new pass, no copy of ``S_xx``). With the model's
  inverse ``M = Q diag(f) Q^T`` (Ridge(alpha): ``f = 1 / (lambda + alpha)``, exact; OLS: ``f =
  1 / lambda`` on the resolved directions, the pseudo-inverse) and its coefficients ``b = M S_xy``,
  the fit on the other pixels C is ``b_C - M_CR M_RR^-1 b_R`` (the block inverse), which needs
  only the unit's rows ``Q_R`` (|R| x p);
- alone: the family refitted on the unit's pixels only (`daudit.models.linear.fit_family` on
  ``S_RR = Q_R diag(lambda) Q_R^T``).

Their held-out R2 comes from predictions in the checks' val/test pass (1 + 2U more columns of
the product that pass makes anyway), not from a held-out Gram: a val/test ``X^T X`` would cost a
p x p matrix per split (134 MB each at 4096 pixels) and ``n p^2`` flops, and sums cannot give the
paired bootstrap of the drop on the gate's resamples, which the predictions give for free.
Measured cost of the refits at 4096 pixels on the PFS MR grid (34 catalogue units, the widest
843 pixels): 22 s on the shared 2-core machine at load 9 (bench: random orthogonal Q).
Everything here is pure numpy on plain arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from daudit.checks.importance_null import NO_LINES, region_units
from daudit.models.linear import decompose, fit_family
from daudit.models.metrics import bootstrap_r2_scores, finite_or_none, percentile_interval, r2
from daudit.models.stats import CenteredStats

__all__ = ["Unit", "LocalisePlan", "inverse_filter", "drop_fits", "alone_fit", "judge_units", "band_units", "build_plan", "catalogue_units",
           "MAX_UNIT_FRACTION", "MAX_BANDS", "BAND_MERGE_GAP"]

MAX_UNIT_FRACTION = 0.5  # units wider than this share of the pixels are not refitted (memory bound)
MAX_BANDS = 12  # bands of the per-pixel null refitted (largest share first)
BAND_MERGE_GAP = 4  # pixel-null groups at most this many pixels apart form one band


@dataclass(frozen=True)
class Unit:
    """One region to refit: key, kind (``stellar``, ``telluric``, ``sky``, ``band`` or
    ``bands``: all bands together), its
    English and Chinese names, wavelength range (Å) and pixel indices (ascending)."""

    key: str
    kind: str
    name: str
    name_zh: str
    lo: float
    hi: float
    pixels: np.ndarray
    feature: str | None = None  # its catalogue key (None for a band of the per-pixel null)
    without_lines: bool = False


@dataclass
class LocalisePlan:
    """The refitted models as columns on the unscaled input, for the val/test pass.

    coef (p, 1 + 2U): the full model, then each unit dropped, then each unit alone; intercept
    (1 + 2U,); units: the U refitted units; skipped: units not refitted, with why.
    """

    model: str
    noise_level: float
    coef: np.ndarray
    intercept: np.ndarray
    units: list
    skipped: list = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return ["full"] + [f"drop:{u.key}" for u in self.units] + [f"alone:{u.key}" for u in self.units]


def inverse_filter(eigvals: np.ndarray, alpha: float | None, threshold: float) -> np.ndarray:
    """Spectral filter of the model's inverse: Ridge(alpha) ``1 / (lambda + alpha)`` on every
    direction (the exact inverse of ``S_xx + alpha I``); OLS (alpha None) ``1 / lambda`` above
    ``threshold``, else 0 (the pseudo-inverse on the resolved directions). eigvals (p,), units of x^2."""
    lam = np.asarray(eigvals, dtype=np.float64)
    if alpha is not None and alpha > 0:
        return 1.0 / (lam + float(alpha))
    f = np.zeros_like(lam)
    keep = lam > threshold
    f[keep] = 1.0 / lam[keep]
    return f


def drop_fits(eigvecs: np.ndarray, filt: np.ndarray, sxy: np.ndarray, units, *,
              row_scale: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The model ``b = M S_xy`` with ``M = D Q diag(filt) Q^T D`` and, for each unit, the same model
    refitted without its pixels.

    eigvecs (p, p) Q; filt (p,) `inverse_filter`; sxy (p,) centred X^T y; units: list of pixel index
    arrays; row_scale (p,) D (None: the identity; the equilibrated problem's column scaling, with
    Q and filt of the equilibrated Gram, for OLS). Returns (b (p,), dropped (p, U)) with zeros on
    each unit's own pixels. Cost per unit: |R|^2 p + 2 p^2 flops; memory |R| x p.
    """
    q = np.asarray(eigvecs, dtype=np.float64)
    f = np.asarray(filt, dtype=np.float64)
    s = np.asarray(sxy, dtype=np.float64).reshape(-1)
    d = np.ones(len(s)) if row_scale is None else np.asarray(row_scale, dtype=np.float64)
    b = d * (q @ (f * (q.T @ (d * s))))
    definite = bool(np.all(f > 0) and np.all(d > 0))  # Ridge: M and so every M_RR positive definite
    out = np.empty((len(s), len(units)))
    for j, idx in enumerate(units):
        idx = np.asarray(idx, dtype=np.int64)
        qr = q[idx] * d[idx, None]  # (|R|, p): rows of D Q
        m_rr = (qr * f) @ qr.T
        v = _solve_psd(0.5 * (m_rr + m_rr.T), b[idx], definite=definite)
        col = b - d * (q @ (f * (qr.T @ v)))
        col[idx] = 0.0
        out[:, j] = col
    return b, out


def _solve_psd(a: np.ndarray, rhs: np.ndarray, *, definite: bool) -> np.ndarray:
    """``a^-1 rhs`` for a symmetric positive (semi-)definite ``a``: Cholesky when it is definite
    (Ridge), else least squares (the OLS pseudo-inverse's block may be singular)."""
    if definite:
        try:
            return scipy.linalg.cho_solve(scipy.linalg.cho_factor(a, check_finite=False), rhs, check_finite=False)
        except np.linalg.LinAlgError:
            pass
    return np.linalg.lstsq(a, rhs, rcond=None)[0]


def alone_fit(eigvals: np.ndarray, eigvecs: np.ndarray, idx, *, n: int, x_mean: np.ndarray, y_mean: float,
              sxy: np.ndarray, syy: float, alpha: float | None, level: float, input_dtype,
              row_scale: np.ndarray | None = None, model: str = "OLS") -> tuple[np.ndarray, float]:
    """The family's model (the OLS step ``model`` for ``alpha`` None, else Ridge(alpha) at noise
    ``level``) on the unit's pixels only, from ``S_RR = D_R^-1 Q_R diag(lambda) Q_R^T D_R^-1``
    (unscaled input; ``row_scale`` D as in `drop_fits`, exact powers of two, 0 for constant pixels).
    An OLS step the unit's own path does not reach falls back to its floor ``OLS``.

    Returns (coef (|R|,) acting on the unscaled input, intercept)."""
    idx = np.asarray(idx, dtype=np.int64)
    qr = np.asarray(eigvecs)[idx]
    srr = (qr * np.asarray(eigvals, dtype=np.float64)) @ qr.T
    if row_scale is not None:
        d = np.asarray(row_scale, dtype=np.float64)[idx]
        inv = np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)
        srr *= inv[:, None]
        srr *= inv[None, :]
    srr = 0.5 * (srr + srr.T)
    stats = CenteredStats(int(n), np.asarray(x_mean, dtype=np.float64)[idx], np.array([float(y_mean)]), srr,
                          np.asarray(sxy, dtype=np.float64).reshape(-1)[idx, None], np.array([float(syy)]))
    fit = fit_family(decompose(stats, input_dtype=input_dtype, overwrite=True), [] if alpha is None else [alpha],
                     include_ols=alpha is None, noise_level=level)
    if fit.degenerate:
        return np.zeros(len(idx)), float(y_mean)
    i = fit.names.index(model) if alpha is None and model in fit.names else 0
    coef = level * fit.coef[i, :, 0]
    return coef, float(fit.intercept[i, 0])


def build_plan(eigvals, eigvecs, *, n: int, x_mean, y_mean: float, sxy, syy: float, units, model: str,
               alpha: float | None, level: float, threshold: float, input_dtype,
               row_scale: np.ndarray | None = None) -> LocalisePlan:
    """Every refit of `LocalisePlan` from one decomposition of the UNSCALED train statistics: for a
    Ridge the raw S_xx's (eigvals, eigvecs); for an OLS step the equilibrated Gram's, with its
    column scaling ``row_scale`` and ``threshold`` the step's cut (`daudit.models.resolution`).

    ``alpha`` is absolute at noise ``level`` (as the family's), so the fit on the unscaled input
    uses ``alpha / level^2``. Units wider than `MAX_UNIT_FRACTION` of the pixels are skipped
    (their |R| x p rows and |R|^2 Gram would exceed the memory plan).
    """
    p = len(eigvals)
    keep = [u for u in units if 0 < len(u.pixels) <= MAX_UNIT_FRACTION * p]
    skipped = [{"key": u.key, "why": f"{len(u.pixels)} of {p} pixels: wider than {MAX_UNIT_FRACTION:g} of the grid"}
               for u in units if u not in keep]
    a1 = None if alpha is None else float(alpha) / float(level) ** 2
    filt = inverse_filter(eigvals, a1, threshold)
    sxy = np.asarray(sxy, dtype=np.float64).reshape(-1)
    x_mean = np.asarray(x_mean, dtype=np.float64)
    full, dropped = drop_fits(eigvecs, filt, sxy, [u.pixels for u in keep], row_scale=row_scale)
    alone = np.zeros((p, len(keep)))
    icpt_alone = np.empty(len(keep))
    for j, u in enumerate(keep):
        c, icpt_alone[j] = alone_fit(eigvals, eigvecs, u.pixels, n=n, x_mean=x_mean, y_mean=y_mean, sxy=sxy,
                                     syy=syy, alpha=alpha, level=level, input_dtype=input_dtype,
                                     row_scale=row_scale, model=model)
        alone[u.pixels, j] = c
    coef = np.column_stack([full[:, None], dropped, alone])
    icpt = np.concatenate([[y_mean - x_mean @ full], y_mean - x_mean @ dropped, icpt_alone])
    return LocalisePlan(model, float(level), coef, icpt, keep, skipped)


def catalogue_units(wave) -> list[Unit]:
    """Units of every catalogue region on the grid (`importance_null.region_units`: each feature,
    and each telluric or sky band without its stellar-line windows)."""
    out = []
    for key, (f, mask) in region_units(wave).items():
        rest = key.endswith(NO_LINES)
        out.append(Unit(key, f.kind, f.name + (" without stellar-line windows" if rest else ""),
                        f.name_zh + ("（不含其中的恒星谱线窗口）" if rest else ""), float(f.lo), float(f.hi),
                        np.flatnonzero(mask), feature=f.key, without_lines=rest))
    return out


def band_units(groups, wave: np.ndarray, *, limit: int = MAX_BANDS, merge_gap: int = BAND_MERGE_GAP) -> list[Unit]:
    """Units from the per-pixel null's groups (`importance_null.pixel_excess`): each group's whole
    pixel range, groups at most ``merge_gap`` pixels apart merged into one band (a leak over a
    contiguous band shows as runs broken by a pixel or two below the threshold), the ``limit``
    largest by share; and, with two bands or more, all of them together (key ``bands_all``)."""
    wave = np.asarray(wave, dtype=np.float64)
    merged = []
    for g in sorted(groups, key=lambda g: int(g["pixel_lo"])):
        a, b, share = int(g["pixel_lo"]), int(g["pixel_hi"]), float(g["share"])
        if merged and a - merged[-1][1] - 1 <= merge_gap:
            merged[-1] = [merged[-1][0], max(b, merged[-1][1]), merged[-1][2] + share]
        else:
            merged.append([a, b, share])
    merged.sort(key=lambda m: -m[2])
    out = []
    for a, b, _ in merged[:limit]:
        lo, hi = float(wave[a]), float(wave[b])
        span = f"{lo:.1f}-{hi:.1f} Å" if a != b else f"{lo:.1f} Å"
        span_zh = f"{lo:.1f}–{hi:.1f} Å" if a != b else f"{lo:.1f} Å"
        out.append(Unit(f"band_{a}_{b}", "band", f"band {span}", f"逐像素零分布的像素带 {span_zh}", lo, hi,
                        np.arange(a, b + 1)))
    if len(out) > 1:
        pix = np.unique(np.concatenate([u.pixels for u in out]))
        out.append(Unit("bands_all", "bands", f"all {len(out)} bands together", "以上各像素带合起来",
                        min(u.lo for u in out), max(u.hi for u in out), pix))
    return out


def judge_units(units, y: np.ndarray, full: np.ndarray, dropped: np.ndarray, alone: np.ndarray, *,
                n_resamples: int, rng: np.random.Generator, threshold: float, tolerance: float) -> dict:
    """Which units are sources of the leak, from held-out predictions.

    units : U `Unit`; y (n,) held-out labels; full (n,) predictions of the full model; dropped,
    alone (n, U). The drop of unit u is ``R2(full) - R2(dropped u)``, with its paired percentile
    bootstrap interval (``n_resamples`` resamples of the rows from ``rng``, all columns on the
    same rows). A unit is a **source** when its alone R2 reaches ``threshold`` (the gate), or when
    the drop's interval lies above 0 and the drop is material: at least ``tolerance``, or it takes
    the R2 from at or above ``threshold`` to below it. Masking a source **removes** the leak from
    this model when its dropped R2 is below ``threshold``.

    Returns {"full_test_r2", "full_ci95", "units": [per unit: key, kind, name, name_zh, lo, hi,
    n_pixels, feature, without_lines, dropped_test_r2, drop, drop_ci95, alone_test_r2, alone_ci95,
    source, removes, why]}, units ordered by drop, largest first.
    """
    y = np.asarray(y, dtype=np.float64)
    preds = np.column_stack([np.asarray(full, dtype=np.float64)[:, None], dropped, alone])
    u = len(units)
    r_full = r2(y, preds[:, 0])
    r_drop = np.array([r2(y, preds[:, 1 + j]) for j in range(u)])
    r_alone = np.array([r2(y, preds[:, 1 + u + j]) for j in range(u)])
    scores = bootstrap_r2_scores(y, preds, n_resamples, rng) if n_resamples > 0 and len(y) > 1 else None
    if scores is not None:
        ci_full = percentile_interval(scores[:, :1])[0]
        ci_drop = percentile_interval(scores[:, :1] - scores[:, 1:1 + u]) if u else np.empty((0, 2))
        ci_alone = percentile_interval(scores[:, 1 + u:]) if u else np.empty((0, 2))
    else:
        ci_full, ci_drop, ci_alone = np.full(2, np.nan), np.full((u, 2), np.nan), np.full((u, 2), np.nan)
    recs = []
    for j, unit in enumerate(units):
        drop = r_full - r_drop[j]
        alone_hit = bool(np.isfinite(r_alone[j]) and r_alone[j] >= threshold)
        material = bool(drop >= tolerance or (r_full >= threshold > r_drop[j]))
        beyond = bool(np.isfinite(ci_drop[j, 0]) and ci_drop[j, 0] > 0)
        source = alone_hit or (beyond and material)
        why = [w for w, ok in (("alone", alone_hit), ("drop", beyond and material)) if ok]
        recs.append({"key": unit.key, "kind": unit.kind, "name": unit.name, "name_zh": unit.name_zh,
                     "lo": unit.lo, "hi": unit.hi, "n_pixels": int(len(unit.pixels)), "feature": unit.feature,
                     "without_lines": unit.without_lines, "dropped_test_r2": finite_or_none(r_drop[j]), "drop": finite_or_none(drop),
                     "drop_ci95": [finite_or_none(ci_drop[j, 0]), finite_or_none(ci_drop[j, 1])], "alone_test_r2": finite_or_none(r_alone[j]),
                     "alone_ci95": [finite_or_none(ci_alone[j, 0]), finite_or_none(ci_alone[j, 1])], "source": source,
                     "removes": bool(source and np.isfinite(r_drop[j]) and r_drop[j] < threshold), "why": why})
    recs.sort(key=lambda r: -(r["drop"] if r["drop"] is not None else -np.inf))
    return {"full_test_r2": finite_or_none(r_full), "full_ci95": [finite_or_none(ci_full[0]), finite_or_none(ci_full[1])], "units": recs}
