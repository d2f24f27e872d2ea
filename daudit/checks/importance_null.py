"""Permutation nulls of the importance statistics the report interprets (pure numpy).

A top-40 share, a region's share of the importance or one pixel's importance means nothing by
itself: a model fitted to labels that carry no information also puts more weight on some pixels
than on others. The reference is the same statistic computed from the checks' label-permutation
fits (the linear family refitted on permuted train labels from the same eigendecomposition, and
LightGBM's permutation refits). A statistic counts as "above the null" only above the 95th
percentile of its null, i.e. at p <= 0.05, and never from fewer than 19 permutations (whose
smallest p-value, 1 / (K + 1), is above 0.05: `resolvable`).

When many units are tested at once (every catalogue region, every pixel) the threshold is
family-wise (Westfall-Young max-T): each unit's statistic is standardised by its own null mean
and standard deviation, and the threshold is the 95th percentile over permutations of the
**largest** standardised value over all units. On data without a leak, the chance that any unit
at all is called important is then about 5%.
"""

from __future__ import annotations

import numpy as np

from daudit.checks.permutation import p_value
from daudit.data.catalogue import CATALOGUE, by_key, feature_pixels
from daudit.models.importance import TOP_K, top_k_shares
from daudit.models.metrics import finite_or_none

__all__ = ["abs_importance_null", "share_null", "familywise_t", "region_units", "region_excess",
           "pixel_excess", "overlap_null", "resolvable", "above_level", "LEVEL"]

LEVEL = 0.95  # "above the null" = above this quantile of the null


def abs_importance_null(coef: np.ndarray, x_std: np.ndarray) -> np.ndarray:
    """``|coef| * std(x)`` of each permuted fit: coef (p, K) at the audited scale, x_std (p,) -> (p, K)."""
    return np.abs(np.asarray(coef, dtype=np.float64)) * np.asarray(x_std, dtype=np.float64)[:, None]


def share_null(observed: np.ndarray, null: np.ndarray, *, k: int = TOP_K) -> dict:
    """The top-``k`` share of ``observed`` (p,) against the shares of the null fits ``null`` (p, K).

    Returns {"k", "observed", "null_mean", "null_q95", "null_max", "p_value", "min_p_value",
    "n_permutations", "resolvable", "above_null", "null"}. ``min_p_value`` = 1 / (K + 1) is the
    resolution of the p-value; ``resolvable``: K permutations can reach the 95% level at all
    (K >= 19); ``above_null`` only then, when p <= 0.05 (`above_level`).
    """
    obs = float(top_k_shares(observed, k)[0])
    nul = top_k_shares(null, k)
    q95 = float(np.quantile(nul, LEVEL)) if nul.size else float("nan")
    p = p_value(obs, nul) if nul.size else None
    return {"k": int(k), "observed": obs, "null_mean": finite_or_none(nul.mean()) if nul.size else None,
            "null_q95": finite_or_none(q95), "null_max": finite_or_none(nul.max()) if nul.size else None,
            "p_value": p, "min_p_value": 1.0 / (nul.size + 1), "n_permutations": int(nul.size),
            "resolvable": resolvable(nul.size), "above_null": above_level(p, nul.size),
            "null": [float(v) for v in nul]}


def resolvable(k: int) -> bool:
    """Whether ``k`` permutations can put a statistic above the null's 95th percentile at all:
    the smallest p-value they give, 1 / (k + 1), must be at most 1 - LEVEL (k >= 19)."""
    return k > 0 and 1.0 / (k + 1) <= 1.0 - LEVEL + 1e-12


def above_level(p, k: int) -> bool:
    """"Above the null" from ``k`` permutations: p <= 1 - LEVEL, never when ``k`` cannot resolve it."""
    return bool(p is not None and resolvable(k) and p <= 1.0 - LEVEL + 1e-12)


def familywise_t(observed: np.ndarray, null: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Max-T over units: (standardised observed (u,), null mean (u,), null sd (u,), threshold on it).

    observed : (u,) statistic of each unit; null : (u, K) the same statistic of each permutation.
    A unit's standardised value is ``(x - mean) / sd`` of its own null; the threshold is the 95th
    percentile over permutations of the largest standardised null value over all units. A unit
    whose null does not vary (sd 0) is never called.
    """
    obs = np.asarray(observed, dtype=np.float64)
    nul = np.asarray(null, dtype=np.float64)
    mean = nul.mean(axis=1)
    sd = nul.std(axis=1, ddof=1) if nul.shape[1] > 1 else np.zeros_like(mean)
    safe = np.where(sd > 0, sd, np.inf)
    t_null = (nul - mean[:, None]) / safe[:, None]
    threshold = float(np.quantile(t_null.max(axis=0), LEVEL)) if nul.shape[1] else float("inf")
    return (obs - mean) / safe, mean, sd, threshold


def _shares(imp: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Share of the total importance inside each region: masks (R, p) bool, imp (p,) or (p, K)."""
    total = imp.sum(axis=0)
    return (masks.astype(np.float64) @ imp) / np.where(total > 0, total, 1.0)


NO_LINES = ":no_lines"  # key suffix of a band without its stellar-line windows


def region_units(wave, features=CATALOGUE) -> dict[str, tuple[object, np.ndarray]]:
    """The units of the region test: {key: (catalogue feature, bool pixels (p,))}.

    Every catalogue feature on the grid, and, for each telluric or sky band that holds stellar
    lines, the band without their windows (key ``<band>:no_lines``): a band whose excess sits
    only in the lines inside it (Ca II in the OH (6-2) range, K I in the O2 A band) is then not
    mistaken for a telluric or sky signal.
    """
    pix = feature_pixels(wave, features)
    lines = np.zeros(len(np.asarray(wave)), dtype=bool)
    for key, m in pix.items():
        if by_key(key).kind == "stellar":
            lines |= m
    units = {key: (by_key(key), m) for key, m in pix.items()}
    for key, m in pix.items():
        rest = m & ~lines
        if by_key(key).kind != "stellar" and rest.any() and rest.sum() < m.sum():
            units[key + NO_LINES] = (by_key(key), rest)
    return units


def region_excess(observed: np.ndarray, null: np.ndarray, wave: np.ndarray, features=CATALOGUE) -> dict:
    """Each catalogue region's share of the importance against its family-wise permutation null.

    Parameters
    ----------
    observed : (p,) importance of the audited model; null : (p, K) of the permuted fits
    wave : (p,) wavelengths, Å; features : catalogue entries to test (those on the grid are used)

    Returns
    -------
    dict
        {"threshold_t": the family-wise threshold on the standardised share, "regions": [one
        record per unit of `region_units`: key, feature (its catalogue key), without_lines, kind,
        name, name_zh, lo, hi, n_pixels, share, null_mean, null_sd, null_q95, threshold
        (= null_mean + threshold_t x null_sd, a share), t, above_null]}, sorted by t, largest first.
    """
    units = region_units(wave, features)
    keys = list(units)
    if not keys:
        return {"threshold_t": None, "regions": []}
    masks = np.stack([units[k][1] for k in keys])
    obs = _shares(np.asarray(observed, dtype=np.float64), masks)
    nul = _shares(np.asarray(null, dtype=np.float64), masks)
    tval, mean, sd, thr = familywise_t(obs, nul)
    q95 = np.quantile(nul, LEVEL, axis=1)
    regions = []
    for i, key in enumerate(keys):
        f, rest = units[key][0], key.endswith(NO_LINES)
        regions.append({"key": key, "feature": f.key, "without_lines": rest, "kind": f.kind,
                        "name": f.name + (" without stellar-line windows" if rest else ""),
                        "name_zh": f.name_zh + ("（不含其中的恒星谱线窗口）" if rest else ""), "lo": f.lo, "hi": f.hi,
                        "n_pixels": int(masks[i].sum()), "share": float(obs[i]), "null_mean": float(mean[i]),
                        "null_sd": float(sd[i]), "null_q95": float(q95[i]), "threshold": finite_or_none(mean[i] + thr * sd[i]),
                        "t": finite_or_none(tval[i]), "above_null": bool(tval[i] > thr)})
    regions.sort(key=lambda r: -(r["t"] if r["t"] is not None else -np.inf))
    return {"threshold_t": finite_or_none(thr), "regions": regions}


def _runs(flags: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """Runs of True pixels [start, stop] (inclusive), merged across gaps of <= ``gap`` pixels."""
    idx = np.flatnonzero(flags)
    runs = []
    for i in idx:
        if runs and i - runs[-1][1] <= gap + 1:
            runs[-1][1] = int(i)
        else:
            runs.append([int(i), int(i)])
    return [(a, b) for a, b in runs]


def pixel_excess(observed: np.ndarray, null: np.ndarray, wave: np.ndarray, *, gap: int = 1,
                 features=CATALOGUE) -> dict:
    """Pixels whose share of the importance is above the family-wise permutation null, grouped into runs.

    observed : (p,) importance; null : (p, K) importance of the permuted fits; wave : (p,) Å.
    Each pixel's statistic is its share of the total importance, like the regions' and the
    top-40's: a fit to permuted labels can have larger coefficients overall than the real fit,
    so raw importances are not comparable, shares are. Adjacent above-null pixels (and those
    separated by at most ``gap`` pixels) form one group; each group lists the catalogue
    features its wavelengths touch.

    Returns
    -------
    dict
        {"threshold_t", "n_above", "n_groups", "above": sorted pixel indices, "null_mean": (p,) ndarray,
        "threshold": (p,) ndarray (importance units), "groups": [{"pixel_lo", "pixel_hi",
        "wave_lo", "wave_hi", "n_above", "share", "max_t", "features"}]}, groups by share,
        largest first. The two arrays (the null's mean share and the threshold share of each
        pixel, times this run's total importance, so in its units) are for importance.csv and the
        figure, not summary.json.
    """
    imp = np.asarray(observed, dtype=np.float64)
    wave = np.asarray(wave, dtype=np.float64)
    total = imp.sum() if imp.sum() > 0 else 1.0
    nul = np.asarray(null, dtype=np.float64)
    nul = nul / np.where(nul.sum(axis=0) > 0, nul.sum(axis=0), 1.0)
    tval, mean, sd, thr = familywise_t(imp / total, nul)
    above = tval > thr
    pix = feature_pixels(wave, features)
    groups = []
    for a, b in _runs(above, gap):
        sel = np.zeros_like(above)
        sel[a:b + 1] = True
        sel &= above
        feats = [key for key, m in pix.items() if m[a:b + 1].any()]
        groups.append({"pixel_lo": a, "pixel_hi": b, "wave_lo": float(wave[a]), "wave_hi": float(wave[b]),
                       "n_above": int(sel.sum()), "share": float(imp[sel].sum() / total),
                       "max_t": finite_or_none(tval[sel].max()), "features": feats})
    groups.sort(key=lambda g: -g["share"])
    return {"threshold_t": finite_or_none(thr), "n_above": int(above.sum()), "n_groups": len(groups),
            "above": [int(i) for i in np.flatnonzero(above)],
            "null_mean": mean * total, "threshold": (mean + thr * sd) * total, "groups": groups}


def overlap_null(pixels, observed: np.ndarray, null: np.ndarray, *, k: int = TOP_K) -> dict:
    """Overlap of a pixel set with the top-``k`` pixels of ``observed`` (p,), against the null (p, K).

    Returns {"count", "null_mean", "null_q95", "p_value", "resolvable", "above_null"} (as `share_null`).
    """
    ref = {int(i) for i in pixels}
    obs = len(ref & {int(i) for i in np.argsort(-np.asarray(observed), kind="stable")[:k]})
    nul = np.asarray(null, dtype=np.float64)
    top = np.argpartition(-nul, min(k, nul.shape[0]) - 1, axis=0)[:k]
    counts = np.array([len(ref & set(top[:, j].tolist())) for j in range(nul.shape[1])], dtype=np.float64)
    q95 = float(np.quantile(counts, LEVEL)) if counts.size else float("nan")
    p = p_value(obs, counts) if counts.size else None
    return {"count": int(obs), "null_mean": finite_or_none(counts.mean()) if counts.size else None, "null_q95": finite_or_none(q95),
            "p_value": p, "resolvable": resolvable(counts.size), "above_null": above_level(p, counts.size)}
