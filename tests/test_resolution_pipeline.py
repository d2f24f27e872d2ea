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


def _want(predict, x, y):
    ref = predict(x)
    res = ref - y[:, None]
    return {"r2": 1 - (res**2).sum(0) / ((y - y.mean()) ** 2).sum(), "mae": np.abs(res).mean(0),
            "rmse": np.sqrt((res**2).mean(0))}


def test_metrics_csv_matches_the_oracle(run):
    """Ridge against the raw float64 SVD with every direction; the OLS path's top step against the
    equilibrated SVD truncated at its rank (1e-6); every step's rank is the one metrics.csv shows."""
    out, data = run
    metrics = pd.read_csv(out / "metrics.csv")
    summary = json.loads((out / "summary.json").read_text())
    xtr, ytr = data["train"]
    for level in LEVELS[1:]:
        rows = metrics[metrics.noise_level == level].set_index("model")
        lin = summary["linear"][str(level)]
        path = lin["path"]
        assert [s["model"] for s in path][0] == "OLS" and len(path) >= 2
        for step in path:
            assert int(rows.loc[step["model"], "resolved_rank"]) == step["resolved_rank"]
        assert path[0]["resolved_rank"] > path[-1]["resolved_rank"]  # ill-conditioned: the old cut dropped some
        assert path == summary["linear"]["0.5"]["path"]  # every level the same path
        # alphas absolute: Ridge(alpha) at level L is the oracle's Ridge on L * X, every direction
        names = [f"Ridge_{a:g}" for a in ALPHAS]
        predict, dof, _ = svd_oracle(level * xtr.astype(np.float64), ytr, P, list(ALPHAS))
        np.testing.assert_allclose(rows.loc[names, "effective_dof"].to_numpy(float), dof, rtol=1e-9)
        top = path[-1]
        top_predict, _, _ = svd_oracle(level * xtr.astype(np.float64), ytr, top["resolved_rank"], [None],
                                       equilibrate=True)
        for split, (x, y) in data.items():
            for fn, cols in ((predict, names), (top_predict, [top["model"]])):
                want = _want(fn, level * x.astype(np.float64), y)
                for j, name in enumerate(cols):
                    assert rows.loc[name, f"{split}_r2"] == pytest.approx(want["r2"][j], abs=TOL), (level, split, name)
                    for k in ("mae", "rmse"):
                        assert rows.loc[name, f"{split}_{k}"] == pytest.approx(want[k][j], abs=TOL * ytr.std())


def test_flags_path_and_report(run):
    out, data = run
    metrics = pd.read_csv(out / "metrics.csv")
    summary = json.loads((out / "summary.json").read_text())
    assert list(metrics.columns[-3:]) == ["resolved_rank", "effective_dof", "alpha_below_resolution"]
    for level in LEVELS[1:]:
        bound = summary["linear"][str(level)]["ridge_accuracy_alpha"]
        ridge = metrics[(metrics.noise_level == level) & metrics.model.str.startswith("Ridge")]
        assert (ridge.alpha_below_resolution.astype(bool) == (ridge.alpha < bound)).all()
        assert (ridge.resolved_rank == P).all()  # Ridge keeps every direction
    # the path's summary quotes the metrics rows of the reference level, and every step is a gate candidate
    path = summary["linear_scale"]["ols_path"]
    rows = metrics[metrics.noise_level == max(LEVELS)].set_index("model")
    for step in path["models"]:
        assert step["test_r2"] == pytest.approx(rows.loc[step["model"], "test_r2"], abs=1e-12)
    best = max(metrics[metrics.noise_level > 0].test_r2)
    assert summary["gate"]["best_test_r2"] == pytest.approx(best, abs=1e-12)
    report = (out / "report.md").read_text()
    assert numbers_not_in_summary(report, summary) == []
    assert "### 6.4 Numerical Resolution of the Linear Models" in report and "OLS 截断路径" in report
    # nothing resolvable is called noise, and no number is a "conservative estimate" of what was cut
    assert "数值噪声" not in report and "保守估计" not in report
