"""deleak (MVP-0.2): strategies, standardised Ridge from statistics, planted leaks end to end,
and `quality_features` reproducing the run's features."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from pfsspec_factory import write_pfsspec

P = 256


def planted(n, kind, seed, *, p=P, c=0.04, sigma=0.2, world_seed=7):
    """error = scale * template * (1 + sigma * noise), plus a leak; flux sets the SNR.

    kind "aligned": + c * log_g at 40 fixed pixels, scale independent of log_g.
    kind "scale": no pixel leak, but the scale depends on log_g (s = exp(0.3 (log_g - 3) + noise)).
    """
    world = np.random.default_rng(world_seed)
    x = np.linspace(0, 1, p)
    template = 1 + 0.3 * np.sin(6 * x) + world.uniform(0, 0.2, p)
    leak = np.sort(world.choice(p, 40, replace=False))
    rng = np.random.default_rng(seed)
    logg = rng.uniform(1, 5, n)
    if kind == "aligned":
        s = np.exp(rng.uniform(np.log(0.5), np.log(2.0), n))
    else:
        s = np.exp(0.3 * (logg - 3) + 0.3 * rng.normal(size=n))
    err = s[:, None] * template * (1 + sigma * rng.normal(size=(n, p)))
    if kind == "aligned":
        err[:, leak] += c * logg[:, None]
    amp = rng.uniform(0.9, 1.1, n)
    flux = amp[:, None] * (1 - 0.3 * np.exp(-0.5 * ((x - 0.5) / 0.01) ** 2))[None, :]
    return err.astype(np.float32), flux.astype(np.float32), logg


def write_planted(root, kind, sizes=(2000, 500, 500)):
    paths = {}
    for i, (name, n) in enumerate(zip(("train", "val", "test"), sizes)):
        err, flux, logg = planted(n, kind, seed=10 * i + 1)
        if name == "test":
            err[3, 5:9] = np.nan  # cleaned the same way in the run and in quality_features
        paths[name] = write_pfsspec(Path(root) / kind / name / "dataset.h5", err, {"log_g": logg, "snr": np.ones(n)},
                                    flux=flux)
    return paths


def write_deleak_spec(path, paths, out, *, extra=""):
    text = f"""experiment_id: "TEST-REPR-01"
data:
  source: "planted test data"
  train_path: {str(paths['train'])!r}
  val_path: {str(paths['val'])!r}
  test_path: {str(paths['test'])!r}
  param: log_g
models:
  - type: Ridge
    alpha: [1.0]
  - type: LightGBM
    n_estimators: 100
    max_depth: 6
    learning_rate: 0.1
seed: 42
output_dir: {str(out)!r}
compute: {{chunk_rows: 256, scheduler: synchronous, memory_limit: 2GB}}
deleak:
  n_bootstrap: 200
  n_permutations: 200
  wide_lightgbm_rows: 1000
{extra}"""
    Path(path).write_text(text)
    return Path(path)


def _run(tmp, kind):
    from daudit.deleak.config import load_deleak_spec
    from daudit.deleak.pipeline import run_deleak

    paths = write_planted(tmp / "data", kind)
    out = tmp / f"results-{kind}"
    spec, dspec = load_deleak_spec(write_deleak_spec(tmp / f"{kind}.yaml", paths, out))
    return run_deleak(spec, dspec, output_dir=out, echo=lambda *a: None), out, paths


@pytest.fixture(scope="module")
def aligned(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("aligned"), "aligned")


@pytest.fixture(scope="module")
def scale(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("scale"), "scale")


# ----------------------------------------------------------------------------- pure numpy
def test_standardized_ridge_matches_sklearn():
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from daudit.deleak.evaluate import ridge_standardized
    from daudit.models.stats import combine_stats, gram_chunk

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 7)) * np.array([1, 10, 0.01, 3, 1, 1, 5]) + 4
    x[:, 5] = 2.0  # a constant column: StandardScaler keeps scale 1
    y = np.column_stack([x @ rng.normal(size=7) + rng.normal(size=600), rng.normal(size=600)])
    stats = combine_stats(gram_chunk(x[:300], y[:300], x_shift=x[0], y_shift=y[0]),
                          gram_chunk(x[300:], y[300:], x_shift=x[0], y_shift=y[0]))
    fit = ridge_standardized(stats.centered(), 1.0)
    ref = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(x, y)
    np.testing.assert_allclose(fit.predict(x), ref.predict(x), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fit.train_r2, [ref.score(x, y[:, j:j + 1]) if False else
                                              1 - ((ref.predict(x)[:, j] - y[:, j]) ** 2).sum()
                                              / ((y[:, j] - y[:, j].mean()) ** 2).sum() for j in range(2)],
                               rtol=1e-9)


def test_strategy_features_match_numpy_and_scipy():
    from scipy import stats as ss

    from daudit.deleak import strategies as st

    rng = np.random.default_rng(1)
    e = rng.gamma(2.0, 1.0, size=(5, 64))
    f = rng.uniform(0.5, 2.0, size=(5, 64))
    feats = st.block_features(st.strategy_table(st.DEFAULT_IDS, 64), e, f,
                              st.Templates(e.mean(0), e.mean(0), np.eye(64)[:3]))
    np.testing.assert_allclose(feats["S3_11"], np.quantile(e, np.linspace(0, 1, 11), axis=1).T)
    agg = np.column_stack([e.mean(1), e.std(1), e.min(1), e.max(1), np.median(e, 1), e.sum(1),
                           np.quantile(e, 0.25, axis=1), np.quantile(e, 0.75, axis=1),
                           ss.skew(e, axis=1), ss.kurtosis(e, axis=1)])
    np.testing.assert_allclose(feats["S3b"], agg, rtol=1e-10)
    np.testing.assert_allclose(feats["S4"][:, 0], np.linalg.norm(e, axis=1))
    np.testing.assert_allclose(feats["S1b"], e / np.linalg.norm(f, axis=1)[:, None])
    np.testing.assert_allclose(feats["S1a"], e / np.median(f, axis=1)[:, None])
    t0 = e.mean(0)
    s = e @ t0 / (t0 @ t0)
    np.testing.assert_allclose(feats["S2"], np.column_stack([s, np.linalg.norm(e - np.outer(s, t0), axis=1)]))
    np.testing.assert_allclose(st.snr(e, f), np.linalg.norm(f, axis=1) / np.linalg.norm(e, axis=1))


def test_decide_ties_go_to_fewer_features():
    from daudit.deleak.evaluate import decide

    rows = [{"id": "A", "n_features": 10, "logg_r2": 0.01, "snr_r2": 0.9950},
            {"id": "B", "n_features": 1, "logg_r2": 0.00, "snr_r2": 0.9945},
            {"id": "C", "n_features": 2, "logg_r2": 0.20, "snr_r2": 0.999},
            {"id": "D", "n_features": 1, "logg_r2": 0.00, "snr_r2": 0.40}]
    d = decide(rows, logg_threshold=0.05, snr_threshold=0.5, tie_tolerance=0.001)
    assert d["verdict"] == "PASS" and d["passing"] == ["A", "B"] and d["recommended"] == "B"
    assert decide(rows, logg_threshold=0.05, snr_threshold=0.5, tie_tolerance=0.0)["recommended"] == "A"
    assert decide(rows[2:3], logg_threshold=0.05, snr_threshold=0.5, tie_tolerance=0)["verdict"] == "FAIL"


def test_permutation_and_bootstrap():
    from daudit.deleak.evaluate import permutation_pvalue
    from daudit.models.metrics import bootstrap_r2, regression_metrics

    rng = np.random.default_rng(2)
    y = rng.normal(size=400)
    pred = np.column_stack([y + 0.3 * rng.normal(size=400), rng.normal(size=400)])
    p = permutation_pvalue(y, pred, n_perm=200, rng=rng)
    assert p[0] == pytest.approx(1 / 201) and p[1] > 0.05
    ci = bootstrap_r2(y, pred, 300, rng)
    r2 = regression_metrics(y, pred)["r2"]
    assert (ci[:, 0] <= r2).all() and (r2 <= ci[:, 1]).all()


# ----------------------------------------------------------------------------- planted runs
def _by(summary):
    return {s["id"]: s for s in summary["strategies"]}


def test_aligned_leak_removed_by_summaries(aligned):
    summary, out, _ = aligned
    by = _by(summary)
    assert by["S0"]["logg_r2"] > 0.2  # the leak is there in the raw error
    for sid in ("S2", "S3b", "S4"):
        assert by[sid]["logg_r2"] < 0.05, (sid, by[sid]["logg_r2"])
        assert by[sid]["snr_r2"] > 0.5, (sid, by[sid]["snr_r2"])
        assert by[sid]["pass"]
    assert summary["gate"]["verdict"] == "PASS"
    assert summary["diagnosis"]["kind"] == "shape"
    rec = by[summary["gate"]["recommended"]]
    assert rec["pass"] and rec["n_features"] <= 21


def test_scale_leak_not_removed_and_reported(scale):
    summary, out, _ = scale
    by = _by(summary)
    for s in summary["strategies"]:
        if s["snr_r2"] > 0.5:  # every strategy that keeps the scale keeps the leak
            assert s["logg_r2"] >= 0.05, s["id"]
    assert summary["gate"]["verdict"] == "FAIL" and summary["gate"]["recommended"] is None
    assert summary["diagnosis"]["kind"] == "scale" and by["S4"]["logg_r2"] >= 0.05
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "任何保留尺度的表示都无法去除这一泄露" in text


def test_outputs_and_report_numbers(aligned):
    from daudit.output.report import numbers_not_in_summary

    summary, out, _ = aligned
    on_disk = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert on_disk["status"] == "finished" and on_disk["gate"]["name"] == "Gate-1"
    text = (out / "report.md").read_text(encoding="utf-8")
    assert numbers_not_in_summary(text, on_disk) == []
    assert "**MVP:** 0.2" in text and "n/a" not in text
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert len(headings) >= 15 and not [h for h in headings if re.search(r"[\u3400-\u9fff]", h)]  # issue 28
    for rel in on_disk["outputs"]["figures"].values():
        assert (out / rel).stat().st_size > 1000
    import csv

    rows = list(csv.DictReader((out / "metrics.csv").open()))
    n_strat = len(on_disk["strategies"])
    assert len(rows) == n_strat * 2 * 2  # (Ridge_1, LightGBM) x (log_g, snr)
    assert not list(out.parent.glob(f".{out.name}.staging-*"))


def test_quality_features_reproduce_run(aligned):
    import h5py

    from daudit import quality_features
    from daudit.deleak.features import load_state

    summary, out, paths = aligned
    state = load_state(out)
    rows = state.arrays["check_rows"]
    assert len(rows) == summary["quality_features"]["n_check_rows"] > 3
    with h5py.File(paths["test"], "r") as f:
        err = f["dataset/arrays/error/value"][: len(rows)]
        flux = f["dataset/arrays/flux/value"][: len(rows)]
    assert np.isnan(err).any()
    for s in summary["strategies"]:
        got = quality_features(err, flux, strategy=s["id"], state=out)
        np.testing.assert_allclose(got, state.arrays[f"check_{s['id']}"], rtol=1e-12, atol=1e-12)
    rec = summary["gate"]["recommended"]
    np.testing.assert_array_equal(quality_features(err, flux, state=out),
                                  quality_features(err, flux, strategy=rec, state=out))
    assert quality_features(err[0], strategy="S4").shape == (1, 1)
    with pytest.raises(ValueError):
        quality_features(err, strategy="S2")  # needs the fitted template


def test_cli_refuses_bad_deleak_section(tmp_path):
    from daudit.app.cli import main

    paths = {k: tmp_path / f"{k}.h5" for k in ("train", "val", "test")}
    cfg = write_deleak_spec(tmp_path / "bad.yaml", paths, tmp_path / "out", extra="  strategies: [S9]\n")
    assert main(["deleak", "--config", str(cfg)]) == 2


def test_subset_of_strategies(tmp_path):
    from daudit.deleak.config import load_deleak_spec
    from daudit.deleak.pipeline import run_deleak

    paths = write_planted(tmp_path / "data", "aligned", sizes=(600, 200, 200))
    cfg = write_deleak_spec(tmp_path / "s.yaml", paths, tmp_path / "out",
                            extra="  strategies: [S4, S2b_2]\n")
    spec, dspec = load_deleak_spec(cfg)
    summary = run_deleak(spec, dspec, output_dir=tmp_path / "out", echo=lambda *a: None)
    assert [s["id"] for s in summary["strategies"]] == ["S4", "S2b_2"]
    assert summary["strategies"][1]["n_features"] == 2


def test_the_log_measures_peak_rss(aligned):
    """Each stage's peak RSS in run.log is measured (issue 28: it said 0.00 GiB), and the operating
    system's own count bounds it: at least what this process holds now (the run's data and models
    were in it), at most the largest RSS the kernel saw for it and its children."""
    import re
    import resource

    summary, out, _ = aligned
    peaks = {m.group(1): float(m.group(2)) for m in re.finditer(
        r"stage (.+?): done in .*?, peak RSS of the process tree ([0-9.]+) GiB", (out / "run.log").read_text())}
    assert {"open data", "fused pass", "metrics", "artifacts"} <= set(peaks)
    ru_max = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    with open("/proc/self/status") as f:
        rss_now = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    gib = 2**20  # KiB per GiB
    assert min(peaks.values()) > 0.01
    assert rss_now / gib * 0.25 <= max(peaks.values()) <= ru_max / gib + 0.01
    assert summary["timings"]["peak_rss_gib"] == pytest.approx(peaks, abs=0.005)  # the same numbers in summary.json


def test_show_lists_strategies_and_targets(aligned):
    """``show`` on a deleak run: a row per strategy and per (strategy, model, target) of metrics.csv,
    with their numbers, not the audit's noise-level columns left empty (issue 28)."""
    import csv
    import subprocess
    import sys

    summary, out, _ = aligned
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                         os.environ.get("PYTHONPATH", "")])}
    text = subprocess.run([sys.executable, "-m", "daudit", "show", str(out)], capture_output=True, text=True,
                          check=True, env=env).stdout
    lines = text.splitlines()
    assert "NOISE" not in text and "at noise -" not in text
    for s in summary["strategies"]:
        row = next(line.split() for line in lines if line.split()[:2] == [s["id"], str(s["n_features"])])
        assert f"{s['logg_r2']:.4f}" in row and f"{s['snr_r2']:.4f}" in row
        assert ("yes" if s["pass"] else "no") in row
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == len(summary["metrics"]) > 0
    for r in rows:
        match = [line.split() for line in lines if line.split()[:3] == [r["strategy"], r["model"], r["target"]]]
        assert len(match) == 1, r
        assert f"{float(r['test_r2']):.4f}" in match[0] and f"{float(r['val_r2']):.4f}" in match[0]
    assert {r["target"] for r in rows} == {"log_g", "snr"}
