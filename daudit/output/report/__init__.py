"""The experiment report (markdown) of a finished audit, and its number self-check.

Nothing here recomputes results: the report is built from summary.json only.
"""

from daudit.output.report.constants import DEFAULT_LINES
from daudit.output.report.numbers import numbers_not_in_summary
from daudit.output.report.render import leakage_degree, render_report

__all__ = ["render_report", "numbers_not_in_summary", "leakage_degree", "DEFAULT_LINES"]
