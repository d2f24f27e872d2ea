"""The history of audit runs under a results directory: find, resolve and describe them.

A run is a folder holding ``summary.json`` (written last, so the run finished) or, while it is
still running or after it failed, only ``run.log`` ("incomplete"). Runs are looked for in the
subfolders of the results directory and one level deeper (``results/<group>/<exp_id>/``).

`find_runs`, `resolve_run` and `load_summary` read the disk; `format_run_table` and
`format_summary` are pure functions from records / summaries to text.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from daudit.core import schema
from daudit.core.errors import DauditError
from daudit.core.timefmt import format_duration

__all__ = [
    "RunRecord",
    "find_runs",
    "load_summary",
    "resolve_run",
    "format_run_table",
    "format_summary",
    "format_duration",
]

_SUMMARY = "summary.json"
_LOG = "run.log"


@dataclass(frozen=True)
class RunRecord:
    """One row of the run history.

    Attributes
    ----------
    path : Path
        The run's folder.
    status : str
        ``"finished"``, ``"incomplete"`` (run.log but no summary.json) or ``"unreadable"``
        (summary.json that is not valid JSON), or the summary's own status.
    experiment_id, date, source, verdict : str or None
        From summary.json; for an incomplete run the folder name stands in for the id.
    n_train : int or None
        Training rows (``data.splits.train.n_rows``).
    best_test_r2, total_seconds : float or None
        ``gate.best_test_r2`` (else ``best.test_r2``) and ``timings.total_seconds``.
    problem : str or None
        For an unreadable summary.json: what is wrong with it (`daudit.core.schema`).
    sort_time : float
        POSIX time used to order runs, newest first.
    """

    path: Path
    status: str
    experiment_id: str | None = None
    date: str | None = None
    source: str | None = None
    n_train: int | None = None
    verdict: str | None = None
    best_test_r2: float | None = None
    total_seconds: float | None = None
    sort_time: float = 0.0
    problem: str | None = None  # why an unreadable summary.json could not be read


def _parse_time(value) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _get(mapping, *keys):
    for key in keys:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping


def _as_float(value) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _record_from_summary(path: Path, summary: dict) -> RunRecord:
    r2 = _get(summary, "gate", "best_test_r2")
    if r2 is None:
        r2 = _get(summary, "best", "test_r2")
    n_train = _get(summary, "data", "splits", "train", "n_rows")
    when = (_parse_time(summary.get("finished_utc")) or _parse_time(summary.get("started_utc"))
            or _parse_time(summary.get("date")) or _mtime(path / _SUMMARY))
    return RunRecord(
        path=path,
        status=str(summary.get("status") or "finished"),
        experiment_id=summary.get("experiment_id") or path.name,
        date=summary.get("date"),
        source=_get(summary, "data", "source"),
        n_train=n_train if isinstance(n_train, int) else None,
        verdict=_get(summary, "gate", "verdict"),
        best_test_r2=_as_float(r2),
        total_seconds=_as_float(_get(summary, "timings", "total_seconds")),
        sort_time=when,
    )


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _record(path: Path) -> RunRecord | None:
    summary_path = path / _SUMMARY
    if os.path.lexists(summary_path) and not summary_path.is_dir():
        try:
            summary = schema.read_summary(summary_path)
        except (OSError, schema.SchemaError) as err:
            problem = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            return RunRecord(path=path, status="unreadable", experiment_id=path.name,
                             sort_time=_mtime(summary_path), problem=problem)
        return _record_from_summary(path, summary)
    log = path / _LOG
    if log.is_file():
        return RunRecord(path=path, status="incomplete", experiment_id=path.name,
                         sort_time=_mtime(log))
    return None


def find_runs(results_dir="results") -> list[RunRecord]:
    """Every run under `results_dir` (its subfolders and theirs), newest first.

    Parameters
    ----------
    results_dir : path-like, default="results"

    Returns
    -------
    list of RunRecord
        Empty when the folder holds no run.

    Raises
    ------
    DauditError
        `results_dir` does not exist.
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise DauditError(
            f"{root}: no such results directory; pass the folder your runs were written to "
            "(default results/), or start one with `python -m daudit run`"
        )
    records = []
    own = _record(root)
    if own is not None:
        records.append(own)
    try:
        children = _subfolders(root, strict=True)
    except OSError as err:
        raise DauditError(f"{root}: cannot be listed ({err.strerror or err}); check its permissions") from err
    for child in children:
        rec = _record(child)
        if rec is not None:
            records.append(rec)
            continue
        for grandchild in _subfolders(child):
            rec = _record(grandchild)
            if rec is not None:
                records.append(rec)
    return sorted(records, key=lambda r: (-r.sort_time, str(r.path)))


def _subfolders(folder: Path, *, strict: bool = False) -> list[Path]:
    """Sorted subfolders (not links to them: a link could loop or lead anywhere); an unreadable
    folder has none unless ``strict``."""
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        if strict:
            raise
        return []


def load_summary(run_dir) -> dict:
    """Read a run's summary.json through the result schema (`daudit.core.schema`).

    Raises
    ------
    DauditError
        The file is missing (the run is unfinished), damaged, or of another schema version.
    """
    path = Path(run_dir) / _SUMMARY
    if not os.path.lexists(path) or path.is_dir():
        state = ("unfinished or failed (run.log is there; see `python -m daudit status`)"
                 if (Path(run_dir) / _LOG).is_file() else "not a run folder")
        raise DauditError(f"{path}: missing, the run is {state}; pick a finished run "
                          "from `python -m daudit list`")
    return schema.load_summary(path)


def resolve_run(run, *, results_dir="results") -> Path:
    """Turn a run folder or an experiment id into the run's folder.

    Parameters
    ----------
    run : str or path-like
        A folder holding summary.json / run.log, or an experiment id (case-insensitive)
        of a run under `results_dir`; the newest such run is chosen.
    results_dir : path-like, default="results"

    Returns
    -------
    Path

    Raises
    ------
    DauditError
        Neither a run folder nor a known experiment id.
    """
    path = Path(run)
    if path.is_dir() and ((path / _SUMMARY).exists() or (path / _LOG).exists()):
        return path
    root = Path(results_dir)
    records = find_runs(root) if root.is_dir() else []
    wanted = str(run).strip().lower()
    matches = [r for r in records if (r.experiment_id or "").lower() == wanted]
    if matches:
        finished = [r for r in matches if r.status == "finished"]
        return (finished or matches)[0].path
    known = sorted({r.experiment_id for r in records if r.experiment_id})
    hint = f"known ids: {', '.join(known)}" if known else f"no runs under {root}"
    raise DauditError(
        f"{run}: neither a run folder (with summary.json or run.log) nor an experiment id "
        f"under {root} ({hint}); pass a path or see `python -m daudit list`"
    )


def _table(header: list[str], rows: list[list[str]], *, right: set[int] = frozenset()) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row):
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _data_cell(rec: RunRecord) -> str:
    if rec.source is None and rec.n_train is None:
        return "-"
    rows = f"{rec.n_train:,} train" if rec.n_train is not None else "? train"
    return f"{rec.source or '?'} / {rows}"


def format_run_table(records: list[RunRecord]) -> str:
    """An aligned text table of runs: one line each, in the order given.

    Columns: experiment, date, data (source / training rows), verdict, best test R2,
    duration, path. A run without summary.json shows ``incomplete`` as its verdict.
    """
    header = ["EXPERIMENT", "DATE", "DATA", "VERDICT", "BEST TEST R2", "DURATION", "PATH"]
    rows = []
    for rec in records:
        if rec.status == "finished":
            verdict = rec.verdict or "-"
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
    return _table(header, rows, right={4, 5})


def _fmt(value, spec: str = ".4f") -> str:
    number = _as_float(value)
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
    for part in (_data_lines(summary.get("data") or {}), _gate_lines(summary.get("gate") or {}),
                 _best_lines(summary), _metrics_lines(summary.get("metrics") or []),
                 _importance_lines(summary.get("importance") or {}, n_top_pixels),
                 _timing_lines(summary.get("timings") or {}), _output_lines(summary.get("outputs") or {}, run_dir)):
        if part:
            out += ["", *part]
    return "\n".join(out)


def _header_lines(summary: dict, run_dir) -> list[str]:
    out = [f"{summary.get('experiment_id', '?')}  ({summary.get('date', '?')}, status {summary.get('status', '?')})"]
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


def _gate_lines(gate: dict) -> list[str]:
    if not gate:
        return []
    ci = gate.get("ci95")
    ci_text = f"  95% CI [{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci and len(ci) == 2 else ""
    out = [f"{gate.get('name', 'Gate')}: {gate.get('verdict', '?')}" + (" (borderline)" if gate.get("borderline") else ""),
           f"  best test R2 {_fmt(gate.get('best_test_r2'))}{ci_text}"
           f"  (threshold {gate.get('threshold', '?')}, model {gate.get('best_model', '?')})"]
    if gate.get("leakage_degree"):
        out.append(f"  leakage: {gate['leakage_degree']}")
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
    return ["Metrics", _indent(_table(header, rows, right={0, *range(2, 8)}))]


def _importance_lines(importance: dict, n_top_pixels: int) -> list[str]:
    primary = importance.get("primary")
    model = _get(importance, "models", primary) if primary else None
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
        out.append(_indent(_table(["RANK", "PIXEL", "WAVE (A)", "IMPORTANCE"], rows, right={0, 1, 2, 3})))
    return out


def _timing_lines(timings: dict) -> list[str]:
    if not timings:
        return []
    out = [f"Timings: total {format_duration(_as_float(timings.get('total_seconds')))}"]
    for stage, seconds in (timings.get("stages") or {}).items():
        out.append(f"  {stage:<24} {format_duration(_as_float(seconds)):>10}")
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
