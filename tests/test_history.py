"""Tests for daudit.app.history and the `list` / `show` commands."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from daudit.app.history import (
    find_runs,
    format_duration,
    format_run_table,
    format_summary,
    load_summary,
    resolve_run,
)
from daudit.core.errors import DauditError
from daudit.core.schema import write_summary

PYTHON = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python"


TOP_PIXELS = [{"rank": 1, "pixel": 3301, "wavelength": 8542.09, "importance": 2.5},
              {"rank": 2, "pixel": 3724, "wavelength": 8662.14, "importance": 1.25}]


def make_summary(exp_id: str, *, finished: str, test_r2: float, verdict: str,
                 n_train: int = 1000, total: float = 75.5) -> dict:
    """A summary.json following the schema of docs/internals.md (numbers are made up)."""
    best = {"model": "Ridge_0.01", "noise_level": 1.0, "alpha": 0.01, "train_r2": test_r2 + 0.01,
            "val_r2": test_r2, "test_r2": test_r2, "test_mae": 0.13, "test_rmse": 0.18}
    return {
        "schema_version": 1, "kind": "audit",
        "daudit_version": "0.1.0", "experiment_id": exp_id, "status": "finished",
        "started_utc": "2025-12-26T09:00:00Z", "finished_utc": finished,
        "date": finished[:10], "spec": {},
        "data": {"source": "demo", "param": "log_g", "input": "error", "n_pixels": 64,
                 "wave_min": 7100.0, "wave_max": 8850.0,
                 "splits": {"train": {"paths": ["a.h5"], "n_rows": n_train, "n_nan_filled": 3,
                                      "n_nonfinite_after_fill": 0, "n_nonpositive": 0},
                            "test": {"paths": ["b.h5"], "n_rows": 200, "n_nan_filled": 0,
                                     "n_nonfinite_after_fill": 0, "n_nonpositive": 0}}},
        "noise_levels": [0.0, 1.0], "alphas": [0.01],
        "metrics": [
            {"noise_level": 0.0, "model": "OLS", "alpha": None, "train_r2": 0.0,
             "train_mae": 1.0, "train_rmse": 1.1, "val_r2": 0.0, "val_mae": 1.0, "val_rmse": 1.1,
             "test_r2": 0.0, "test_mae": 1.0, "test_rmse": 1.1, "fit_seconds": 0.1,
             "degenerate": True},
            {"noise_level": 1.0, "model": "Ridge_0.01", "alpha": 0.01, "train_r2": 0.98,
             "train_mae": 0.1, "train_rmse": 0.2, "val_r2": test_r2, "val_mae": 0.1,
             "val_rmse": 0.2, "test_r2": test_r2, "test_mae": 0.13, "test_rmse": 0.18,
             "fit_seconds": 2.25, "degenerate": False},
        ],
        "lightgbm": {"n_train_rows_used": n_train, "n_train_rows": n_train, "subsampled": False,
                     "reason": "", "params": {}, "fit_seconds": 3.0},
        "best": best, "best_ridge": best, "best_linear": best, "best_lightgbm": None,
        "linear": {}, "scheduler": {},
        "gate": {"name": "Gate-1", "threshold": 0.05, "best_test_r2": test_r2,
                 "best_model": "Ridge_0.01", "verdict": verdict, "borderline": False,
                 "ci95": [test_r2 - 0.01, test_r2 + 0.01], "leakage_degree": "strong"},
        "importance": {"reference_noise_level": 1.0, "top_k": 40, "primary": "Ridge_0.01",
                       "models": {"Ridge_0.01": {"kind": "abs_coef", "top_k_share": 0.149,
                                                 "top_pixels": TOP_PIXELS}}},
        "timings": {"total_seconds": total, "stages": {"load": 5.0, "fit": 60.0}},
        "versions": {"numpy": "2"},
        "outputs": {"report": "report.md", "metrics": "metrics.csv",
                    "importance": "importance.csv", "log": "run.log",
                    "figures": {"r2_bar_chart": "img/r2_models.png"}},
    }


def write_run(path: Path, summary: dict | None) -> Path:
    path.mkdir(parents=True)
    (path / "run.log").write_text("log\n")
    if summary is not None:
        (path / "report.md").write_text("# report\n")
        write_summary(path / "summary.json", summary)  # sealed, as a run writes it
    return path


@pytest.fixture
def results(tmp_path) -> Path:
    root = tmp_path / "results"
    write_run(root / "LOGG-ERR-BASE-01",
              make_summary("LOGG-ERR-BASE-01", finished="2025-12-26T10:21:42Z", test_r2=0.9747,
                           verdict="FAIL", n_train=100000, total=1302.0))
    write_run(root / "logg_snr_moe" / "LOGG-ERR-DELEAK-01",
              make_summary("LOGG-ERR-DELEAK-01", finished="2025-12-27T08:00:00Z", test_r2=0.042,
                           verdict="PASS", total=12.25))
    write_run(root / "LOGG-ERR-BASE-02", None)  # still running (or crashed)
    (root / "not_a_run").mkdir()
    (root / "stray.txt").write_text("x")
    return root


def test_find_runs_newest_first_including_one_level_deeper(results):
    records = find_runs(results)
    ids = [r.experiment_id for r in records]
    assert set(ids) == {"LOGG-ERR-BASE-01", "LOGG-ERR-DELEAK-01", "LOGG-ERR-BASE-02"}
    finished = [r for r in records if r.status == "finished"]
    assert [r.experiment_id for r in finished] == ["LOGG-ERR-DELEAK-01", "LOGG-ERR-BASE-01"]
    base = next(r for r in records if r.experiment_id == "LOGG-ERR-BASE-01")
    assert (base.n_train, base.verdict, base.best_test_r2, base.total_seconds) == (
        100000, "FAIL", 0.9747, 1302.0)
    incomplete = next(r for r in records if r.experiment_id == "LOGG-ERR-BASE-02")
    assert incomplete.status == "incomplete"


def test_find_runs_refuses_a_missing_folder(tmp_path):
    with pytest.raises(DauditError, match="no such results directory"):
        find_runs(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    assert find_runs(tmp_path / "empty") == []


def test_unreadable_summary_is_listed_not_fatal(tmp_path):
    run = tmp_path / "broken"
    run.mkdir()
    (run / "summary.json").write_text("{not json")
    (record,) = find_runs(tmp_path)
    assert record.status == "unreadable"


def test_run_table_is_aligned_and_complete(results):
    table = format_run_table(find_runs(results))
    lines = table.splitlines()
    assert lines[0].split() == ["EXPERIMENT", "DATE", "DATA", "VERDICT", "BEST", "TEST", "R2",
                                "DURATION", "PATH"]
    assert len(lines) == 2 + 3
    base = next(line for line in lines if line.startswith("LOGG-ERR-BASE-01 "))
    for cell in ("2025-12-26", "demo / 100,000 train", "FAIL", "0.9747", "21m 42s",
                 str(results / "LOGG-ERR-BASE-01")):
        assert cell in base
    assert "incomplete" in next(line for line in lines if line.startswith("LOGG-ERR-BASE-02"))
    # Columns line up: every row's PATH starts where the header's does.
    at = lines[0].index("PATH")
    assert all(line[at:].startswith(str(results)) for line in lines[2:])


@pytest.mark.parametrize("seconds, text", [(None, "-"), (12.25, "12.2 s"), (75.5, "1m 16s"),
                                           (3 * 3600 + 7 * 60 + 1, "3h 07m")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_resolve_run_by_path_and_by_id(results, tmp_path):
    path = results / "logg_snr_moe" / "LOGG-ERR-DELEAK-01"
    assert resolve_run(path) == path
    assert resolve_run("logg-err-deleak-01", results_dir=results) == path
    with pytest.raises(DauditError, match="known ids: .*LOGG-ERR-BASE-01"):
        resolve_run("NOPE-1", results_dir=results)
    with pytest.raises(DauditError, match="unfinished"):
        load_summary(resolve_run("LOGG-ERR-BASE-02", results_dir=results))


def test_format_summary_has_the_essentials(results):
    run = results / "LOGG-ERR-BASE-01"
    (run / "img").mkdir()
    text = format_summary(load_summary(run), run_dir=run)
    for part in ("LOGG-ERR-BASE-01", "2025-12-26", "source: demo", "100,000 rows",
                 "nan_filled 3", "Gate-1: FAIL", "0.9747", "95% CI [0.9647, 0.9847]",
                 "Ridge_0.01", "OLS (degenerate)", "3301", "8542.09", "14.9%",
                 "total 21m 42s", "report.md", "img/r2_models.png  (missing)"):
        assert part in text, part


def test_format_summary_tolerates_a_sparse_summary():
    text = format_summary({"experiment_id": "X-1", "status": "finished"})
    assert text.startswith("X-1")


# ------------------------------------------------------------------------------ CLI


def _pythonpath() -> str:
    # This checkout first, so the subprocess runs the code under test.
    return os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                         os.environ.get("PYTHONPATH")]))


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(PYTHON), "-m", "daudit", *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ,
                                        "PYTHONPATH": _pythonpath()})


def test_cli_list_and_show(results):
    cwd = results.parent  # `results/` is the default of both commands
    listed = run_cli("list", cwd=cwd)
    assert listed.returncode == 0, listed.stderr
    assert "LOGG-ERR-BASE-01" in listed.stdout and "incomplete" in listed.stdout

    shown = run_cli("show", "LOGG-ERR-BASE-01", cwd=cwd)
    assert shown.returncode == 0, shown.stderr
    assert "Gate-1: FAIL" in shown.stdout and "0.9747" in shown.stdout

    by_path = run_cli("show", str(results / "logg_snr_moe" / "LOGG-ERR-DELEAK-01"), cwd=cwd)
    assert by_path.returncode == 0 and "LOGG-ERR-DELEAK-01" in by_path.stdout

    missing = run_cli("show", "NOPE-1", cwd=cwd)
    assert missing.returncode == 2
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("daudit: error: ")
