"""The sanity-check figure: test R² of each check next to the original, and the permutation null.

Drawn from ``summary["sanity"]`` only (nothing is recomputed); written atomically like every
daudit figure (temporary file in the target folder, then `os.replace`).
"""

from __future__ import annotations

__all__ = ["plot_sanity_checks", "sanity_checks_figure", "CONDITIONS"]

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from daudit.checks.table import CHECKS, MODEL_COLUMNS  # noqa: E402
from daudit.core.schema_sanity import optional  # noqa: E402
from daudit.output.figure_io import save_figure  # noqa: E402
from daudit.output.figures import clip_label  # noqa: E402
from daudit.output.report.constants import R2_AXIS_FLOOR  # noqa: E402
from daudit.output.report.intervals import original_records  # noqa: E402

# (key in sanity, sub-key, label on the axis), from the one table of the checks
CONDITIONS = tuple((chk.key, d.sub, d.label) for chk in CHECKS for d in chk.drawn)
_COLORS = {"OLS": "#4c72b0", "best_ridge": "#55a868", "LightGBM": "#dd8452"}
_MODELS = tuple((m.key, m.label, _COLORS[m.key]) for m in MODEL_COLUMNS)
_GATE_COLOR = "#c0392b"


def _record(sanity, key, sub):
    block = optional(sanity, key)
    if block is None:
        return None
    return block[sub] if sub else block


def _bars(ax, sanity, threshold, floor):
    labels, xs = [], []
    width = 0.26
    lowest, clipped = 0.0, False
    for ci, (key, sub, label) in enumerate(CONDITIONS):
        block = original_records(sanity) if key == "original" else _record(sanity, key, sub)
        if not block:
            continue
        x = len(labels)
        labels.append(label)
        xs.append(x)
        if not any(m in block and block[m]["test_r2"] is not None for m, _, _ in _MODELS):
            why = "no pixel ever masked" if key == "mask_only" else "not run"
            ax.text(x, 0.01, why, ha="center", va="bottom", fontsize=8, rotation=90, color="gray")
        for mi, (mkey, _, color) in enumerate(_MODELS):
            rec = optional(block, mkey)
            if rec is None or rec["test_r2"] is None:
                continue
            v = rec["test_r2"]
            shown = max(v, floor)
            lowest = min(lowest, shown)
            pos = x + (mi - 1) * width
            bar = ax.bar(pos, shown, width, color=color, edgecolor="black", linewidth=0.4)[0]
            ci = optional(rec, "test_ci95")
            if ci and ci[0] is not None and ci[1] is not None and v > floor:
                lo, hi = max(ci[0], floor), max(ci[1], floor)
                ax.errorbar(pos, v, yerr=[[v - lo], [hi - v]], fmt="none", ecolor="black", capsize=2, lw=0.8)
            if v < floor:
                clipped = True
                bar.set_hatch("///")
                ax.annotate(clip_label(v), (pos, floor), xytext=(0, 3), textcoords="offset points", ha="center",
                            va="bottom", fontsize=7, rotation=90,
                            bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none"))
    gate = ax.axhline(threshold, color=_GATE_COLOR, ls="--", lw=1.0, label=f"Gate-1 threshold R² = {threshold:g}")
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xticks(xs)
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("test R² (error bars: 95% bootstrap CI)")
    top = max([threshold * 2] + [p.get_height() for p in ax.patches])
    ax.set_ylim(min(lowest, -0.05) * 1.1, max(1.0, top) * 1.2 if top > 0.5 else top * 1.4 + 0.02)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for _, _, c in _MODELS] + [gate]
    names = [n for _, n, _ in _MODELS] + [gate.get_label()]
    if clipped:
        handles.append(plt.Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="black", hatch="///"))
        names.append(f"clipped at R² = {floor:g}")
    ax.legend(handles, names, fontsize=8, loc="upper center", ncol=3)
    ax.set_title(f"Sanity checks: test R² per check (noise level L = {sanity['reference_noise_level']:g})",
                 fontsize=10)


def _null(ax, sanity):
    perm = sanity["permutation"]
    lin = perm["linear"]
    drawn = False
    obs_vals = []
    if optional(lin, "figure_null"):
        name = lin["figure_model"]
        null = np.asarray(lin["figure_null"], dtype=float)
        rec = lin["models"][name]
        ax.hist(null, bins=30, color="#4c72b0", alpha=0.6, label=f"{name}: {len(null)} permutations")
        obs = rec["observed_test_r2"]
        if obs is not None:
            ax.axvline(obs, color="#1f3b73", lw=2, label=f"{name} observed = {obs:.4f} (p = {rec['p_value']:.4f})")
            obs_vals.append(obs)
        drawn = True
    lg = optional(perm, "lightgbm")
    if lg and lg["null"]:
        null = np.asarray(lg["null"], dtype=float)
        ax.hist(null, bins=15, color="#dd8452", alpha=0.6,
                label=f"LightGBM ({lg['n_train_rows']} rows): {len(null)} permutations")
        obs = lg["observed_test_r2"]
        if obs is not None:
            bound = "≤" if lg["p_value"] <= lg["min_p_value"] else "="
            ax.axvline(obs, color="#8c3b0c", lw=2, ls="--",
                       label=f"LightGBM observed = {obs:.4f} (p {bound} {lg['p_value']:.4f}, "
                             f"{len(null)} permutations)")
            obs_vals.append(obs)
        drawn = True
    if not drawn:
        ax.text(0.5, 0.5, "no permutation null in this run", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    _fit_observed(ax, obs_vals)
    ax.set_xlabel("test R² after refitting on permuted train labels")
    ax.set_ylabel("permutations")
    ax.set_title("Label-permutation null vs observed (test R², as on the left)", fontsize=10)
    ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1, frameon=False)


_NULL_MIN_SHARE = 0.3  # the null histogram keeps at least this share of the x axis


def _fit_observed(ax, observed):
    """Widen the x axis to an observed value only while the null keeps `_NULL_MIN_SHARE` of it;
    a value further out is written at the axis edge, with an arrow, in its line's colour."""
    edges = [x for p in ax.patches for x in (p.get_x(), p.get_x() + p.get_width())]
    if not edges:
        return
    lo, hi = min(edges), max(edges)  # the null's histograms (the observed lines widen get_xlim)
    lo, hi = lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)
    near = [v for v in observed if hi - lo >= _NULL_MIN_SHARE * (max(hi, v) - min(lo, v))]
    lo, hi = min([lo, *near]), max([hi, *near])
    pad = 0.05 * (hi - lo) if near else 0.0
    ax.set_xlim(lo - pad, hi + pad)
    lo, hi = ax.get_xlim()
    far = [v for v in observed if v not in near]
    for k, v in enumerate(far):
        line = next((ln for ln in ax.lines if np.isclose(np.asarray(ln.get_xdata(), float)[0], v)), None)
        right = v > hi
        ax.annotate(f"observed {v:.4f} (off the axis) →" if right else f"← observed {v:.4f} (off the axis)",
                    (0.98 if right else 0.02, 0.92 - 0.09 * k), xycoords="axes fraction",
                    ha="right" if right else "left", va="top", fontsize=8.5,
                    color=line.get_color() if line is not None else "black",
                    bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.9))


def plot_sanity_checks(sanity: dict, path, *, threshold: float | None = None,
                       floor: float = R2_AXIS_FLOOR) -> Path:
    """Write `sanity_checks_figure` (same parameters) to the PNG ``path``; returns ``path``."""
    return save_figure(sanity_checks_figure(sanity, threshold=threshold, floor=floor), path)


def sanity_checks_figure(sanity: dict, *, threshold: float | None = None, floor: float = R2_AXIS_FLOOR):
    """Draw the sanity-check figure; returns the open `matplotlib.figure.Figure`.

    Parameters
    ----------
    sanity : dict
        ``summary["sanity"]`` as returned by `daudit.checks.run_sanity_checks`.
    threshold : float, optional
        Gate-1 threshold (default ``sanity["threshold"]``).
    floor : float
        Lowest R² drawn; lower bars are cut there, hatched, and labelled with their value (or
        "< -100" when the value would be meaningless).
    """
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(15, 6), gridspec_kw={"width_ratios": [1.7, 1]})
    if "skipped" in sanity:
        a1.text(0.5, 0.5, f"sanity checks skipped: {sanity['skipped']}", ha="center", va="center", wrap=True)
        a1.set_axis_off()
        a2.set_axis_off()
    else:
        _bars(a1, sanity, float(sanity["threshold"] if threshold is None else threshold), floor)
        _null(a2, sanity)
    fig.tight_layout()
    return fig
