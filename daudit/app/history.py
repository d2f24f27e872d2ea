"""The history of audit runs under a results directory: find, resolve and describe them.

A run is a folder holding ``summary.json`` (written last, so the run finished) or, while it is
still running or after it failed, only ``run.log`` ("incomplete"). Runs are looked for in the
subfolders of the results directory and one level deeper (``results/<group>/<exp_id>/``).

`find_runs`, `resolve_run` and `load_summary` read the disk; `format_run_table` and
`format_summary` (re-exported from `daudit.app.history_text`) are pure functions from records /
summaries to text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from daudit.app.history_text import as_float, dig, format_run_table, format_summary  # re-exported: format_*
from daudit.core import schema
from daudit.core.errors import DauditError
from daudit.core.gate_rule import verdict_label
from daudit.core.timefmt import format_duration
from daudit.core.typecheck import SchemaError

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
    quick : bool
        A ``run --quick`` (lighter nulls and intervals): its verdict is a first look.
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
    quick: bool = False  # a run --quick (`daudit.core.schema.quick_run`): marked "(quick)"


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


def _record_from_summary(path: Path, summary: dict) -> RunRecord:
    r2 = dig(summary, "gate", "best_test_r2")
    if r2 is None:
        r2 = dig(summary, "best", "test_r2")
    n_train = dig(summary, "data", "splits", "train", "n_rows")
    when = (_parse_time(summary.get("finished_utc")) or _parse_time(summary.get("started_utc"))
            or _parse_time(summary.get("date")) or _mtime(path / _SUMMARY))
    return RunRecord(
        path=path,
        status=str(summary.get("status") or "finished"),
        experiment_id=summary.get("experiment_id") or path.name,
        date=summary.get("date"),
        source=dig(summary, "data", "source"),
        n_train=n_train if isinstance(n_train, int) else None,
        verdict=verdict_label(summary["gate"]) if dig(summary, "gate", "verdict") else None,
        best_test_r2=as_float(r2),
        total_seconds=as_float(dig(summary, "timings", "total_seconds")),
        sort_time=when,
        quick=schema.quick_run(summary),
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
        except (OSError, SchemaError) as err:
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
