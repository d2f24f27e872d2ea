"""The text of ``list`` and ``show``: the run table and the account of one run's summary.json.

`format_run_table` (records from `daudit.app.history.find_runs`) and `format_summary` (a parsed
summary.json) are pure functions to text; `daudit.app.history` re-exports them. The small
readers `dig` and `as_float` are shared with `daudit.app.history`, which imports this module
(so this one does not import it back, and takes `RunRecord`s without naming the class).
"""

from __future__ import annotations

import math
from pathlib import Path

from daudit.core.gate_rule import verdict_label
from daudit.core.schema import quick_run
from daudit.core.timefmt import format_duration

__all__ = ["format_run_table", "format_summary", "text_table", "QUICK_MARK", "QUICK_NOTE",
           "dig", "as_float"]  # the last two: for daudit.app.history

QUICK_MARK = "(quick)"  # beside the verdict of a run --quick in list, show and status
QUICK_NOTE = ("a --quick run (lighter nulls and intervals on a small sample): a first look, not a full audit; "
              "publish refuses it without --force")


def dig(mapping, *keys):
    for key in keys:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping


def as_float(value) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def text_table(header: list[str], rows: list[list[str]], *, right: set[int] = frozenset()) -> str:
    """Rows of text cells under ``header``, aligned (columns in ``right`` to the right), a rule below the header."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row):
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _data_cell(rec) -> str:
    if rec.source is None and rec.n_train is None:
        return "-"
    rows = f"{rec.n_train:,} train" if rec.n_train is not None else "? train"
    return f"{rec.source or '?'} / {rows}"


def format_run_table(records: list) -> str:
    """An aligned text table of runs (`daudit.app.history.RunRecord`): one line each, in the order given.

    Columns: experiment, date, data (source / training rows), verdict, best test R2,
    duration, path. A run without summary.json shows ``incomplete`` as its verdict.
    """
    header = ["EXPERIMENT", "DATE", "DATA", "VERDICT", "BEST TEST R2", "DURATION", "PATH"]
    rows = []
    for rec in records:
        if rec.status == "finished":
            verdict = (rec.verdict or "-") + (f" {QUICK_MARK}" if getattr(rec, "quick", False) else "")
        else:
            verdict = rec.status
        rows.append([
            rec.experiment_id or "-",
            rec.date or "-",
            _data_cell(rec),
            verdict,
            f"{rec.best_test_r2:.4f}" if rec.best_test_r2 is not None else "-",
            format_duration(rec.total_seconds),
            str(rec.path),
        ])
    return text_table(header, rows, right={4, 5})


def _fmt(value, spec: str = ".4f") -> str:
    number = as_float(value)
    return "-" if number is None else format(number, spec)


def format_summary(summary: dict, *, run_dir=None, n_top_pixels: int = 10) -> str:
    """A readable account of one run's summary.json.

    Parameters
    ----------
    summary : dict
        The parsed summary.json (schema in docs/internals.md); missing parts are skipped.
    run_dir : path-like, optional
        The run's folder; shown, and used to mark output files that are missing.
    n_top_pixels : int, default=10
        How many of the primary importance model's top pixels to list.

    Returns
    -------
    str
    """
    out = _header_lines(summary, run_dir)
    if summary.get("kind") == "deleak":  # strategies and targets, not noise levels
        results = [_deleak_strategy_lines(summary), _deleak_metrics_lines(summary.get("metrics") or [])]
    else:
        results = [_best_lines(summary), _metrics_lines(summary.get("metrics") or []),
                   _importance_lines(summary.get("importance") or {}, n_top_pixels)]
    gate = _gate_lines(summary.get("gate") or {}, quick=quick_run(summary))
    for part in (_data_lines(summary.get("data") or {}), gate, *results,
                 _timing_lines(summary.get("timings") or {}), _output_lines(summary.get("outputs") or {}, run_dir)):
        if part:
            out += ["", *part]
    return "\n".join(out)


def _header_lines(summary: dict, run_dir) -> list[str]:
    quick = f", {QUICK_MARK[1:-1]}" if quick_run(summary) else ""
    out = [f"{summary.get('experiment_id', '?')}  ({summary.get('date', '?')}, status {summary.get('status', '?')}"
           f"{quick})"]
    if quick:
        out.append(f"note:     {QUICK_NOTE}")
    if run_dir is not None:
        out.append(f"folder:   {run_dir}")
    if summary.get("started_utc") or summary.get("finished_utc"):
        out.append(f"ran:      {summary.get('started_utc', '?')} -> "
                   f"{summary.get('finished_utc', '?')}")
    if summary.get("daudit_version"):
        out.append(f"daudit:   {summary['daudit_version']}")
    return out


def _data_lines(data: dict) -> list[str]:
    if not data:
        return []
    out = ["Data", f"  source: {data.get('source', '?')}   param: {data.get('param', '?')}   "
                   f"input: {data.get('input', '?')}"]
    if data.get("n_pixels") is not None:
        out.append(f"  pixels: {data['n_pixels']}  ({_fmt(data.get('wave_min'), '.1f')}-"
                   f"{_fmt(data.get('wave_max'), '.1f')} A)")
    for split, info in (data.get("splits") or {}).items():
        if not isinstance(info, dict):
            continue
        rows = info.get("n_rows")
        rows = f"{rows:,}" if isinstance(rows, int) else "?"
        extra = ", ".join(f"{k.removeprefix('n_')} {info[k]}" for k in
                          ("n_nan_filled", "n_nonfinite_after_fill", "n_nonpositive")
                          if info.get(k))
        out.append(f"  {split:<5} {rows:>12} rows" + (f"  ({extra})" if extra else ""))
    return out


def _gate_lines(gate: dict, *, quick: bool = False) -> list[str]:
    if not gate:
        return []
    ci = gate.get("ci95")
    ci_text = f"  95% CI [{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci and len(ci) == 2 else ""
    out = [f"{gate.get('name', 'Gate')}: {verdict_label(gate)}{' ' + QUICK_MARK if quick else ''}",
           f"  best test R2 {_fmt(gate.get('best_test_r2'))}{ci_text}"
           f"  (threshold {gate.get('threshold', '?')}, model {gate.get('best_model', '?')})"]
    if gate.get("leakage_degree"):
        out.append(f"  leakage: {gate['leakage_degree']}")
    out += [f"  blocked: {b.get('text', '?')}" for b in gate.get("blocked_by") or []]
    out += [f"  untested: {u.get('text', '?')}" for u in gate.get("untested") or []]
    return out


def _best_lines(summary: dict) -> list[str]:
    bests = [(label, summary[key]) for key, label in (
        ("best", "Best model"), ("best_ridge", "Best Ridge"), ("best_lightgbm", "Best LightGBM"))
        if isinstance(summary.get(key), dict) and summary[key]]
    return [f"{label + ':':<15}{best.get('model', '?')} at noise "
            f"{_fmt(best.get('noise_level'), 'g')}: test R2 {_fmt(best.get('test_r2'))}, "
            f"MAE {_fmt(best.get('test_mae'))}, RMSE {_fmt(best.get('test_rmse'))}" for label, best in bests]


def _metrics_lines(metrics: list) -> list[str]:
    metrics = [m for m in metrics if isinstance(m, dict)]
    if not metrics:
        return []
    header = ["NOISE", "MODEL", "TRAIN R2", "VAL R2", "TEST R2", "TEST MAE", "TEST RMSE", "FIT S"]
    rows = [[_fmt(m.get("noise_level"), "g"), str(m.get("model", "?"))
             + (" (degenerate)" if str(m.get("degenerate")).lower() == "true" else ""),
             _fmt(m.get("train_r2")), _fmt(m.get("val_r2")), _fmt(m.get("test_r2")),
             _fmt(m.get("test_mae")), _fmt(m.get("test_rmse")),
             _fmt(m.get("fit_seconds"), ".2f")] for m in metrics]
    return ["Metrics", _indent(text_table(header, rows, right={0, *range(2, 8)}))]


def _importance_lines(importance: dict, n_top_pixels: int) -> list[str]:
    primary = importance.get("primary")
    model = dig(importance, "models", primary) if primary else None
    if not isinstance(model, dict):
        return []
    pixels = (model.get("top_pixels") or [])[:n_top_pixels]
    share = _fmt(model.get("top_k_share"), ".1%")
    out = [f"Top pixels ({primary}, {model.get('kind', '?')}, noise "
           f"{_fmt(importance.get('reference_noise_level'), 'g')}; "
           f"top-{importance.get('top_k', '?')} share {share})"]
    if pixels:
        rows = [[str(p.get("rank", "?")), str(p.get("pixel", "?")),
                 _fmt(p.get("wavelength"), ".2f"), _fmt(p.get("importance"), ".4g")]
                for p in pixels]
        out.append(_indent(text_table(["RANK", "PIXEL", "WAVE (A)", "IMPORTANCE"], rows, right={0, 1, 2, 3})))
    return out


def _timing_lines(timings: dict) -> list[str]:
    if not timings:
        return []
    out = [f"Timings: total {format_duration(as_float(timings.get('total_seconds')))}"]
    for stage, seconds in (timings.get("stages") or {}).items():
        out.append(f"  {stage:<24} {format_duration(as_float(seconds)):>10}")
    return out


def _output_lines(outputs: dict, run_dir) -> list[str]:
    if not outputs:
        return []
    out = ["Outputs"]
    files = [(k, v) for k, v in outputs.items() if isinstance(v, str)]
    files += [(f"figure {k}", v) for k, v in (outputs.get("figures") or {}).items()]
    for label, rel in files:
        missing = run_dir is not None and not _exists(Path(run_dir), rel)
        out.append(f"  {label:<24} {rel}" + ("  (missing)" if missing else ""))
    return out


def _exists(run_dir: Path, rel: str) -> bool:
    try:
        return (run_dir / rel).exists()
    except (OSError, ValueError):  # a name with a NUL byte, or too long: not a file of the run
        return False


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


# ------------------------------------------------------------------------------ deleak runs (kind "deleak")


def _ci(pair) -> str:
    return f"[{_fmt(pair[0])}, {_fmt(pair[1])}]" if isinstance(pair, (list, tuple)) and len(pair) == 2 else "-"


def _deleak_strategy_lines(summary: dict) -> list[str]:
    """One line per strategy: features, test log_g and SNR R2 (highest over models, which model), pass."""
    strategies = [s for s in summary.get("strategies") or [] if isinstance(s, dict)]
    if not strategies:
        return []
    gate = summary.get("gate") or {}
    header = ["ID", "FEATURES", "LOG_G R2", "95% CI", "BY", "SNR R2", "BY", "PASS", "DESCRIPTION"]
    rows = [[str(s.get("id", "?")), str(s.get("n_features", "?")), _fmt(s.get("logg_r2")), _ci(s.get("logg_ci95")),
             str(s.get("logg_model", "-")), _fmt(s.get("snr_r2")), str(s.get("snr_model", "-")),
             "yes" if s.get("pass") else "no", str(s.get("description", ""))] for s in strategies]
    rule = (f"test R2, highest over models; pass: log_g R2 < {gate.get('logg_threshold', '?')} and SNR R2 > "
            f"{gate.get('snr_threshold', '?')}; recommended: {gate.get('recommended') or 'none'}")
    return [f"Strategies ({rule})", _indent(text_table(header, rows, right={1, 2, 5}))]


def _deleak_metrics_lines(metrics: list) -> list[str]:
    """The metrics table of a deleak run: one row per (strategy, model, target)."""
    metrics = [m for m in metrics if isinstance(m, dict)]
    if not metrics:
        return []
    header = ["STRATEGY", "MODEL", "TARGET", "TRAIN R2", "VAL R2", "TEST R2", "TEST 95% CI", "TEST MAE", "TRAIN ROWS"]
    rows = [[str(m.get("strategy", "?")), str(m.get("model", "?")), str(m.get("target", "?")),
             _fmt(m.get("train_r2")), _fmt(m.get("val_r2")), _fmt(m.get("test_r2")),
             _ci([m.get("test_ci95_lo"), m.get("test_ci95_hi")]), _fmt(m.get("test_mae")),
             str(m.get("n_train_rows", "-"))] for m in metrics]
    return ["Metrics", _indent(text_table(header, rows, right={3, 4, 5, 7, 8}))]
