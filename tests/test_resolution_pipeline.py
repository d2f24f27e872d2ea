"""Issue 14 end to end: metrics.csv of a real run on ill-conditioned float32 pfsspec files, in two
very different units, against the independent float64 SVD oracle (tests/ill_conditioned.py)."""

import json

import h5py
import numpy as np
import pandas as pd
import pytest
from ill_conditioned import error_spectra, svd_oracle
from pfsspec_factory import ERROR_KEY, write_pfsspec, write_spec

from daudit.core.spec import load_spec
from daudit.output.report import numbers_not_in_summary
from daudit.pipeline.run import run_audit

P, ROWS = 48, {"train": 480, "val": 160, "test": 160}
ALPHAS = (0.001, 0.1, 10.0)
LEVELS = (0.0, 0.5, 1.0)
TOL = 1e-6


def _write(root, scale):
    paths = {}
    for i, (name, n) in enumerate(ROWS.items()):
        err, logg = error_spectra(n, P, 1e9, seed=i, scale=scale)
        rng = np.random.default_rng(100 + i)
        labels = {"log_g": logg, "mag": rng.uniform(20.5, 22.5, n), "snr": rng.uniform(3, 20, n)}
        paths[name] = write_pfsspec(root / name / "dataset.h5", err, labels)
    return paths


def _read(path):
    with h5py.File(path) as f:
        return f[ERROR_KEY][()], pd.read_hdf(path)["log_g"].to_numpy()


@pytest.fixture(scope="module", params=[1e-17, 1e2], ids=["cgs-1e-17", "nJy-1e2"])
def run(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"units{request.param:g}")
    paths = _write(root, request.param)
    spec = load_spec(write_spec(root / "spec.yaml", paths, output_dir=root / "out", alphas=ALPHAS, levels=LEVELS,
                                lightgbm=False, chunk_rows=128, extra="sanity: {enabled: false}"))
    run_audit(spec, output_dir=root / "out", echo=lambda *a: None)
    data = {k: _read(p) for k, p in paths.items()}
    return root / "out", data


def test_metrics_csv_matches_the_oracle(run):
    out, data = run
    metrics = pd.read_csv(out / "metrics.csv")
    summary = json.loads((out / "summary.json").read_text())
    xtr, ytr = data["train"]
    for level in LEVELS[1:]:
        rows = metrics[metrics.noise_level == level].set_index("model")
        rank = int(rows.loc["OLS", "resolved_rank"])
        assert 1 <= rank < P  # ill-conditioned: part of the spectrum is cut, at every level the same
        assert rank == summary["linear"][str(level)]["resolved_rank"] == summary["linear"]["0.5"]["resolved_rank"]
        # alphas absolute: Ridge(alpha) at level L is the oracle's Ridge on L * X
        names = ["OLS"] + [f"Ridge_{a:g}" for a in ALPHAS]
        predict, dof, _ = svd_oracle(level * xtr.astype(np.float64), ytr, rank, [None, *ALPHAS])
        np.testing.assert_allclose(rows.loc[names, "effective_dof"].to_numpy(float), dof, rtol=1e-9)
        for split, (x, y) in data.items():
            ref = predict(level * x.astype(np.float64))
            res = ref - y[:, None]
            want = {"r2": 1 - (res**2).sum(0) / ((y - y.mean()) ** 2).sum(), "mae": np.abs(res).mean(0),
                    "rmse": np.sqrt((res**2).mean(0))}
            for j, name in enumerate(names):
                assert rows.loc[name, f"{split}_r2"] == pytest.approx(want["r2"][j], abs=TOL), (level, split, name)
                for k in ("mae", "rmse"):
                    assert rows.loc[name, f"{split}_{k}"] == pytest.approx(want[k][j], abs=TOL * ytr.std())


def test_flags_sensitivity_and_report(run):
    out, data = run
    metrics = pd.read_csv(out / "metrics.csv")
    summary = json.loads((out / "summary.json").read_text())
    assert list(metrics.columns[-3:]) == ["resolved_rank", "effective_dof", "alpha_below_resolution"]
    for level in LEVELS[1:]:
        tau = summary["linear"][str(level)]["threshold"]
        ridge = metrics[(metrics.noise_level == level) & metrics.model.str.startswith("Ridge")]
        assert (ridge.alpha_below_resolution.astype(bool) == (ridge.alpha < tau)).all()
    # OLS at the threshold x0.1 and x10, against the oracle truncated at those ranks
    sens = summary["linear_scale"]["ols_sensitivity"]
    xtr, ytr = data["train"]
    xte, yte = data["test"]
    for rec in sens["factors"].values():
        predict, _, _ = svd_oracle(xtr, ytr, rec["resolved_rank"], [None])
        pred = predict(xte)[:, 0]
        assert rec["test_r2"] == pytest.approx(1 - ((pred - yte) ** 2).sum() / ((yte - yte.mean()) ** 2).sum(), abs=1e-5)
    ranks = [sens["factors"][k]["resolved_rank"] for k in ("x0.1", "x10")]
    assert ranks[0] > summary["linear_scale"]["resolved_rank"] > ranks[1]
    report = (out / "report.md").read_text()
    assert numbers_not_in_summary(report, summary) == []
    assert "### 6.4 Numerical Resolution of the Linear Models" in report and "OLS 截断敏感性" in report
