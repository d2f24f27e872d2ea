"""The Gate-1 rules a spec may ask for, and the verdict as every reader shows it.

Two rules decide a PASS (`daudit.models.selection.decide_gate` applies them, in one place):

- ``point`` (the default, the seed's rule): PASS when the best test R² is below the threshold;
- ``strict``: PASS only when the upper end of the selection-aware 95% interval of that best
  test R² is below the threshold (a borderline PASS becomes a FAIL).

Under either rule a verdict whose interval straddles the threshold is *borderline*, and every
reader (the report's headline, ``show``, ``list``, ``status``, ``publish``, the CLI) shows it
with `verdict_label`, never as a clean PASS.
"""

from __future__ import annotations

__all__ = ["GATE_RULES", "DEFAULT_GATE_RULE", "verdict_label"]

GATE_RULES = ("point", "strict")
DEFAULT_GATE_RULE = "point"


def verdict_label(gate: dict | None) -> str:
    """``"PASS"``, ``"FAIL"``, ``"PASS (borderline)"`` or ``"FAIL (borderline)"`` from a gate record.

    ``gate``: ``summary["gate"]`` (``verdict``, ``borderline``); ``"?"`` when it has no verdict.
    """
    gate = gate or {}
    verdict = gate.get("verdict") or "?"
    return f"{verdict} (borderline)" if gate.get("borderline") else str(verdict)
