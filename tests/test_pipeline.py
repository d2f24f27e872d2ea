"""End-to-end runs on small pfsspec files written by the tests."""

import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pandas as pd
import pytest
from pfsspec_factory import ERROR_KEY, write_pfsspec, write_spec, write_split_set
from sklearn.linear_model import LinearRegression, Ridge

from daudit.core.spec import load_spec
from daudit.pipeline.run import run_audit


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return write_split_set(root, n_train=600, n_val=200, n_test=200, p=32)


@pytest.fixture(scope="module")
def finished_run(dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    spec = load_spec(write_spec(root / "spec.yaml", dataset, output_dir=root / "out"))
    summary = run_audit(spec, output_dir=root / "out", echo=lambda *a: None)
    return root / "out", summary


def _read(path):
    with h5py.File(path) as f:
        err = f[ERROR_KEY][()]
    return err.astype(np.float64), pd.read_hdf(path)["log_g"].to_numpy()


def test_outputs_complete_and_consistent(finished_run):
    out, summary = finished_run
    for name in ("metrics.csv", "importance.csv", "summary.json", "report.md", "run.log"):
        assert (out / name).is_file(), name
    for rel in summary["outputs"]["figures"].values():
        assert (out / rel).stat().st_size > 1000
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["gate"]["verdict"] in ("PASS", "FAIL")
    metrics = pd.read_csv(out / "metrics.csv")
    steps = len(on_disk["linear"]["1.0"]["path"])  # OLS and its truncation path, the same at every level > 0
    assert steps >= 2 and len(metrics) == 5 + 2 * (steps + 4)  # level 0: OLS, 3 Ridge, LightGBM
    report = (out / "report.md").read_text()
    assert "TODO" not in report
    from daudit.output.report import numbers_not_in_summary

    assert numbers_not_in_summary(report, on_disk) == []


def test_run_metrics_match_sklearn(dataset, finished_run):
    _, summary = finished_run
    xtr, ytr = _read(dataset["train"])
    xte, yte = _read(dataset["test"])
    rows = {(r["noise_level"], r["model"]): r for r in summary["metrics"]}
    for level in (0.5, 1.0):
        ols = LinearRegression().fit(level * xtr, ytr)
        assert rows[(level, "OLS")]["test_r2"] == pytest.approx(ols.score(level * xte, yte), abs=1e-6)
        assert rows[(level, "OLS")]["train_r2"] == pytest.approx(ols.score(level * xtr, ytr), abs=1e-6)
        r = Ridge(alpha=0.1).fit(level * xtr, ytr)
        assert rows[(level, "Ridge_0.1")]["test_r2"] == pytest.approx(r.score(level * xte, yte), abs=1e-6)
        assert rows[(level, "Ridge_0.1")]["test_mae"] == pytest.approx(
            np.abs(r.predict(level * xte) - yte).mean(), rel=1e-6)
    # Level 0: every model is the intercept, marked degenerate.
    for model in ("OLS", "Ridge_0.1", "LightGBM"):
        row = rows[(0.0, model)]
        assert row["degenerate"]
        assert row["test_r2"] == pytest.approx(1 - np.sum((yte - ytr.mean()) ** 2) / np.sum((yte - yte.mean()) ** 2))
    # The planted leak is found: the linear models explain most of log_g.
    assert summary["gate"]["verdict"] == "FAIL"
    assert rows[(1.0, "OLS")]["test_r2"] > 0.5


def test_multi_shard_equals_single_file(dataset, tmp_path):
    err, logg = _read(dataset["train"])
    lab = pd.read_hdf(dataset["train"])
    cuts = [0, 250, 410, len(err)]
    shards = []
    for i in range(3):
        sl = slice(cuts[i], cuts[i + 1])
        shards.append(write_pfsspec(tmp_path / f"shard{i}.h5", err[sl].astype(np.float32),
                                    {c: lab[c].to_numpy()[sl] for c in lab.columns}, chunk_rows=50))
    paths = dict(dataset, train=str(tmp_path / "shard*.h5"))
    one = run_audit(load_spec(write_spec(tmp_path / "a.yaml", dataset, output_dir=tmp_path / "a", chunk_rows=96)),
                    output_dir=tmp_path / "a", echo=lambda *a: None)
    many = run_audit(load_spec(write_spec(tmp_path / "b.yaml", paths, output_dir=tmp_path / "b", chunk_rows=96)),
                     output_dir=tmp_path / "b", echo=lambda *a: None)
    for r1, r2 in zip(one["metrics"], many["metrics"]):
        assert r1["model"] == r2["model"]
        for k in ("train_r2", "val_r2", "test_r2", "test_mae"):
            assert r1[k] == pytest.approx(r2[k], rel=1e-9, abs=1e-12), (r1["model"], k)


def test_killed_run_leaves_no_summary(dataset, tmp_path):
    big = write_split_set(tmp_path / "big", n_train=20000, n_val=2000, n_test=2000, p=256)
    spec = write_spec(tmp_path / "spec.yaml", big, output_dir=tmp_path / "out", chunk_rows=512)
    proc = subprocess.Popen([sys.executable, "-m", "daudit", "run", "--config", str(spec)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (tmp_path / "out.log").exists():  # the run's live log: it has begun
        time.sleep(0.05)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "out" / "summary.json").exists()
    # The next run cleans up after the killed one and finishes.
    summary = run_audit(load_spec(spec), output_dir=tmp_path / "out", echo=lambda *a: None)
    assert (tmp_path / "out" / "summary.json").exists()
    assert summary["status"] == "finished"
    assert not list(tmp_path.glob(".out.staging-*"))


def test_lightgbm_sequence_equals_in_memory(dataset):
    import dask.array as da
    import lightgbm as lgb

    from daudit.core.spec import LightGBMSpec
    from daudit.models.boosting import fit_lightgbm, lightgbm_params, plan_lightgbm

    x, y = _read(dataset["train"])
    x = x.astype(np.float32)
    params = lightgbm_params(LightGBMSpec(n_estimators=15, max_depth=4, learning_rate=0.1), seed=42, n_threads=1)
    ref = lgb.LGBMRegressor(**params).fit(x.astype(np.float64), y)
    for chunk in (64, 200, 600):
        xd = da.from_array(x, chunks=(chunk, x.shape[1]))
        plan = plan_lightgbm(xd.chunks[0], x.shape[1], 2**30, rng=np.random.default_rng(0))
        assert not plan.subsampled
        booster = fit_lightgbm(xd, y, plan, params)
        np.testing.assert_allclose(booster.predict(x), ref.predict(x), rtol=1e-12)


def test_lightgbm_plan_subsamples_when_budget_is_small():
    from daudit.models.boosting import plan_lightgbm

    chunks = [2048] * 48 + [1696]
    full = plan_lightgbm(chunks, 4096, 16 * 2**30, rng=np.random.default_rng(42))
    assert full.n_rows_used == 100_000 and full.bin_construct_sample_cnt == 200_000
    mid = plan_lightgbm(chunks, 4096, int(3 * 2**30), rng=np.random.default_rng(42))
    assert mid.n_rows_used == 100_000 and mid.bin_construct_sample_cnt < 100_000
    small = plan_lightgbm(chunks, 4096, 2**29, rng=np.random.default_rng(42))
    assert small.subsampled and small.estimated_bytes <= 2**29
    assert small.chunks == plan_lightgbm(chunks, 4096, 2**29, rng=np.random.default_rng(42)).chunks
