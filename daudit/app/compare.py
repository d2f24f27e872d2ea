"""Two finished audits side by side: the text of ``python -m daudit compare A B``.

`format_comparison` is a pure function from two summaries (read through the result schema) to
text: the runs (folder, date, rows, quick), the gate (verdict, best model and test R², its 95%
interval, the rule, the family-wise p), the test R² of every (model, noise level) with B - A, and
the headline number of each sanity check (its best refit's test R² and what it concluded).
"""

from __future__ import annotations

from daudit.app.history_text import QUICK_MARK, text_table
from daudit.core.errors import DauditError
from daudit.core.gate_rule import verdict_label
from daudit.core.schema import quick_run

__all__ = ["format_comparison", "CHECKS"]

# sanity section -> (label, key of its headline test R2): the best refit after the check's change
CHECKS = {
    "wavelength_shuffle": ("wavelength shuffle", "best_refit_test_r2"),
    "group_shuffle": ("group shuffle", "best_test_r2"),
    "mask_only": ("mask only", "best_test_r2"),
    "aggregate_stats": ("aggregate statistics", "best_test_r2"),
}


def _num(value, spec: str = ".4f") -> str:
    return format(value, spec) if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


def _delta(a, b) -> str:
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b)):
        return f"{b - a:+.4f}"
    return ""


def _interval(ci) -> str:
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(isinstance(v, (int, float)) for v in ci):
        return f"[{ci[0]:.4f}, {ci[1]:.4f}]"
    return "-"


def _gate_rows(a: dict, b: dict) -> list[list[str]]:
    ga, gb = a.get("gate") or {}, b.get("gate") or {}

    def verdict(s, g):
        return verdict_label(g) + (f" {QUICK_MARK}" if quick_run(s) else "")

    def best(g):
        level = g.get("best_noise_level")
        return f"{g.get('best_model', '?')}" + (f" at level {level:g}" if isinstance(level, (int, float)) else "")

    return [
        ["verdict", verdict(a, ga), verdict(b, gb), ""],
        ["best test R2", _num(ga.get("best_test_r2")), _num(gb.get("best_test_r2")),
         _delta(ga.get("best_test_r2"), gb.get("best_test_r2"))],
        ["best model", best(ga), best(gb), ""],
        ["95% interval", _interval(ga.get("ci95")), _interval(gb.get("ci95")), ""],
        ["rule", str(ga.get("rule", "point")), str(gb.get("rule", "point")), ""],
        ["p family-wise", _num(ga.get("p_value_familywise")), _num(gb.get("p_value_familywise")), ""],
    ]


def _metric_key(row: dict) -> tuple:
    return (float(row.get("noise_level") or 0.0), str(row.get("model")))


def _metrics_rows(a: dict, b: dict) -> list[list[str]]:
    """Test R2 of each (model, level) either run has, level 0 (degenerate) left out."""
    ra = {_metric_key(r): r.get("test_r2") for r in a.get("metrics") or [] if not r.get("degenerate")}
    rb = {_metric_key(r): r.get("test_r2") for r in b.get("metrics") or [] if not r.get("degenerate")}
    keys = list(ra) + [k for k in rb if k not in ra]
    return [[f"{model} at {level:g}", _num(ra.get((level, model))), _num(rb.get((level, model))),
             _delta(ra.get((level, model)), rb.get((level, model)))] for level, model in keys]


def _check_rows(a: dict, b: dict) -> list[list[str]]:
    sa, sb = a.get("sanity") or {}, b.get("sanity") or {}
    rows = []
    for name, (label, key) in CHECKS.items():
        ca, cb = sa.get(name) or {}, sb.get(name) or {}
        if not ca and not cb:
            continue
        va, vb = ca.get(key), cb.get(key)
        rows.append([f"{label}: best R2", _num(va) + (f" ({ca['effect']})" if ca.get("effect") else ""),
                     _num(vb) + (f" ({cb['effect']})" if cb.get("effect") else ""), _delta(va, vb)])
    if not rows:
        rows.append(["(no sanity checks)", "-" if not sa else "", "-" if not sb else "", ""])
    return rows


def _run_rows(a: dict, b: dict, dir_a, dir_b) -> list[list[str]]:
    def n_train(s):
        n = ((s.get("data") or {}).get("splits") or {}).get("train", {}).get("n_rows")
        return f"{n:,}" if isinstance(n, int) else "-"

    return [
        ["experiment", str(a.get("experiment_id", "?")), str(b.get("experiment_id", "?")), ""],
        ["folder", str(dir_a), str(dir_b), ""],
        ["finished", str(a.get("finished_utc", "?")), str(b.get("finished_utc", "?")), ""],
        ["train rows", n_train(a), n_train(b), ""],
        ["quick run", "yes" if quick_run(a) else "no", "yes" if quick_run(b) else "no", ""],
    ]


def format_comparison(a: dict, b: dict, *, dir_a="A", dir_b="B") -> str:
    """The two audits' summaries side by side (B - A in the last column); `DauditError` for a deleak run."""
    for s, where in ((a, dir_a), (b, dir_b)):
        if s.get("kind", "audit") != "audit":
            raise DauditError(f"{where}: a {s.get('kind')} run; compare puts two audits (python -m daudit run) "
                              "side by side")
    header = ["", "A", "B", "B - A"]
    parts = []
    for title, rows in (("Runs", _run_rows(a, b, dir_a, dir_b)), ("Gate", _gate_rows(a, b)),
                        ("Test R2 per model and noise level", _metrics_rows(a, b)),
                        ("Sanity checks", _check_rows(a, b))):
        parts.append(title + "\n" + "\n".join("  " + ln for ln in text_table(header, rows).splitlines()))
    return "\n\n".join(parts)
