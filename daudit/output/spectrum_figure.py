"""Fig 2: pixel importance against wavelength, with the mean error, the catalogue and the null.

Laid out to stay readable at any sample size (measured by `daudit.output.readability`): the
importance axis is scaled to the importance, never stretched to the permutation null (which,
on small samples, lies far above every pixel); the null is a shaded band whose values the
legend states, including where it leaves the axis; markers (the top pixels, the pixels above
the null) are thinned so that no two overlap, one per run of adjacent pixels; the mean error
goes on a log axis when its spikes (telluric bands) dwarf the rest.
"""

from __future__ import annotations

__all__ = ["importance_spectrum_figure", "plot_importance_spectrum", "line_groups", "legible_subset"]

from daudit.output.figure_io import save_figure  # first: it selects the Agg backend (files only, no display)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from daudit.data.catalogue import CATALOGUE  # noqa: E402
from daudit.output.readability import REFERENCE_GID  # noqa: E402
from daudit.output.report.constants import DEFAULT_LINES, WEAK_LINES  # noqa: E402

_LINE_COLOR = "#2e8b57"
_NULL_COLOR = "#ff7f0e"
_BAND_COLORS = {"telluric": "#9ecae1", "sky": "#cbc9e2"}  # shaded ranges of the catalogue
_BAND_LABELS = {"telluric": "telluric absorption", "sky": "night-sky emission (OH, O2)"}
_HEADROOM = 1.45  # axis top / data top: room for the line labels along the top
_LOG_ERROR_RATIO = 10.0  # mean error drawn on a log axis when its max / median exceeds this
_FIG_SIZE = (12, 5.4)
_AXES_WIDTH_IN = 10.2  # drawn width of the importance axes (inches), for marker spacing
_TOP_SIZE, _ABOVE_SIZE = 22, 60  # marker areas (points^2)


def line_groups(lines, wmin, wmax, min_sep):
    """Lines inside [wmin, wmax], grouped when closer than `min_sep` (one label per group)."""
    inside = sorted((wl, name) for name, wl in lines if wmin <= wl <= wmax)
    groups = []
    for wl, name in inside:
        if groups and wl - groups[-1][-1][0] < min_sep:
            groups[-1].append((wl, name))
        else:
            groups.append([(wl, name)])
    labels = []
    for group in groups:
        names = list(dict.fromkeys(n for _, n in group))
        text = " / ".join(f"{n} " + ", ".join(f"{wl:.1f}" for wl, m in group if m == n)
                          for n in names)
        labels.append((np.mean([wl for wl, _ in group]), [wl for wl, _ in group], text))
    return labels


def legible_subset(x, height, min_sep) -> np.ndarray:
    """Indices of the points to mark so that no two marks are closer than `min_sep` along x.

    Greedy from the tallest: a point is kept unless a kept one lies within `min_sep` (x units).
    Returns the kept indices in x order.
    """
    x, height = np.asarray(x, float), np.asarray(height, float)
    kept = []
    for i in np.argsort(-height, kind="stable"):
        if all(abs(x[i] - x[j]) >= min_sep for j in kept):
            kept.append(i)
    return np.array(sorted(kept, key=lambda i: x[i]), dtype=int)


def _runs(idx) -> list[np.ndarray]:
    """Runs of consecutive pixel indices in the sorted array ``idx``."""
    idx = np.asarray(idx, int)
    if idx.size == 0:
        return []
    return np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)


def _shade_bands(ax, features, wmin, wmax):
    """Shade the catalogue's telluric and sky ranges inside [wmin, wmax]; legend handles of those drawn."""
    drawn = {}
    for f in features:
        if f.kind in _BAND_COLORS and f.hi >= wmin and f.lo <= wmax:
            lo, hi = max(f.lo, wmin), min(f.hi, wmax)
            ax.axvspan(lo, hi, color=_BAND_COLORS[f.kind], alpha=0.35, lw=0, zorder=0)
            ax.text(0.5 * (lo + hi), 0.015 if f.kind == "telluric" else 0.06, f.name.rsplit(" ", 2)[0],
                    transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=7, color="0.3")
            drawn[f.kind] = Patch(color=_BAND_COLORS[f.kind], alpha=0.5, label=_BAND_LABELS[f.kind])
    return [drawn[k] for k in ("telluric", "sky") if k in drawn]


def _draw_lines(ax, lines, weak, wmin, wmax):
    """Labelled strong lines (dotted) and unlabelled weak ones (short ticks at the top)."""
    groups = line_groups(lines, wmin, wmax, 0.015 * (wmax - wmin))
    for centre, members, text in groups:
        for wl in members:
            ax.axvline(wl, color=_LINE_COLOR, ls=":", lw=1.0, alpha=0.9, zorder=1)
        ax.text(centre, 0.985, text, transform=ax.get_xaxis_transform(), rotation=90,
                ha="center", va="top", fontsize=8, color=_LINE_COLOR,
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))
    ticks = [wl for _, wl in weak if wmin <= wl <= wmax]
    for wl in ticks:
        ax.axvline(wl, ymin=0.93, ymax=1.0, color=_LINE_COLOR, lw=0.8, alpha=0.7, zorder=1)
    out = []
    if groups:
        out.append(plt.Line2D([], [], color=_LINE_COLOR, ls=":", label="stellar lines"))
    if ticks:
        out.append(plt.Line2D([], [], color=_LINE_COLOR, lw=0.8, label="weaker stellar lines (Fe I, ...)"))
    return out


def _error_axis(ax2, wave, mean_error):
    """The mean error on the right axis: log when spikes dwarf the rest, with room for the labels."""
    line, = ax2.plot(wave, mean_error, color="0.55", lw=0.6, alpha=0.8, label="mean error σ (right axis)")
    ok = np.isfinite(mean_error) & (mean_error > 0)
    if not ok.any():
        return line
    lo, hi, med = np.min(mean_error[ok]), np.max(mean_error[ok]), np.median(mean_error[ok])
    if hi / med > _LOG_ERROR_RATIO:
        ax2.set_yscale("log")
        span = np.log10(hi) - np.log10(lo)
        ax2.set_ylim(lo / 10 ** (0.03 * span), hi * 10 ** ((_HEADROOM - 1) * span))
        line.set_label("mean error σ (right axis, log scale)")
    elif hi > lo:
        ax2.set_ylim(max(0.0, lo - 0.05 * (hi - lo)), lo + _HEADROOM * (hi - lo))
    else:  # a flat mean error: from zero, with the same headroom
        ax2.set_ylim(0.0, hi * _HEADROOM)
    return line


def _null(ax, wave, importance, thr, top):
    """The null as a shaded band up to its threshold; its values, and where it leaves the axis, in the label."""
    finite = np.isfinite(thr)
    if not finite.any():
        return None, np.array([], int)
    med, hi = float(np.median(thr[finite])), float(np.max(thr[finite]))
    where = ""
    if hi > top:
        share = float(np.mean(thr[finite] > top))
        where = f"; above the axis top at {share:.0%} of pixels" if share < 1 else "; above the axis top everywhere"
    band = ax.fill_between(wave, 0, np.where(finite, thr, 0), color=_NULL_COLOR, alpha=0.3, lw=0, zorder=1,
                           label=f"below the permutation null (family-wise 95%): threshold median {med:.3g}, "
                                 f"max {hi:.3g}{where}")
    band.set_gid(REFERENCE_GID)
    return band, np.flatnonzero(finite & (importance > thr))


def importance_spectrum_figure(wave, importance, mean_error, top_idx, *, label, lines=DEFAULT_LINES,
                               weak_lines=WEAK_LINES, features=CATALOGUE, threshold=None, groups=None, title=None):
    """Draw Fig 2 and return the open `matplotlib.figure.Figure` (see `plot_importance_spectrum`).

    Long because one figure's layout (curves, markers, catalogue, null, twin axis, legend) reads best top to bottom.
    """
    wave = np.asarray(wave, float)
    importance = np.asarray(importance, float)
    mean_error = np.asarray(mean_error, float)
    top_idx = np.asarray(top_idx, int)
    if not (wave.shape == importance.shape == mean_error.shape) or wave.ndim != 1:
        raise ValueError(f"wave, importance, mean_error must be 1-D of one length; got "
                         f"{wave.shape}, {importance.shape}, {mean_error.shape}")
    fig, ax = plt.subplots(figsize=_FIG_SIZE)
    ax2 = ax.twinx()
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    err_line = _error_axis(ax2, wave, mean_error)
    finite = importance[np.isfinite(importance)]
    peak = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    bottom = min(0.0, float(finite.min())) if finite.size else 0.0
    top = peak * _HEADROOM
    wmin, wmax = float(np.nanmin(wave)), float(np.nanmax(wave))
    # two markers are legible when their centres are at least a diameter apart
    per_inch = (wmax - wmin) / _AXES_WIDTH_IN if wmax > wmin else 1.0
    sep = {s: np.sqrt(s) / 72.0 * per_inch for s in (_TOP_SIZE, _ABOVE_SIZE)}

    handles = []
    imp_line, = ax.plot(wave, importance, color="#1f4e79", lw=0.7, label="pixel importance", zorder=3)
    handles.append(imp_line)
    if threshold is not None:
        band, above = _null(ax, wave, importance, np.asarray(threshold, float), top)
        if band is not None:
            handles.append(band)
        if above.size:
            runs = _runs(above) if groups is None else [
                r for r in (above[(above >= lo) & (above <= hi)] for lo, hi in groups) if r.size]
            tallest = np.array([r[np.argmax(importance[r])] for r in runs])
            shown = tallest[legible_subset(wave[tallest], importance[tallest], sep[_ABOVE_SIZE])]
            handles.append(ax.scatter(wave[shown], importance[shown], s=_ABOVE_SIZE, facecolor="none",
                                      edgecolor="black", linewidth=0.8, zorder=5,
                                      label=f"above the null: {above.size} pixels in {len(runs)} "
                                            f"{'runs' if groups is None else 'groups'} "
                                            f"(circled: the tallest of each, {len(shown)} circles)"))
    if top_idx.size:
        shown = top_idx[legible_subset(wave[top_idx], importance[top_idx], sep[_TOP_SIZE])]
        note = "" if len(shown) == len(top_idx) else f" ({len(shown)} dots: close pixels share one)"
        handles.insert(1, ax.scatter(wave[shown], importance[shown], s=_TOP_SIZE, color="#d62728", zorder=4,
                                     edgecolor="white", linewidth=0.5, label=f"top-{len(top_idx)} pixels{note}"))
    handles.append(err_line)
    ax.set_ylim(bottom, top)
    ax.set_xlim(wmin, wmax)
    handles += _shade_bands(ax2, features, wmin, wmax)
    handles += _draw_lines(ax, lines, weak_lines, wmin, wmax)
    ax.set_xlabel("Wavelength (Å)", fontsize=11)
    ax.set_ylabel("pixel importance", fontsize=11)
    ax2.set_ylabel("mean error σ (flux units)", fontsize=11, color="0.4")
    ax2.tick_params(axis="y", colors="0.4")
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8.5,
              frameon=False)
    ax.set_title(title or f"Pixel importance against wavelength\n{label}", fontsize=12)
    fig.tight_layout()
    return fig


def plot_importance_spectrum(wave, importance, mean_error, top_idx, path, *, label,
                             lines=DEFAULT_LINES, weak_lines=WEAK_LINES, features=CATALOGUE,
                             threshold=None, groups=None, title=None):
    """Pixel importance against wavelength, with the mean error, the catalogue and the null.

    Parameters
    ----------
    wave : array-like, shape (n_pixels,)
        Wavelength of each pixel, Angstrom.
    importance : array-like, shape (n_pixels,)
        Importance of each pixel (e.g. LightGBM gain, |coef| x std).
    mean_error : array-like, shape (n_pixels,)
        Mean error spectrum (flux units), drawn on a second y axis (log when spikes dwarf the rest).
    top_idx : array-like of int, shape (top_k,)
        Pixel indices of the top-k pixels, marked in red (one dot where close pixels would overlap).
    path : str or path-like
        Output PNG.
    label : str
        Name of the importance measure, used in the title.
    lines, weak_lines : sequence of (str, float)
        Stellar lines (name, Angstrom): ``lines`` drawn and labelled (lines closer than about 1.5%
        of the range share one label), ``weak_lines`` as unlabelled ticks.
    features : sequence of `daudit.data.catalogue.Feature`
        Telluric and sky ranges among them are shaded.
    threshold : array-like, shape (n_pixels,), optional
        The family-wise permutation-null threshold of each pixel (importance units): shaded below
        it, its median and maximum in the legend; the tallest pixel of each run above it circled.
    groups : sequence of (int, int), optional
        Pixel ranges (first, last) that group the pixels above the null, as the report counts
        them (``sanity.importance_null.linear.pixels.groups``); runs of adjacent pixels without.
    title : str, optional

    Returns
    -------
    pathlib.Path
        `path`.
    """
    return save_figure(importance_spectrum_figure(wave, importance, mean_error, top_idx, label=label, lines=lines,
                                                  weak_lines=weak_lines, features=features, threshold=threshold,
                                                  groups=groups, title=title), path)
