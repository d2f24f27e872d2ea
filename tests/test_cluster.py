"""Runs on a real Dask LocalCluster: same numbers as one process (LightGBM: close, through
lightgbm.dask); the dashboard answers."""

import re
import subprocess
import sys
import time
import urllib.request

import pytest
from pfsspec_factory import write_spec, write_split_set

from daudit.core.spec import load_spec
from daudit.pipeline.run import run_audit


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_split_set(tmp_path_factory.mktemp("data"), n_train=3000, n_val=500, n_test=500, p=64)


def _run(dataset, root, scheduler, lanes=None):
    name = scheduler if lanes is None else f"{scheduler}-lanes{lanes}"
    path = write_spec(root / f"{name}.yaml", dataset, output_dir=root / name, scheduler=scheduler, chunk_rows=256)
    if lanes is not None:
        text = path.read_text().replace(f"scheduler: {scheduler},", f"scheduler: {scheduler}, fold_lanes: {lanes},")
        path.write_text(text)
    return run_audit(load_spec(path), output_dir=root / name, echo=lambda *a: None)


def _linear_numbers(summary) -> dict:
    """Every number of the linear models: the audit's metrics and the checks' linear refits."""
    out = {}
    for r in summary["metrics"]:
        if r["model"] != "LightGBM":
            for k in ("train_r2", "val_r2", "test_r2", "test_mae", "test_rmse"):
                out[(r["noise_level"], r["model"], k)] = r[k]
    san = summary["sanity"]
    tables = {"wavelength_shuffle": san["wavelength_shuffle"]["refit"]["models"],
              **{c: san[c]["models"] for c in ("group_shuffle", "mask_only", "aggregate_stats")}}
    for check, models in tables.items():
        for model, row in models.items():
            if model != "LightGBM":
                for k in ("val_r2", "test_r2"):
                    out[(check, model, k)] = row[k]
    for name, row in san["permutation"]["linear"]["models"].items():
        for k in ("p_value", "null_mean", "null_std", "null_max"):
            out[("permutation", name, k)] = row[k]
    return out


def _cluster_run(dataset, root):
    """The audit on a LocalCluster of two worker processes (one lane each, the default)."""
    # write_spec puts scheduler into compute; add the worker count through a separate spec
    spec_path = write_spec(root / "cluster.yaml", dataset, output_dir=root / "cluster", scheduler="local",
                           chunk_rows=256)
    text = spec_path.read_text().replace("scheduler: local,", "scheduler: local, n_workers: 2, "
                                         "dashboard_address: '127.0.0.1:0', stats_cache: false, zarr_cache: false,")
    spec_path.write_text(text)
    return run_audit(load_spec(spec_path), output_dir=root / "cluster", echo=lambda *a: None)


def test_two_worker_cluster_equals_single_process(dataset, tmp_path):
    single = _run(dataset, tmp_path, "synchronous")
    cluster = _cluster_run(dataset, tmp_path)
    assert cluster["scheduler"]["n_workers"] == 2
    assert cluster["scheduler"]["fold_lanes"] == 2 and single["scheduler"]["fold_lanes"] == 1
    assert single["lightgbm"]["backend"] == "in-process"
    assert cluster["lightgbm"]["backend"] == "lightgbm.dask (2 workers)", cluster["lightgbm"].get("backend_note")
    for a, b in zip(single["metrics"], cluster["metrics"]):
        assert (a["noise_level"], a["model"]) == (b["noise_level"], b["model"])
        for k in ("train_r2", "val_r2", "test_r2", "test_mae", "test_rmse"):
            if a["model"] != "LightGBM" or a["degenerate"]:
                assert a[k] == pytest.approx(b[k], rel=1e-9, abs=1e-12), (a["model"], k)
            else:
                # Data-parallel LightGBM bins each feature from one worker's 1500 rows, so its
                # trees differ a little from the in-process fit (four runs: R2 within 0.008, MAE
                # and RMSE within 1%); 0.03 / 3% still catches a wrong label or row mapping,
                # which costs this 10-tree model (R2 about 0.48) far more.
                tol = {"rel": 0.03} if k in ("test_mae", "test_rmse") else {"abs": 0.03}
                assert a[k] == pytest.approx(b[k], **tol), (a["model"], k)


def test_same_fold_lanes_same_bits_on_any_scheduler(dataset, tmp_path):
    """The sums' order is the spec's (compute.fold_lanes), not the scheduler's: one process
    folding in two lanes gives the two-worker cluster's linear numbers to the last bit."""
    single = _run(dataset, tmp_path, "synchronous", lanes=2)
    threads = _run(dataset, tmp_path, "threads", lanes=2)
    cluster = _cluster_run(dataset, tmp_path)
    assert [s["scheduler"]["fold_lanes"] for s in (single, threads, cluster)] == [2, 2, 2]
    want = _linear_numbers(cluster)
    assert len(want) > 60
    assert _linear_numbers(single) == want
    assert _linear_numbers(threads) == want


def test_dashboard_answers_while_running(tmp_path):
    data = write_split_set(tmp_path / "data", n_train=30000, n_val=2000, n_test=2000, p=256)
    spec = write_spec(tmp_path / "spec.yaml", data, output_dir=tmp_path / "out", scheduler="local", chunk_rows=1024)
    spec.write_text(spec.read_text().replace("scheduler: local,", "scheduler: local, dashboard_address: '127.0.0.1:0',"))
    proc = subprocess.Popen([sys.executable, "-u", "-m", "daudit", "run", "--config", str(spec)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url, deadline = None, time.time() + 120
        while url is None and time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            m = re.search(r"dashboard: (http://127\.0\.0\.1:\d+)/status", line)
            if m:
                url = m.group(1) + "/status"
        assert url, "the dashboard address was not printed"
        with urllib.request.urlopen(url, timeout=20) as resp:
            assert resp.status == 200
        assert proc.poll() is None, "the run ended before the dashboard was checked"
    finally:
        proc.kill()
        proc.wait()
