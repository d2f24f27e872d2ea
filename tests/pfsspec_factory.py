"""Write small pfsspec-layout HDF5 files for tests (independent of daudit's own simulator)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd

ERROR_KEY = "dataset/arrays/error/value"
FLUX_KEY = "dataset/arrays/flux/value"
MASK_KEY = "dataset/arrays/mask/value"
WAVE_KEY = "spectrumdataset/wave"


def write_pfsspec(path, error, labels: dict, *, wave=None, flux=None, mask=None, chunk_rows=64):
    """error (n, p) float32; labels: column -> (n,) array. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n, p = error.shape
    pd.DataFrame({k: np.asarray(v) for k, v in labels.items()}).to_hdf(path, key="params", format="table", mode="w")
    with h5py.File(path, "a") as f:
        f.create_dataset(WAVE_KEY, data=np.linspace(7100.0, 8850.0, p) if wave is None else wave)
        c = (min(chunk_rows, n), p)
        f.create_dataset(ERROR_KEY, data=np.asarray(error, dtype=np.float32), chunks=c)
        f.create_dataset(FLUX_KEY, data=np.ones((n, p), np.float32) if flux is None else flux.astype(np.float32), chunks=c)
        if mask is not None:
            f.create_dataset(MASK_KEY, data=mask.astype(np.uint8), chunks=c)
    return path


def linear_leak_dataset(n, p, *, seed=0, noise=0.3, world_seed=12345):
    """error = positive template + small per-pixel signal linear in log_g (well-conditioned).

    The template and the leak direction come from ``world_seed`` (shared by all splits)."""
    world = np.random.default_rng(world_seed)
    template = world.uniform(0.5, 1.5, p)
    w = world.normal(size=p) * 0.05
    rng = np.random.default_rng(seed)
    logg = rng.uniform(1, 5, n)
    err = template * (1 + 0.2 * rng.normal(size=(n, p)))
    err = err + np.outer(logg - 3, w) + noise * 0.01 * rng.normal(size=(n, p))
    return err.astype(np.float32), logg


def write_split_set(root, n_train=600, n_val=200, n_test=200, p=32, *, seed=0, maker=linear_leak_dataset):
    root = Path(root)
    paths = {}
    for i, (name, n) in enumerate((("train", n_train), ("val", n_val), ("test", n_test))):
        err, logg = maker(n, p, seed=seed + i)
        rng = np.random.default_rng(100 + seed + i)
        labels = {"T_eff": rng.uniform(3750, 6000, n), "log_g": logg, "M_H": rng.uniform(-2.5, 0.75, n),
                  "mag": rng.uniform(20.5, 22.5, n), "snr": rng.uniform(3, 20, n)}
        paths[name] = write_pfsspec(root / name / "dataset.h5", err, labels)
    return paths


def write_spec(path, paths: dict, *, output_dir, alphas=(0.001, 0.1, 10.0), levels=(0.0, 0.5, 1.0),
               lightgbm=True, chunk_rows=128, scheduler="synchronous", extra: str = ""):
    models = ["  - type: LinearRegression", "  - type: Ridge", f"    alpha: {list(alphas)}"]
    if lightgbm:
        models += ["  - type: LightGBM", "    n_estimators: 10", "    max_depth: 3", "    learning_rate: 0.1"]
    text = "\n".join([
        'experiment_id: "TEST-RUN-01"',
        "data:",
        f"  train_path: {str(paths['train'])!r}",
        f"  val_path: {str(paths['val'])!r}",
        f"  test_path: {str(paths['test'])!r}",
        "  param: log_g",
        "input: {X: error, y: log_g}",
        "models:", *models,
        f"noise_levels: {list(levels)}",
        "seed: 42",
        "plots:",
        '  - {type: r2_bar_chart, save: "test_run_01_r2_models.png"}',
        '  - {type: feature_importance_spectrum, save: "test_run_01_importance_spectrum.png"}',
        '  - {type: importance_histogram, save: "test_run_01_importance_hist.png"}',
        f"output_dir: {str(output_dir)!r}",
        f"compute: {{chunk_rows: {chunk_rows}, scheduler: {scheduler}, memory_limit: 2GB}}",
        extra,
    ])
    Path(path).write_text(text + "\n")
    return Path(path)
