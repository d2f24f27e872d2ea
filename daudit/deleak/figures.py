"""PNG figures of a finished deleak run, drawn from its summary (never recomputed).

Bars: log_g R2 and SNR R2 per strategy and model, with the pass thresholds; the trade-off plot
(x log_g R2, y SNR R2, the pass region shaded); a summary panel. Written atomically.
"""

from __future__ import annotations

import numpy as np

from daudit.output.figure_io import save_figure  # Agg backend, atomic PNG writes
from daudit.output.figures import plt

__all__ = ["plot_metric_bars", "plot_tradeoff", "plot_summary_panel", "draw_all"]

_MODEL_COLORS = ("#4c72b0", "#dd8452", "#55a868", "#8172b2")
_PASS, _GATE = "#2e8b57", "#c0392b"


def _models(summary):
    return list(dict.fromkeys(r["model"] for r in summary["metrics"]))


def _values(summary, target, model, split="test"):
    ids = [s["id"] for s in summary["strategies"]]
    v = {r["strategy"]: r for r in summary["metrics"] if r["target"] == target and r["model"] == model}
    return np.array([v[i][f"{split}_r2"] for i in ids]), np.array(
        [[v[i][f"{split}_ci95_lo"], v[i][f"{split}_ci95_hi"]] for i in ids], dtype=float)


def _bars(ax, summary, target, threshold, above):
    ids = [s["id"] for s in summary["strategies"]]
    models = _models(summary)
    x = np.arange(len(ids))
    w = 0.8 / len(models)
    lo_all = 0.0
    for j, m in enumerate(models):
        vals, ci = _values(summary, target, m)
        err = np.abs(np.vstack([vals - ci[:, 0], ci[:, 1] - vals]))
        err = np.where(np.isfinite(err), err, 0.0)
        ax.bar(x + (j - (len(models) - 1) / 2) * w, vals, w, yerr=err, capsize=2,
               color=_MODEL_COLORS[j % len(_MODEL_COLORS)], label=m)
        lo_all = min(lo_all, float(np.nanmin(vals)))
    ax.axhline(threshold, color=_GATE, ls="--", lw=1,
               label=f"pass: R² {'>' if above else '<'} {threshold:g}")
    ax.set_xticks(x)
    ax.set_xticklabels([f"{s['id']}\n({s['n_features']})" for s in summary["strategies"]], fontsize=8)
    ax.set_ylim(max(lo_all - 0.05, -0.5), 1.05)
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set_xlabel("strategy (number of features)")
    ax.legend(fontsize=8)


def plot_metric_bars(summary, path, *, target):
    """Test R2 of one target (``log_g`` or ``snr``) per strategy and model, 95 % bootstrap CI."""
    g = summary["gate"]
    fig, ax = plt.subplots(figsize=(9, 4.2))
    if target == "log_g":
        _bars(ax, summary, "log_g", g["logg_threshold"], above=False)
        ax.set_ylabel("log_g R² (test)")
        ax.set_title("Leakage: log_g R² by strategy (want low)")
    else:
        _bars(ax, summary, "snr", g["snr_threshold"], above=True)
        ax.set_ylabel("SNR R² (test)")
        ax.set_title("Quality kept: SNR R² by strategy (want high)")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_tradeoff(summary, path):
    """x: log_g R2, y: SNR R2 (test, highest over models); the pass region shaded.

    Points often cluster, so each strategy has its own colour and a legend entry instead of a
    text label: o passes, x fails, * recommended.
    """
    g = summary["gate"]
    strategies = summary["strategies"]
    fig, ax = plt.subplots(figsize=(8.4, 5))
    lo = min(-0.05, min(s["logg_r2"] for s in strategies) - 0.02)
    ax.fill_between([lo, g["logg_threshold"]], g["snr_threshold"], 1.05, color=_PASS, alpha=0.15,
                    label=f"pass: log_g R² < {g['logg_threshold']:g}, SNR R² > {g['snr_threshold']:g}")
    cmap = plt.get_cmap("tab10")
    for i, s in enumerate(strategies):
        rec = s["id"] == g.get("recommended")
        marker = "*" if rec else ("o" if s["pass"] else "X")
        ax.scatter(s["logg_r2"], s["snr_r2"], color=cmap(i % 10), marker=marker, s=220 if rec else 60,
                   edgecolors="k", linewidths=0.5, zorder=3,
                   label=f"{s['id']} ({s['n_features']}): {'PASS' if s['pass'] else 'fail'}"
                         + (", recommended" if rec else ""))
    ax.set_xlim(lo, 1.05)
    ax.set_ylim(min(-0.05, min(s["snr_r2"] for s in strategies) - 0.05), 1.05)
    ax.set_xlabel("log_g R² (test, leakage)")
    ax.set_ylabel("SNR R² (test, quality kept)")
    ax.set_title("Trade-off: leakage vs quality")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return save_figure(fig, path)


def plot_summary_panel(summary, path):
    """Both bars side by side and a text box with the Gate-1 (MVP-0.2) decision."""
    g = summary["gate"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), gridspec_kw={"width_ratios": [2, 2, 1.2]})
    _bars(axes[0], summary, "log_g", g["logg_threshold"], above=False)
    axes[0].set_title("log_g R² (test)")
    _bars(axes[1], summary, "snr", g["snr_threshold"], above=True)
    axes[1].set_title("SNR R² (test)")
    ax = axes[2]
    ax.axis("off")
    rec = g.get("recommended")
    lines = [f"{summary['experiment_id']}", f"{g['name']} ({g['mvp']}): {g['verdict']}",
             f"recommended: {rec if rec else 'none'}",
             f"passing: {', '.join(g['passing']) if g['passing'] else 'none'}", ""]
    for s in summary["strategies"]:
        lines.append(f"{'PASS' if s['pass'] else 'fail'}  {s['id']:<6} logg {s['logg_r2']:.3f}  snr {s['snr_r2']:.3f}")
    ax.text(0, 1, "\n".join(lines), va="top", family="monospace", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def draw_all(summary, img_dir, prefix) -> dict:
    """Draw the four figures into ``img_dir``; returns plot key -> path relative to the run."""
    out = {}
    for key, fn in (("logg_r2", lambda p: plot_metric_bars(summary, p, target="log_g")),
                    ("snr_r2", lambda p: plot_metric_bars(summary, p, target="snr")),
                    ("tradeoff", lambda p: plot_tradeoff(summary, p)),
                    ("summary_panel", lambda p: plot_summary_panel(summary, p))):
        name = f"{prefix}_{key}.png"
        fn(img_dir / name)
        out[key] = f"img/{name}"
    return out
