"""``daudit check SPEC`` and ``run --dry-run`` (issue 28): validate, plan, estimate; run and write nothing.

Also the spec errors they surface first: YAML errors with their line and column, a list for
``data.param`` refused at parse time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
from pfsspec_factory import write_spec, write_split_set

from daudit.core.errors import DauditError


def daudit(*args, cwd, env=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "daudit", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def one_line_error(proc, *needles) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "usage:" not in proc.stderr, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("daudit: error:"), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_split_set(tmp_path_factory.mktemp("check-data"), n_train=600, n_val=200, n_test=200, p=48)


@pytest.fixture
def env(tmp_path):
    return {"DAUDIT_CACHE_DIR": str(tmp_path / "cache"), "DAUDIT_DEMO_DIR": str(tmp_path / "demo")}


def _tree(root: Path) -> list:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.mark.parametrize("argv", [["check", "spec.yaml"], ["run", "--config", "spec.yaml", "--dry-run"]])
def test_check_prints_plan_and_estimate_and_writes_nothing(tmp_path, data, env, argv):
    spec = write_spec(tmp_path / "spec.yaml", data, output_dir="results/CHECK-01", extra="sanity: {n_bootstrap: 77}")
    before = _tree(tmp_path)
    proc = daudit(*argv, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(data["train"]) as f:  # the oracle: the file's own shape
        n_train, p = f["dataset/arrays/error/value"].shape
    assert f"train {n_train:,}, val 200, test 200 spectra x {p} pixels" in proc.stdout, proc.stdout
    assert "OLS, Ridge(alpha=0.001), Ridge(alpha=0.1), Ridge(alpha=10)" in proc.stdout
    assert "77 bootstrap resamples" in proc.stdout
    assert str(tmp_path / "results" / "CHECK-01") in proc.stdout
    assert "about " in proc.stdout and "GiB" in proc.stdout  # the time and memory estimate
    assert _tree(tmp_path) == before  # no output folder, no log, nothing
    assert _tree(tmp_path / "cache") == []  # no zarr copy, no statistics, no registry entry
    assert spec.is_file()


def test_check_refuses_what_the_run_would_refuse_with_its_one_line(tmp_path, data, env):
    spec = write_spec(tmp_path / "spec.yaml", data, output_dir="out")
    spec.write_text(spec.read_text().replace("param: log_g", "param: teff").replace("y: log_g", "y: teff"))
    one_line_error(daudit("check", "spec.yaml", cwd=tmp_path, env=env), "'teff'")
    spec = write_spec(tmp_path / "spec.yaml", data, output_dir="out")
    spec.write_text(spec.read_text().replace("memory_limit: 2GB", "memory_limit: 300MB"))
    one_line_error(daudit("check", "spec.yaml", cwd=tmp_path, env=env), "memory_limit")
    assert _tree(tmp_path / "cache") == [] and not (tmp_path / "out").exists()


def test_yaml_errors_give_line_and_column(tmp_path, data, env):
    spec = write_spec(tmp_path / "spec.yaml", data, output_dir="out")
    lines = spec.read_text().splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("noise_levels:"))
    lines[at] = "noise_levels: [0.5, 1.0"  # the flow list is never closed
    spec.write_text("\n".join(lines) + "\n")
    line = one_line_error(daudit("check", "spec.yaml", cwd=tmp_path, env=env), "not valid YAML")
    # PyYAML stops at the next line, column 5 (the ':' of "seed: 42" after "noise_levels: [0.5, 1.0")
    assert f"line {at + 2}, column 5" in line, line


def test_a_list_for_data_param_is_refused_at_parse_time(tmp_path):
    from daudit.core.spec import parse_spec

    raw = {"experiment_id": "X", "data": {"train_path": "/nowhere/a.h5", "val_path": "/nowhere/b.h5",
                                         "test_path": "/nowhere/c.h5", "param": ["log_g", "teff"]},
           "models": [{"type": "LinearRegression"}]}
    with pytest.raises(DauditError, match=r"'data.param' must name one label column .*\['log_g', 'teff'\]"):
        parse_spec(raw, source="s.yaml")
    spec = tmp_path / "s.yaml"
    spec.write_text("experiment_id: X\ndata: {train_path: /nowhere/a.h5, val_path: /nowhere/b.h5, "
                    "test_path: /nowhere/c.h5, param: [log_g, teff]}\nmodels: [{type: LinearRegression}]\n")
    one_line_error(daudit("check", spec, cwd=tmp_path), "data.param")  # before any file is looked for
