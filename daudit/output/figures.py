"""PNG figures of a finished audit: R² per model, importance spectrum, importance distribution.

The functions take finished results (the metrics table, importance arrays) and draw them; they
never recompute a model or a metric. Each ``*_figure`` function returns the open figure (for
`daudit.output.readability` to measure); each ``plot_*`` writes it with
`daudit.output.figure_io.save_figure` (temporary file, then `os.replace`: a reader never sees a
partial PNG). Fig 2 lives in `daudit.output.spectrum_figure`.
"""

__all__ = ["plot_r2_models", "plot_importance_spectrum", "plot_importance_hist", "r2_models_figure",
           "importance_hist_figure", "importance_spectrum_figure", "DEFAULT_LINES", "clip_label"]

from daudit.output.figure_io import save_figure  # first: it selects the Agg backend (files only, no display)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from daudit.models.importance import TOP_K  # noqa: E402
from daudit.output.report.constants import CLIP_LABEL_LIMIT, DEFAULT_LINES, R2_AXIS_FLOOR  # noqa: E402
from daudit.output.spectrum_figure import importance_spectrum_figure, plot_importance_spectrum  # noqa: E402

_SPLIT_COLORS = {"train": "#4c72b0", "val": "#dd8452", "test": "#55a868"}
_GATE_COLOR = "#c0392b"
_HIST_DYNAMIC_RANGE = 1e-6  # histogram bins span [max * this, max]; smaller values are pooled
_NULL_COLOR = "#ff7f0e"


def clip_label(value: float) -> str:
    """The text on a bar clipped at the axis floor: its value, or "< -100" when that says nothing."""
    return f"{value:.2f}" if value > CLIP_LABEL_LIMIT else f"< {CLIP_LABEL_LIMIT:g}"


def _as_bool(values):
    return np.array([v is True or str(v).strip().lower() in ("true", "1", "yes") for v in values])


def r2_models_figure(metrics, *, threshold=0.05, title=None, floor=R2_AXIS_FLOOR):
    """Bar chart of train/val/test R² of every model, one panel per noise level.

    Parameters
    ----------
    metrics : pandas.DataFrame, shape (n_levels * n_models, >= 5)
        metrics.csv: columns ``noise_level``, ``model``, ``train_r2``, ``val_r2``, ``test_r2``,
        optionally ``degenerate`` (bool, or the strings "True"/"False" as read from CSV).
    threshold : float, default=0.05
        The Gate-1 R² threshold, drawn as a dashed line.
    title : str, optional
        Figure title; a default one is used when None.
    floor : float, default=-0.2
        Lower limit of the R² axis when some R² is below it. Clipped bars are hatched and
        labelled with their value, so negative R² stays visible without squashing the rest.

    Returns
    -------
    matplotlib.figure.Figure
        The open figure (`plot_r2_models` writes and closes it).

    Long because one figure's layout (panels, bars, threshold, clipping notes, legend) reads best top to bottom in one place.
    """
    required = {"noise_level", "model", "train_r2", "val_r2", "test_r2"}
    missing = required - set(metrics.columns)
    if missing:
        raise ValueError(f"metrics lacks columns {sorted(missing)}; expected metrics.csv columns")
    levels = sorted(metrics["noise_level"].astype(float).unique())
    models = list(dict.fromkeys(metrics["model"]))
    splits = ("train", "val", "test")
    values = metrics[[f"{s}_r2" for s in splits]].to_numpy(float)
    finite = values[np.isfinite(values)]
    lo = min(finite.min(), 0.0) if finite.size else 0.0
    hi = max(finite.max(), threshold) if finite.size else threshold
    span = hi - lo
    bottom = max(floor, lo - 0.06 * span) if lo < 0 else 0.0
    if bottom < 0:
        bottom = min(bottom, -0.05 * (hi - bottom))  # room for the annotations of small negatives
    top = hi + 0.12 * (hi - bottom)

    fig, axes = plt.subplots(1, len(levels), figsize=(max(10.0, 4.2 * len(levels)), 5.2),
                             sharey=True, squeeze=False)
    axes = axes[0]
    degenerate = (_as_bool(metrics["degenerate"]) if "degenerate" in metrics
                  else np.zeros(len(metrics), bool))
    x = np.arange(len(models))
    width = 0.27
    for ax, level in zip(axes, levels):
        sel = metrics["noise_level"].astype(float).to_numpy() == level
        block = metrics[sel].set_index("model").reindex(models)
        is_degenerate = bool(degenerate[sel].any())
        for k, split in enumerate(splits):
            v = block[f"{split}_r2"].to_numpy(float)
            xs = x + (k - 1) * width
            drawn = np.where(np.isfinite(v), np.maximum(v, bottom), np.nan)
            clipped = np.isfinite(v) & (v < bottom)
            bars = ax.bar(xs, drawn, width, color=_SPLIT_COLORS[split], edgecolor="white",
                          linewidth=0.4)
            for bar, was_clipped, value, xi in zip(bars, clipped, v, xs):
                if was_clipped:
                    bar.set_hatch("///")
                    bar.set_edgecolor("black")
                    ax.annotate(clip_label(value), (xi, bottom), xytext=(0, 3),
                                textcoords="offset points", rotation=90, ha="center",
                                va="bottom", fontsize=8,
                                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none"))
        ax.axhline(0.0, color="black", lw=0.8)
        ax.axhline(threshold, color=_GATE_COLOR, ls="--", lw=1.3)
        ax.set_xticks(x)
        ax.set_xticklabels(models, rotation=40, ha="right", fontsize=9)
        ax.set_xlim(-0.6, len(models) - 0.4)
        ax.grid(axis="y", alpha=0.3)
        if is_degenerate:
            ax.set_facecolor("#f0f0f0")
            ax.set_title(f"L = {level:g}  (degenerate: input ≡ 0)", fontsize=11)
            ax.text(0.5, 0.55, "intercept only:\nno information in the input",
                    transform=ax.transAxes, ha="center", va="center", fontsize=10,
                    color="#555555")
        else:
            ax.set_title(f"L = {level:g}", fontsize=11)
    axes[0].set_ylim(bottom, top)
    axes[0].set_ylabel("R²", fontsize=11)
    handles = [Patch(color=c, label=s) for s, c in _SPLIT_COLORS.items()]
    handles.append(plt.Line2D([], [], color=_GATE_COLOR, ls="--",
                              label=f"Gate-1 threshold R² = {threshold:g}"))
    if (np.isfinite(values) & (values < bottom)).any():
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="///",
                             label=f"clipped at {bottom:g} (hatched)"))
    fig.suptitle(title or "Error-only R² across models (input: error vector only)", fontsize=13)
    fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=9.5,
               bbox_to_anchor=(0.5, 0.945), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.915))
    return fig


def plot_r2_models(metrics, path, *, threshold=0.05, title=None, floor=R2_AXIS_FLOOR):
    """Write `r2_models_figure` (same parameters) to the PNG ``path``; returns ``path``."""
    return save_figure(r2_models_figure(metrics, threshold=threshold, title=title, floor=floor), path)


def importance_hist_figure(importance, *, top_k=TOP_K, label, top_k_share=None, null_q95=None, title=None):
    """Distribution of pixel importance (log x) and the cumulative share of sorted pixels.

    Parameters
    ----------
    importance : array-like, shape (n_pixels,)
        Non-negative importance of each pixel.
    top_k : int, default=40
        Size of the top set whose share is annotated.
    label : str
        Name of the importance measure.
    top_k_share : float, optional
        The top-k share from the summary, annotated as is; when None the share is read off the
        cumulative curve drawn here (the same quantity).
    null_q95 : float, optional
        The 95th percentile of the top-k share under permuted labels, marked at rank top_k.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        The open figure (`plot_importance_hist` writes and closes it).

    Long because one figure's two panels (histogram, cumulative share) and their notes read best top to bottom in one place.
    """
    imp = np.asarray(importance, float)
    imp = imp[np.isfinite(imp)]
    if imp.ndim != 1 or imp.size == 0:
        raise ValueError("importance must be a non-empty 1-D array of finite values")
    positive = imp[imp > 0]
    n_zero = int((imp <= 0).sum())
    order = np.sort(imp)[::-1]
    total = order.sum()
    cum = np.cumsum(order) / total if total > 0 else np.zeros_like(order)
    top_k = int(min(top_k, imp.size))
    share = float(cum[top_k - 1]) if top_k_share is None else float(top_k_share)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.6))
    notes = []
    if n_zero:
        notes.append(f"{n_zero} of {imp.size} pixels have zero\nimportance (not shown)")
    if positive.size:
        hi = positive.max()
        lo = max(positive.min(), hi * _HIST_DYNAMIC_RANGE)
        n_pooled = int((positive < lo).sum())
        if n_pooled:
            notes.append(f"{n_pooled} pixels below {lo:.2g}\npooled into the first bin")
        bins = np.logspace(np.log10(lo), np.log10(hi if hi > lo else lo * 10), 50)
        ax1.hist(np.maximum(positive, lo), bins=bins, color="#4c72b0", alpha=0.85)
        ax1.set_xscale("log")
        cut = order[top_k - 1]
        if cut > 0:
            ax1.axvline(cut, color="#d62728", ls="--", lw=1.2,
                        label=f"top-{top_k} cut (importance ≥ {cut:.3g})")
            ax1.legend(fontsize=9, loc="upper left")
    if notes:
        ax1.text(0.98, 0.95, "\n".join(notes),
                 transform=ax1.transAxes, ha="right", va="top", fontsize=9,
                 bbox=dict(boxstyle="round", fc="white", ec="0.8"))
    ax1.set_xlabel("pixel importance (log scale)", fontsize=11)
    ax1.set_ylabel("number of pixels", fontsize=11)
    ax1.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax1.set_title("Importance distribution", fontsize=11)
    ax1.grid(alpha=0.3)

    rank = np.arange(1, imp.size + 1)
    ax2.plot(rank, cum, color="#1f4e79", lw=1.6, label="sorted pixels")
    ax2.plot(rank, rank / imp.size, color="0.5", ls="--", lw=1.0, label="uniform importance")
    ax2.axvline(top_k, color="#d62728", ls=":", lw=1.0)
    ax2.plot([top_k], [share], "o", color="#d62728", zorder=4)
    if null_q95 is not None:
        ax2.plot([top_k], [null_q95], marker="_", markersize=22, mew=2.5, ls="none", color=_NULL_COLOR, zorder=5,
                 label=f"permutation null, 95th percentile: {null_q95 * 100:.1f}%")
    # text above-left of the point while the curve is low; below it (left or right of the point,
    # whichever side has room on the log axis) when the curve is high
    low = share < 0.7
    right_half = np.log(top_k) > 0.6 * np.log(max(imp.size, 2))
    ax2.annotate(f"top-{top_k}: {share * 100:.1f}% of total", (top_k, share),
                 xytext=(-10, 12) if low else ((-12, -8) if right_half else (12, -8)),
                 textcoords="offset points",
                 ha="right" if low or right_half else "left", va="bottom" if low else "top",
                 fontsize=10, color="#d62728",
                 bbox=dict(boxstyle="round", fc="white", ec="#d62728", alpha=0.9))
    ax2.set_xscale("log")
    ax2.set_xlim(1, imp.size)
    ax2.set_ylim(0, 1.02)
    ax2.set_xlabel("pixel rank (sorted by importance, log scale)", fontsize=11)
    ax2.set_ylabel("cumulative share of total importance", fontsize=11)
    ax2.set_title("Cumulative share", fontsize=11)
    ax2.legend(fontsize=9, loc="upper left")
    ax2.grid(alpha=0.3)
    fig.suptitle(title or f"How concentrated is the importance?  {label}", fontsize=12)
    fig.tight_layout()
    return fig


def plot_importance_hist(importance, path, *, top_k=TOP_K, label, top_k_share=None, null_q95=None, title=None):
    """Write `importance_hist_figure` (same parameters) to the PNG ``path``; returns ``path``."""
    return save_figure(importance_hist_figure(importance, top_k=top_k, label=label, top_k_share=top_k_share,
                                              null_q95=null_q95, title=title), path)
