"""The Python API (issue 13): daudit.audit, daudit.audit_arrays, daudit.load_result."""

from __future__ import annotations

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
