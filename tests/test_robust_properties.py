"""Property test (issue 16): generated pfsspec files and specs across the hostile classes.

Every generated dataset carries a planted leak (the error vector is linear in log_g), in shapes,
chunkings, unit scales, noise levels and model lists drawn by hypothesis, then bent by one class
of hostile input. Through the command line's entry point (`daudit.app.cli.main`, in process so
that the examples stay fast) every run must end with either exit 0, finite numbers and FAIL, or
exit 2 and one line; never a traceback, never a PASS, never a file changed outside the output
folder. The example count is bounded (one drawn example per class) to keep it well under a minute.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import signal
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pfsspec_factory import ERROR_KEY, MASK_KEY, WAVE_KEY

from daudit.app.cli import main as cli_main

# class -> whether a run may be accepted (exit 0); the others must be refused (exit 2)
CLASSES = {
    "valid": True, "shards": True, "float64_in_range": True, "nan_rows": True, "mask": True,
    "zero_levels_only": False, "params_more_rows": False, "params_fewer_rows": False,
    "float64_overflow": False, "float64_underflow": False, "labels_huge": False, "labels_tiny": False,
    "same_file_twice": False, "mask_wrong_shape": False, "wave_2d": False, "error_is_group": False,
    "level_overflow": False, "level_underflow": False,
}


@st.composite
def problems(draw):
    return {
        "n": draw(st.integers(150, 400)), "n_test": draw(st.integers(60, 150)), "p": draw(st.integers(4, 24)),
        "chunk_rows": draw(st.integers(16, 256)), "seed": draw(st.integers(0, 2**16)),
        "scale": draw(st.sampled_from([1e-17, 1e-3, 1.0, 1e3, 1e10])),
        "levels": draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0]), min_size=1, max_size=3, unique=True)
                       .filter(lambda lv: any(x > 0 for x in lv))),
        "lightgbm": draw(st.booleans()), "ols": draw(st.booleans()),
    }


def _leak(n, p, rng, scale):
    """error = scale * (template + per-pixel noise + log_g along a fixed direction): OLS R2 near 1."""
    world = np.random.default_rng(99)
    template, w = world.uniform(1.0, 2.0, p), world.normal(size=p) * 0.2
    logg = rng.uniform(1.0, 5.0, n)
    err = template * (1 + 0.02 * rng.normal(size=(n, p))) + np.outer(logg - 3.0, w)
    return err * scale, logg


def _write(path: Path, err, logg, *, table_rows=None, mask=None, wave=None, dtype=np.float32, rng=None):
    n, p = err.shape
    rows = n if table_rows is None else table_rows
    lab = np.concatenate([logg, rng.uniform(1, 5, max(rows - n, 0))])[:rows]
    pd.DataFrame({"log_g": lab, "T_eff": rng.uniform(3750, 6000, rows)}).to_hdf(path, key="params",
                                                                                 format="table", mode="w")
    with h5py.File(path, "a") as f:
        f.create_dataset(WAVE_KEY, data=np.linspace(7100.0, 8850.0, p) if wave is None else wave)
        f.create_dataset(ERROR_KEY, data=np.asarray(err, dtype=dtype))
        if mask is not None:
            f.create_dataset(MASK_KEY, data=mask)
    return path


def _build(root: Path, cls: str, pr: dict) -> tuple[Path, list]:
    """Write train/val/test and the spec for one problem bent by ``cls``; returns (spec, extra args)."""
    rng = np.random.default_rng(pr["seed"])
    n, n_test, p, scale = pr["n"], pr["n_test"], pr["p"], pr["scale"]
    paths = {}
    for name, rows in (("train", n), ("val", n_test), ("test", n_test)):
        err, logg = _leak(rows, p, rng, scale)
        kw, dtype = {"rng": rng}, np.float32
        if cls == "nan_rows" and name == "train":
            err[rng.choice(rows, 3, replace=False)] = np.nan
            err[rng.random(err.shape) < 0.05] = np.nan
        if cls == "mask":
            kw["mask"] = (rng.random((rows, p)) < 0.1).astype(np.uint8)
        if name == "train":
            if cls == "params_more_rows":
                kw["table_rows"] = rows + 7
            elif cls == "params_fewer_rows":
                kw["table_rows"] = rows - 7
            elif cls in ("float64_overflow", "float64_underflow", "float64_in_range"):
                dtype = np.float64
                err = err.astype(np.float64)
                if cls == "float64_underflow":
                    err = err / scale * 1e-40
                if cls == "float64_overflow":
                    err[0, 0] = 1e39
            elif cls == "labels_huge":
                logg = logg * 1e200
            elif cls == "labels_tiny":
                logg = logg * 1e-200
            elif cls == "mask_wrong_shape":
                kw["mask"] = np.zeros((rows, p + 1), np.uint8)
            elif cls == "wave_2d":
                kw["wave"] = np.ones((2, p))
        if cls == "shards" and name == "train":
            cut = n // 2
            a = _write(root / "train_a.h5", err[:cut], logg[:cut], dtype=dtype, **kw)
            paths[name] = [str(a), str(_write(root / "train_b.h5", err[cut:], logg[cut:], dtype=dtype, **kw))]
            continue
        paths[name] = str(_write(root / f"{name}.h5", err, logg, dtype=dtype, **kw))
    if cls == "error_is_group":
        with h5py.File(paths["test"], "a") as f:
            del f[ERROR_KEY]
            f.create_group(ERROR_KEY)
    if cls == "same_file_twice":
        paths["train"] = [paths["train"], paths["train"]]
    levels = list(pr["levels"])
    if cls == "zero_levels_only":
        levels = [0.0]
    elif cls == "level_overflow":
        levels.append(1e40 / scale)
    elif cls == "level_underflow":
        levels = [1e-39 / scale]
    # Ridge alone is not scale-invariant: on errors in small units its fixed alphas shrink any leak
    # away, so small scales always get a scale-invariant model too (OLS, or LightGBM when drawn).
    ols = pr["ols"] or (scale < 1 and not pr["lightgbm"])
    models = ([{"type": "LinearRegression"}] if ols else []) + [{"type": "Ridge", "alpha": [0.01, 1.0]}]
    if pr["lightgbm"]:
        models.append({"type": "LightGBM", "n_estimators": 8, "max_depth": 3})
    spec = {"experiment_id": "PROP-01", "data": {"train_path": paths["train"], "val_path": paths["val"],
                                                 "test_path": paths["test"], "param": "log_g"},
            "models": models, "noise_levels": levels, "seed": 1, "output_dir": str(root / "out"),
            "compute": {"scheduler": "synchronous", "chunk_rows": pr["chunk_rows"], "memory_limit": "1GB"},
            "sanity": {"enabled": False}, "plots": [{"type": "r2_bar_chart"}]}
    (root / "spec.yaml").write_text(json.dumps(spec))  # JSON is YAML
    return root / "spec.yaml", []


def _state(root: Path) -> dict:
    """Every file outside the output folder (its .previous, and the log and state file daudit keeps beside
    it, `daudit.core.runlog`): bytes and mtime."""
    out = {}
    ours = {"out", "out.previous", "out.log", ".out.state.json"}  # the output folder, its log and run state
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in ours or path.is_dir():
            continue
        out[str(rel)] = (path.stat().st_mtime_ns, path.read_bytes())
    return out


def _run_cli(argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    term = signal.getsignal(signal.SIGTERM)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = cli_main(argv)
    finally:
        signal.signal(signal.SIGTERM, term)  # the CLI's own handler is for its process, not pytest's
    return rc, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("cls", sorted(CLASSES))
@settings(max_examples=1, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(pr=problems())
def test_any_generated_input_ends_in_finite_numbers_and_fail_or_one_line(tmp_path_factory, cls, pr):
    root = tmp_path_factory.mktemp(f"prop-{cls}")
    spec, extra = _build(root, cls, pr)
    before = _state(root)
    rc, stdout, stderr = _run_cli(["run", "--config", str(spec), *extra])
    assert "Traceback" not in stdout + stderr
    assert _state(root) == before, "a file outside the output folder changed"
    assert "Gate-1 PASS" not in stdout
    if rc == 0:
        assert CLASSES[cls], (cls, pr, stdout, stderr)
        summary = json.loads((root / "out" / "summary.json").read_text())
        assert summary["gate"]["verdict"] == "FAIL", (cls, pr, summary["gate"])
        live = [r for r in summary["metrics"] if not r["degenerate"]]
        assert live and all(math.isfinite(r[k]) for r in live for k in ("train_r2", "val_r2", "test_r2")), live
    else:
        assert rc == 2, (cls, pr, rc, stderr)
        lines = [ln for ln in stderr.splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("daudit: error: ")]
        assert len(errors) == 1 and lines[-1] == errors[0], stderr
        assert not CLASSES[cls], (cls, pr, stderr)
        assert not os.path.exists(root / "out"), "a refused run left an output folder"
