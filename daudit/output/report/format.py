"""Formatting helpers of the report: every number goes through one of these formatters.

R2, MAE, RMSE: 4 decimals (`fmt_metric`); wavelengths: 1 decimal (`fmt_wave`); shares: percent with 1 decimal
(`fmt_pct`); noise levels and alphas as written in the spec (`fmt_level`); importances: 4 significant
digits (`fmt_importance`). `daudit.output.report.numbers_not_in_summary` relies on these conventions.
"""

__all__ = ["leakage_degree"]

import math

from daudit.core.errors import DauditError
from daudit.models.selection import leakage_degree  # noqa: F401  (re-exported: words for the gate statistic)


# ---------------------------------------------------------------- formatting helpers
def is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def fmt_metric(x):
    """R2, MAE, RMSE: 4 decimals."""
    return f"{x:.4f}" if is_number(x) else "n/a"


def fmt_wave(x):
    """Wavelength in Angstrom: 1 decimal."""
    return f"{x:.1f}"


def fmt_pct(share):
    """A share in [0, 1] as percent with 1 decimal."""
    return f"{share * 100:.1f}%" if is_number(share) else "n/a"


def fmt_importance(x):
    """An importance value: 4 significant digits, always with a decimal point or an exponent."""
    if not is_number(x):
        return "n/a"
    if x != 0 and not 1e-3 <= abs(x) < 1e4:
        return f"{x:.3e}"
    return f"{x:.{max(1, 3 - math.floor(math.log10(abs(x)))) if x else 1}f}"


def fmt_level(level):
    """A noise level (or alpha) as written in the spec."""
    return f"{level:g}"


def fmt_count(n):
    """Row counts the way the template writes them (100k)."""
    n = int(n)
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def is_truthy(x):
    return x is True or str(x).strip().lower() in ("true", "1", "yes")


def best_text(rec):
    """A best-model record as "R2（model，L=..）", or a note when there is none."""
    if not rec:
        return "n/a（本次运行没有该模型）"
    return f"{fmt_metric(rec['test_r2'])}（{where_text(rec)}）"


def where_text(rec):
    return f"{rec['model']}，L={fmt_level(rec['noise_level'])}"


# ---------------------------------------------------------------- summary access
def require_summary(summary):
    missing = [k for k in ("experiment_id", "date", "data", "noise_levels", "alphas", "metrics",
                           "best", "gate")
               if k not in summary]
    if missing:
        raise DauditError(
            f"summary lacks {', '.join(missing)}: render_report needs a finished summary.json "
            "(see docs/internals.md); rerun the audit")


def rows_by_level(summary):
    levels = {}
    for row in summary["metrics"]:
        levels.setdefault(float(row["noise_level"]), []).append(row)
    return dict(sorted(levels.items()))


def metric_row(summary, level, model):
    for row in summary["metrics"]:
        if float(row["noise_level"]) == float(level) and row["model"] == model:
            return row
    return None


_FIGURE_KEYS = {  # report name -> plot types under which the pipeline may list the figure
    "r2_models": ("r2_models", "r2_bar_chart"),
    "importance_spectrum": ("importance_spectrum", "feature_importance_spectrum"),
    "importance_hist": ("importance_hist", "importance_histogram"),
}


def _figure(summary, key):
    """Relative path of a figure, or None when the run lists its figures and this one is not there."""
    outputs = summary.get("outputs") or {}
    figures = outputs.get("figures")
    for alias in _FIGURE_KEYS.get(key, (key,)):
        if figures and alias in figures:
            return figures[alias]
    if figures is not None:
        return None
    stem = summary["experiment_id"].lower().replace("-", "_")
    return f"img/{stem}_{key}.png"


def image_link(summary, key, alt):
    """Markdown image link, or a note when the figure was not produced."""
    path = _figure(summary, key)
    return f"![{alt}]({path})" if path else f"（本次运行没有生成 `{key}` 图）"


def primary_importance_of(summary):
    imp = summary.get("importance") or {}
    name = imp.get("primary")
    models = imp.get("models") or {}
    if name not in models:
        name = next(iter(models), None)
    return name, models.get(name)
