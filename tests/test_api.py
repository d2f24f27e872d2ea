"""The Python API (issue 13): daudit.audit, daudit.audit_arrays, daudit.load_result."""

from __future__ import annotations

import re
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest
from pfsspec_factory import ERROR_KEY, WAVE_KEY, write_spec, write_split_set

import daudit
from daudit.core.errors import DauditError


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The same small simulated set audited from its files and from its rows in memory."""
    root = tmp_path_factory.mktemp("api")
    paths = write_split_set(root / "data", n_train=600, n_val=200, n_test=200, p=32)
    spec = write_spec(root / "spec.yaml", paths, output_dir=root / "files",
                      extra="sanity: {n_permutations_linear: 20, n_permutations_lightgbm: 2, n_bootstrap: 50}")
    files = daudit.audit(spec, echo=lambda *a: None)
    x, params, wave = {}, {}, None
    for name, path in paths.items():
        with h5py.File(path) as f:
            x[name], wave = f[ERROR_KEY][()], f[WAVE_KEY][()]
        params[name] = pd.read_hdf(path)
    arrays = daudit.audit_arrays(x["train"], params["train"]["log_g"], x["val"], params["val"]["log_g"],
                                 x["test"], params["test"]["log_g"], wave=wave, params=params, spec=spec,
                                 output_dir=root / "arrays", echo=lambda *a: None)
    return files, arrays, x, params


def _numbers(obj, prefix=""):
    """Every number in a nested summary section, by its path (timings left out: they are clocks)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k not in ("timings", "fit_seconds", "seconds"):
                yield from _numbers(v, f"{prefix}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _numbers(v, f"{prefix}[{i}]")
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield prefix, float(obj)


def test_audit_arrays_equals_audit_on_the_files(both):
    files, arrays, _, _ = both
    cols = [c for c in files.metrics.columns if c not in ("fit_seconds",)]
    assert list(arrays.metrics.columns) == list(files.metrics.columns) and len(files.metrics) == len(arrays.metrics) > 15
    pd.testing.assert_frame_equal(arrays.metrics[cols], files.metrics[cols], rtol=1e-9, atol=1e-12)
    a, f = dict(_numbers(arrays.summary["sanity"])), dict(_numbers(files.summary["sanity"]))
    assert a.keys() == f.keys() and len(f) > 100
    for key, value in f.items():
        assert a[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert arrays.gate == files.gate
    pd.testing.assert_frame_equal(arrays.importance, files.importance, rtol=1e-9, atol=1e-12)
    assert arrays.summary["data"]["source"] == "in-memory arrays"


def test_the_result_is_typed_and_read_back_through_the_schema(both):
    files, _, _, _ = both
    assert isinstance(files, daudit.AuditResult)
    assert files.verdict == files.summary["gate"]["verdict"] in ("PASS", "FAIL")
    assert set(files.figures) >= {"r2_bar_chart", "feature_importance_spectrum"}
    assert all(p.is_file() and p.suffix == ".png" for p in files.figures.values())
    assert files.report.is_file() and files.importance.shape[0] == 32
    again = daudit.load_result(files.output_dir / "summary.json")
    pd.testing.assert_frame_equal(again.metrics, files.metrics)
    assert again.summary == files.summary
    # metrics.csv is what the DataFrame holds: the best test R2 is the gate's
    best = files.metrics[files.metrics.noise_level > 0].test_r2.max()
    assert best == pytest.approx(files.gate["best_test_r2"], rel=1e-12)


def test_load_result_of_an_unfinished_or_damaged_run_is_one_line(tmp_path):
    with pytest.raises(DauditError, match="not a finished daudit run"):
        daudit.load_result(tmp_path)
    (tmp_path / "summary.json").write_text("{not json")
    with pytest.raises(DauditError):
        daudit.load_result(tmp_path)


def test_audit_arrays_refuses_mismatched_input(both):
    _, _, x, params = both
    y = params["train"]["log_g"]
    with pytest.raises(DauditError, match="labels for 600 rows"):
        daudit.audit_arrays(x["train"], y[:10], x["val"], params["val"]["log_g"], x["test"],
                            params["test"]["log_g"])
    with pytest.raises(DauditError, match="2-D"):
        daudit.audit_arrays(x["train"][0], y, x["val"], params["val"]["log_g"], x["test"], params["test"]["log_g"])
    with pytest.raises(DauditError, match="wavelengths"):
        daudit.audit_arrays(x["train"], y, x["val"], params["val"]["log_g"], x["test"], params["test"]["log_g"],
                            wave=np.arange(5))


def test_import_daudit_stays_cheap():
    code = ("import sys, daudit; print([m for m in ('numpy', 'dask', 'lightgbm', 'pandas') if m in sys.modules]); "
            "assert {'audit', 'audit_arrays', 'load_result', 'AuditResult'} <= set(daudit.__all__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_daudit_audit_is_the_function_even_once_the_audit_layer_is_imported():
    """The audit layer is ``daudit.pipeline``: importing it leaves ``daudit.audit`` the API function."""
    code = ("import daudit.pipeline.run, daudit, inspect; "
            "from daudit.app.api import audit; "
            "assert daudit.pipeline.run.run_audit and daudit.audit is audit and inspect.isfunction(daudit.audit); "
            "print(daudit.audit('no-such-spec.yaml'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "spec file not found: no-such-spec.yaml" in out.stderr, out.stderr  # the API ran (and refused)


# ------------------------------------------------------------------------------ issue 28: notebooks, quick, overlaps


def _fake_result(tmp_path, *, exp_id="LOGG-ERR-BASE-01", model="Ridge_0.001"):
    metrics = pd.DataFrame({"noise_level": [0.0, 1.0, 1.0], "model": ["OLS", model, "LightGBM"],
                            "train_r2": [0.0, 0.991234567891, 0.95], "val_r2": [0.0, 0.989876543219, 0.94],
                            "test_r2": [-0.001, 0.989612345678, 0.93], "test_mae": [0.9, 0.0881234, 0.1],
                            "test_rmse": [1.1, 0.1171234, 0.2]})
    gate = {"name": "Gate-1", "verdict": "FAIL", "threshold": 0.05, "best_test_r2": 0.989612345678,
            "best_model": model, "borderline": False, "ci95": [0.987612345678, 0.990712345678]}
    return daudit.AuditResult(output_dir=tmp_path, summary={"experiment_id": exp_id, "gate": gate}, metrics=metrics,
                              importance=None, gate=gate, figures={}, report=tmp_path / "report.md")


class _Table(__import__("html.parser").parser.HTMLParser):
    """The text of every cell of an HTML fragment, by row (the standard library's parser as the oracle)."""

    def __init__(self):
        super().__init__()
        self.rows, self.text = [], []

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.rows[-1].append("")

    def handle_data(self, data):
        if self.rows and self.rows[-1]:
            self.rows[-1][-1] += data
        self.text.append(data)


def test_the_notebook_view_shows_verdict_interval_and_metrics_escaped(tmp_path):
    res = _fake_result(tmp_path, exp_id="EXP<1>", model="<script>alert(1)</script>")
    page = res._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page
    parsed = _Table()
    parsed.feed(page)
    text = "".join(parsed.text)
    assert "EXP<1>" in text and "Gate-1" in text and "FAIL" in text
    assert "0.9896" in text and "95% CI 0.9876, 0.9907" in text
    header, *rows = parsed.rows
    assert header == ["noise_level", "model", "train_r2", "val_r2", "test_r2", "test_mae", "test_rmse"]
    assert len(rows) == len(res.metrics) == 3
    for row, (_, want) in zip(rows, res.metrics.iterrows()):
        assert row[1] == want["model"]
        for cell, col in zip(row[2:], header[2:]):  # 4 significant digits of the value in metrics.csv
            assert float(cell) == pytest.approx(want[col], rel=5e-4) and len(cell.lstrip("-0.")) <= 4


def test_the_repr_rounds_its_numbers(tmp_path):
    text = repr(_fake_result(tmp_path))
    assert "0.9896" in text and "0.989612345678" not in text and "[95% CI 0.9876, 0.9907]" in text
    assert not re.search(r"\d\.\d{6,}", text)


def test_dir_lists_the_public_api():
    listed = set(dir(daudit))
    assert set(daudit.__all__) <= listed
    assert {"audit", "audit_arrays", "load_result", "AuditResult", "quality_features"} <= listed


def test_audit_quick_is_the_clis_quick(tmp_path, monkeypatch):
    import argparse

    import daudit.app.api as api
    from daudit.app.runspec import resolve_spec

    paths = write_split_set(tmp_path / "data", n_train=120, n_val=60, n_test=60, p=16)
    spec_path = write_spec(tmp_path / "spec.yaml", paths, output_dir=tmp_path / "out")
    seen = []
    monkeypatch.setattr(api, "run_audit", lambda spec, **kw: seen.append(spec))
    monkeypatch.setattr(api, "load_result", lambda out: out)
    args = {"config": str(spec_path), "exp_id": None, "scheduler": None, "memory_limit": None, "device": None}
    for quick in (False, True):
        daudit.audit(spec_path, quick=quick, echo=lambda *a: None)
        cli_spec, _ = resolve_spec(argparse.Namespace(**args, quick=quick))
        assert seen[-1] == cli_spec  # the whole spec: whatever `run --quick` sets, `quick=True` sets
    assert seen[0].sanity != seen[1].sanity  # quick changes something: lighter nulls
    assert seen[1].sanity.n_bootstrap < seen[0].sanity.n_bootstrap


class _Stop(Exception):
    pass


def _overlap_warnings(capsys, monkeypatch, tmp_path, xs, ys):
    """The ``daudit: warning:`` lines `audit_arrays` prints before its first pass over the data."""
    import daudit.pipeline.run as pipeline

    def stop(*a, **k):
        raise _Stop

    monkeypatch.setattr(pipeline, "_fit_linear", stop)
    spec = {"experiment_id": "API-OVERLAP-01", "data": {"train_path": "x", "val_path": "x", "test_path": "x"},
            "models": [{"type": "LinearRegression"}], "noise_levels": [1.0], "sanity": {"enabled": False},
            "compute": {"scheduler": "synchronous", "chunk_rows": 64}}
    capsys.readouterr()
    with pytest.raises(_Stop):
        daudit.audit_arrays(xs[0], ys[0], xs[1], ys[1], xs[2], ys[2], spec=spec, output_dir=tmp_path / "out",
                            echo=lambda *a: None)
    return [line for line in capsys.readouterr().err.splitlines() if "WARNING" in line]


def test_audit_arrays_flags_overlapping_splits_as_the_file_path_does(tmp_path, capsys, monkeypatch):
    import dask.array as da
    from pfsspec_factory import linear_leak_dataset

    x, y = linear_leak_dataset(300, 16, seed=3)
    # disjoint slices of one array: no warning
    assert _overlap_warnings(capsys, monkeypatch, tmp_path, (x[:120], x[120:210], x[210:]),
                             (y[:120], y[120:210], y[210:])) == []
    # test rows are train rows (a view): the warning of the file path, with the count of shared rows
    warned = _overlap_warnings(capsys, monkeypatch, tmp_path, (x[:200], x[240:], x[150:240]),
                               (y[:200], y[240:], y[150:240]))
    assert warned == ["daudit: warning: WARNING: train and test splits both read 50 rows of the same in-memory "
                      "array: the audit would test on training rows and overstate R2; give each split its own rows"]
    # the same Dask array for val and test
    d = da.from_array(x[200:], chunks=(64, 16))
    warned = _overlap_warnings(capsys, monkeypatch, tmp_path, (x[:200], d, d), (y[:200], y[200:], y[200:]))
    assert len(warned) == 1 and "val and test splits both read 100 rows" in warned[0]
