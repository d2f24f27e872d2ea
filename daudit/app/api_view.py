"""How an `daudit.app.api.AuditResult` looks in a terminal and in a notebook (pure text, no I/O).

`sig` rounds a number to 4 significant digits for display (the full values stay in the result's
``summary`` and ``metrics``); `result_html` is the notebook view: the verdict, the gate's number
with its 95% interval, and the metrics table, every text HTML-escaped.
"""

from __future__ import annotations

import html
import math
import numbers

from daudit.core.gate_rule import verdict_label

__all__ = ["sig", "ci_text", "result_html", "METRIC_VIEW_COLUMNS"]

# the metrics columns shown in the notebook view, in this order (those the run has)
METRIC_VIEW_COLUMNS = ("noise_level", "model", "train_r2", "val_r2", "test_r2", "test_mae", "test_rmse")


def sig(value, digits: int = 4) -> str:
    """``value`` with ``digits`` significant digits (``0.98961234`` -> ``"0.9896"``); ``"n/a"`` for None."""
    if value is None or isinstance(value, bool):
        return "n/a"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.{digits}g}" if math.isfinite(number) else str(number)


def ci_text(gate: dict) -> str:
    """``" [95% CI 0.9876, 0.9906]"`` from the gate's ``ci95``; ``""`` without one."""
    ci = gate.get("ci95")
    if not ci or len(ci) != 2 or any(v is None for v in ci):
        return ""
    return f" [95% CI {sig(ci[0])}, {sig(ci[1])}]"


def _cell(value) -> str:
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, numbers.Integral)):
        return sig(value)
    return html.escape(str(value))


def result_html(result) -> str:
    """The notebook view of a result (`AuditResult`): an HTML fragment, every text escaped."""
    gate = result.gate
    name = html.escape(str(gate.get("name") or "Gate"))
    exp = html.escape(str(result.summary.get("experiment_id", "?")))
    verdict = html.escape(verdict_label(gate))
    colour = {"PASS": "#1a7f37", "FAIL": "#cf222e"}.get(gate.get("verdict"), "#57606a")
    model = html.escape(str(gate.get("best_model") or "?"))
    threshold = gate.get("threshold")
    rule = f" (threshold {sig(threshold)})" if threshold is not None else ""
    head = (f"<div><b>{exp}</b>: {name} <b style=\"color:{colour}\">{verdict}</b><br>"
            f"best test R² {sig(result.best_test_r2)}{html.escape(ci_text(gate))} "
            f"({model}){html.escape(rule)}<br><small>{html.escape(str(result.output_dir))}</small></div>")
    metrics = result.metrics
    cols = [c for c in METRIC_VIEW_COLUMNS if c in metrics.columns] or list(metrics.columns)
    rows = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in rec) + "</tr>"
                   for rec in metrics[cols].itertuples(index=False, name=None))
    table = ("<table><thead><tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
             + f"</tr></thead><tbody>{rows}</tbody></table>")
    return head + table
