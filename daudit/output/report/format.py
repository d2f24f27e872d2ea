"""Formatting helpers of the report: every number goes through one of these formatters.

R2, MAE, RMSE: 4 decimals (`_r`); wavelengths: 1 decimal (`_w`); shares: percent with 1 decimal
(`_pct`); noise levels and alphas as written in the spec (`_lv`); importances: 4 significant
digits (`_imp`). `daudit.output.report.numbers_not_in_summary` relies on these conventions.
"""

__all__ = ["leakage_degree"]

import math

from daudit.core.errors import DauditError
from daudit.models.selection import leakage_degree  # noqa: F401  (re-exported: words for the gate statistic)


# ---------------------------------------------------------------- formatting helpers
def _isnum(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _r(x):
    """R2, MAE, RMSE: 4 decimals."""
    return f"{x:.4f}" if _isnum(x) else "n/a"


def _w(x):
    """Wavelength in Angstrom: 1 decimal."""
    return f"{x:.1f}"


def _pct(share):
    """A share in [0, 1] as percent with 1 decimal."""
    return f"{share * 100:.1f}%" if _isnum(share) else "n/a"


def _imp(x):
    """An importance value: 4 significant digits, always with a decimal point or an exponent."""
    if not _isnum(x):
        return "n/a"
    if x != 0 and not 1e-3 <= abs(x) < 1e4:
        return f"{x:.3e}"
    return f"{x:.{max(1, 3 - math.floor(math.log10(abs(x)))) if x else 1}f}"


def _lv(level):
    """A noise level (or alpha) as written in the spec."""
    return f"{level:g}"


def _count(n):
    """Row counts the way the template writes them (100k)."""
    n = int(n)
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def _truthy(x):
    return x is True or str(x).strip().lower() in ("true", "1", "yes")


def _best_txt(rec):
    """A best-model record as "R2（model，L=..）", or a note when there is none."""
    if not rec:
        return "n/a（本次运行没有该模型）"
    return f"{_r(rec['test_r2'])}（{_where(rec)}）"


def _where(rec):
    return f"{rec['model']}，L={_lv(rec['noise_level'])}"


# ---------------------------------------------------------------- summary access
def _require(summary):
    missing = [k for k in ("experiment_id", "date", "data", "noise_levels", "alphas", "metrics",
                           "best", "gate")
               if k not in summary]
    if missing:
        raise DauditError(
            f"summary lacks {', '.join(missing)}: render_report needs a finished summary.json "
            "(see docs/internals.md); rerun the audit")


def _rows_by_level(summary):
    levels = {}
    for row in summary["metrics"]:
        levels.setdefault(float(row["noise_level"]), []).append(row)
    return dict(sorted(levels.items()))


def _row(summary, level, model):
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


def _image(summary, key, alt):
    """Markdown image link, or a note when the figure was not produced."""
    path = _figure(summary, key)
    return f"![{alt}]({path})" if path else f"（本次运行没有生成 `{key}` 图）"


def _primary(summary):
    imp = summary.get("importance") or {}
    name = imp.get("primary")
    models = imp.get("models") or {}
    if name not in models:
        name = next(iter(models), None)
    return name, models.get(name)
