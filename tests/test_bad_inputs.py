"""Every bad input through the real CLI: exit code 2, one line naming what, where and the fix.

Each case builds its files, then all cases run as subprocesses (`python -m daudit run`) a few at
a time; each parametrized test checks one case's exit code, message and that nothing was left
in the output folder. Inputs that are accepted with a warning (fewer rows than asked, splits
that share rows, rows with an all-NaN error, bad labels with --drop-bad-labels) exit 0 and say so.
The table in docs/bad-inputs.md lists the same cases.
"""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from pfsspec_factory import ERROR_KEY, WAVE_KEY, linear_leak_dataset, write_pfsspec, write_spec, write_split_set


def _labels(n, seed=0, **over):
    rng = np.random.default_rng(seed)
    lab = {"T_eff": rng.uniform(3750, 6000, n), "log_g": rng.uniform(1, 5, n), "M_H": rng.uniform(-2, 0.5, n)}
    lab.update(over)
    return lab


def _spec(root, data, **kw):
    kw.setdefault("lightgbm", False)
    kw.setdefault("levels", (1.0,))
    kw.setdefault("extra", "sanity: {enabled: false}")  # the checks of issue 4 are tested elsewhere
    return write_spec(root / "spec.yaml", data, output_dir=root / "out", **kw)


def _with_train(root, data, path, **kw):
    return _spec(root, dict(data, train=path), **kw)


def _raw_h5(path, datasets: dict, labels=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    if labels is not None:
        pd.DataFrame(labels).to_hdf(path, key="params", format="table", mode="w")
    with h5py.File(path, "a") as f:
        for k, v in datasets.items():
            f.create_dataset(k, data=v)
    return path


# Each case: (root, data) -> (spec, extra CLI args, expected exit code, substrings of the output)

def case_missing_path(root, data):
    return _with_train(root, data, root / "nowhere" / "dataset.h5"), [], 2, ["train split: file not found", "nowhere"]


def case_glob_matches_nothing(root, data):
    return _with_train(root, data, root / "shards" / "*.h5"), [], 2, ["no file matches the glob"]


def case_directory(root, data):
    (root / "dir.h5").mkdir()
    return _with_train(root, data, root / "dir.h5"), [], 2, ["is a directory", "dataset.h5 file inside it"]


def case_not_hdf5(root, data):
    (root / "notes.h5").write_text("not an HDF5 file\n")
    return _with_train(root, data, root / "notes.h5"), [], 2, ["not a readable HDF5 file"]


def case_truncated_hdf5(root, data):
    src = Path(data["train"]).read_bytes()
    (root / "cut.h5").write_bytes(src[: len(src) // 2])
    return _with_train(root, data, root / "cut.h5"), [], 2, ["cut.h5 is not a readable HDF5 file"]


def case_missing_error_key(root, data):
    p = _raw_h5(root / "nokeys.h5", {WAVE_KEY: np.linspace(7100, 8850, 32),
                                     "dataset/arrays/flux/value": np.ones((10, 32), np.float32)}, _labels(10))
    return _with_train(root, data, p), [], 2, ["lacks dataset/arrays/error/value", "datasets present:",
                                               "dataset/arrays/flux/value"]


def case_missing_wave_key(root, data):
    p = _raw_h5(root / "nowave.h5", {ERROR_KEY: np.ones((10, 32), np.float32)}, _labels(10))
    return _with_train(root, data, p), [], 2, ["lacks spectrumdataset/wave", "datasets present:"]


def case_width_mismatch(root, data):
    p = _raw_h5(root / "width.h5", {WAVE_KEY: np.linspace(7100, 8850, 40), ERROR_KEY: np.ones((10, 32), np.float32)},
                _labels(10))
    return _with_train(root, data, p), [], 2, ["error array shape (10, 32) does not match", "40 pixels"]


def case_pixels_differ_between_splits(root, data):
    err, logg = linear_leak_dataset(200, 24, seed=5)
    p = write_pfsspec(root / "narrow.h5", err, _labels(200, log_g=logg))
    return _spec(root, dict(data, test=p)), [], 2, ["test split has 24 pixels but train has 32"]


def case_params_fewer_rows(root, data):
    p = _raw_h5(root / "short.h5", {WAVE_KEY: np.linspace(7100, 8850, 32), ERROR_KEY: np.ones((10, 32), np.float32)},
                _labels(6))
    return _with_train(root, data, p), [], 2, ["params table has 6 rows but 10 spectra", "truncated file?"]


def case_param_missing(root, data):
    p = write_pfsspec(root / "noparam.h5", np.ones((10, 32), np.float32), {"T_eff": np.ones(10), "M_H": np.ones(10)})
    return _with_train(root, data, p), [], 2, ["param 'log_g' not in the params table; columns: T_eff, M_H"]


def case_param_not_numeric(root, data):
    p = write_pfsspec(root / "text.h5", np.ones((10, 32), np.float32), {"log_g": np.array(["high"] * 10)})
    return _with_train(root, data, p), [], 2, ["param 'log_g' has dtype str, not numbers"]


def case_nan_labels(root, data):
    err, logg = linear_leak_dataset(600, 32, seed=0)
    logg[[3, 50, 51]] = np.nan
    p = write_pfsspec(root / "nanlab.h5", err, _labels(600, log_g=logg))
    return _with_train(root, data, p), [], 2, ["train split: 3 of 600 rows have a NaN or infinite 'log_g' label",
                                               "row 3 of", "--drop-bad-labels"]


def case_inf_labels(root, data):
    err, logg = linear_leak_dataset(200, 32, seed=2)
    logg[7] = np.inf
    p = write_pfsspec(root / "inflab.h5", err, _labels(200, log_g=logg))
    return _spec(root, dict(data, val=p)), [], 2, ["val split: 1 of 200 rows have a NaN or infinite 'log_g' label"]


def case_nan_labels_dropped(root, data):
    err, logg = linear_leak_dataset(600, 32, seed=0)
    logg[[3, 50, 51]] = np.nan
    p = write_pfsspec(root / "nanlab.h5", err, _labels(600, log_g=logg))
    return (_with_train(root, data, p), ["--drop-bad-labels"], 0,
            ["warning: train split: 3 of 600 rows", "dropped (--drop-bad-labels)"])


def case_all_labels_nan(root, data):
    p = write_pfsspec(root / "allnan.h5", np.ones((10, 32), np.float32), _labels(10, log_g=np.full(10, np.nan)))
    return _with_train(root, data, p), ["--drop-bad-labels"], 2, ["10 of 10 rows", "no row is left to audit"]


def case_constant_labels(root, data):
    err, _ = linear_leak_dataset(200, 32, seed=1)
    p = write_pfsspec(root / "const.h5", err, _labels(200, log_g=np.full(200, 4.5)))
    return _spec(root, dict(data, test=p)), [], 2, ["test split: the 'log_g' label is constant (4.5) over all 200 rows",
                                                    "R2 is undefined"]


def case_all_nan_error_rows(root, data):
    err, logg = linear_leak_dataset(600, 32, seed=0)
    err[[7, 9, 400]] = np.nan
    p = write_pfsspec(root / "nanrows.h5", err, _labels(600, log_g=logg))
    return (_with_train(root, data, p), [], 0,
            ["warning: train split: 3 rows have an error with no finite pixel (first: row 7 of", "dropped"])


def case_every_error_row_nan(root, data):
    p = write_pfsspec(root / "allnanerr.h5", np.full((20, 32), np.nan, np.float32), _labels(20))
    return _spec(root, dict(data, val=p)), [], 2, ["val split: all 20 rows have an error with no finite pixel"]


def case_integer_dtype(root, data):
    p = _raw_h5(root / "int.h5", {WAVE_KEY: np.linspace(7100, 8850, 32), ERROR_KEY: np.ones((10, 32), np.int32)},
                _labels(10))
    return _with_train(root, data, p), [], 2, ["error array has dtype int32, expected floating point"]


def case_num_samples_beyond_file(root, data):
    spec = _spec(root, data)
    spec.write_text(spec.read_text().replace("  param: log_g", "  param: log_g\n  num_samples: 5000"))
    return spec, [], 0, ["warning: train split: data.num_samples is 5000 but the files hold 600 rows; using all 600"]


def case_empty_split(root, data):
    p = _raw_h5(root / "empty.h5", {WAVE_KEY: np.linspace(7100, 8850, 32),
                                    ERROR_KEY: np.ones((0, 32), np.float32)}, _labels(0))
    return _spec(root, dict(data, val=p)), [], 2, ["val split: no rows to read", "(empty split)"]


def case_same_file_overlapping_rows(root, data):
    return _spec(root, dict(data, test=data["train"])), [], 0, [
        "WARNING: train and test splits both read the first 600 rows of", "would test on training rows"]


def case_alpha_not_positive(root, data):
    return _spec(root, data, alphas=(0.1, 0.0)), [], 2, ["'models[1].alpha' must be > 0, got 0.0"]


def case_alpha_negative(root, data):
    return _spec(root, data, alphas=(-1,)), [], 2, ["'models[1].alpha' must be > 0, got -1.0"]


def case_negative_noise_level(root, data):
    return _spec(root, data, levels=(1.0, -0.5)), [], 2, ["'noise_levels' must be >= 0, got -0.5"]


def case_unknown_spec_key(root, data):
    spec = _spec(root, data)
    spec.write_text(spec.read_text() + "n_estimaters: 100\n")
    return spec, [], 2, ["unknown key 'n_estimaters'; allowed: experiment_id"]


def case_unknown_nested_key(root, data):
    spec = _spec(root, data)
    spec.write_text(spec.read_text().replace("  param: log_g", "  param: log_g\n  tain_path: x"))
    return spec, [], 2, ["unknown key 'data.tain_path'; allowed: source, train_path"]


def case_unsafe_yaml_tag(root, data):
    spec = _spec(root, data)
    flag = root / "pwned"
    spec.write_text(spec.read_text() + f"author: !!python/object/apply:os.system ['touch {flag}']\n")
    return spec, [], 2, ["not valid YAML", "python/object/apply"]


def case_spec_not_found(root, data):
    return root / "no-spec.yaml", [], 2, ["spec file not found", "no-spec.yaml"]


def case_experiment_id_with_path(root, data):
    spec = _spec(root, data)
    spec.write_text(spec.read_text().replace('experiment_id: "TEST-RUN-01"', 'experiment_id: "../../etc/x"'))
    return spec, [], 2, ["'experiment_id' must be letters, digits", "(no path)", "'../../etc/x'"]


def case_absolute_experiment_id_flag(root, data):
    return _spec(root, data), ["--exp-id", "/tmp/elsewhere"], 2, ["spec --exp-id", "(no path)", "'/tmp/elsewhere'"]


def case_plot_name_with_path(root, data):
    spec = _spec(root, data)
    spec.write_text(spec.read_text().replace('save: "test_run_01_r2_models.png"', 'save: "../../r2.png"'))
    return spec, [], 2, ["'plots[0].save' must be a plain .png file name, got '../../r2.png'"]


def case_output_dir_is_file(root, data):
    (root / "taken").write_text("x")
    return _spec(root, data), ["--output-dir", str(root / "taken")], 2, ["exists and is not a directory"]


def case_output_dir_not_writable(root, data):
    if os.geteuid() == 0:  # root writes through permission bits: use a file system that refuses
        target = "/sys/daudit-test-out"
    else:
        ro = root / "readonly"
        ro.mkdir()
        ro.chmod(0o500)
        target = str(ro / "out")
    return _spec(root, data), ["--output-dir", target], 2, ["is not writable", "choose another --output-dir"]


def case_output_dir_foreign_files(root, data):
    (root / "mine").mkdir()
    (root / "mine" / "thesis.tex").write_text("x")
    return _spec(root, data), ["--output-dir", str(root / "mine")], 2, ["not empty and holds no daudit results"]


CASES = {name[5:]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")}
PASSING = {"nan_labels_dropped", "all_nan_error_rows", "num_samples_beyond_file", "same_file_overlapping_rows"}


def _run_case(args):
    name, spec, extra, root = args
    cmd = [sys.executable, "-m", "daudit", "run", "--config", str(spec), *extra]
    return name, subprocess.run(cmd, capture_output=True, text=True, cwd=root, timeout=300)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    base = tmp_path_factory.mktemp("bad")
    data = write_split_set(base / "data", n_train=600, n_val=200, n_test=200, p=32)
    jobs, expected = [], {}
    for name, fn in CASES.items():
        root = base / name
        root.mkdir()
        spec, extra, rc, needles = fn(root, data)
        expected[name] = (rc, needles, root)
        jobs.append((name, spec, extra, root))
    with ThreadPoolExecutor(max_workers=4) as pool:  # mostly waiting on imports and disk
        done = dict(pool.map(_run_case, jobs))
    return {name: (done[name],) + expected[name] for name in CASES}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_via_cli(name, outcomes):
    proc, rc, needles, root = outcomes[name]
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text, text
    assert proc.returncode == rc, text
    for needle in needles:
        assert needle in text, (needle, text)
    if rc == 2:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert lines and lines[-1].startswith("daudit: error: "), proc.stderr
        assert len([ln for ln in lines if ln.startswith("daudit: error")]) == 1
        # Refused before any output: no results folder, no staging folder, no lock left; only the
        # run's state (for `status`), which records the same one-line error, when the run had begun.
        assert not (root / "out").exists()
        assert not [p for p in root.glob(".out.*") if p.name != ".out.state.json"]
        state = root / ".out.state.json"
        if state.exists():
            recorded = json.loads(state.read_text())
            assert recorded["status"] == "failed" and recorded["message"] == lines[-1], recorded
    else:
        assert (root / "out" / "summary.json").is_file()
    if name == "unsafe_yaml_tag":
        assert not (root / "pwned").exists()


def test_debug_shows_the_traceback(tmp_path):
    spec = write_spec(tmp_path / "spec.yaml", {k: tmp_path / "missing.h5" for k in ("train", "val", "test")},
                      output_dir=tmp_path / "out")
    proc = subprocess.run([sys.executable, "-m", "daudit", "run", "--debug", "--config", str(spec)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "DauditError" in proc.stderr


def test_dropped_rows_counted_and_numbers_match_clean_files(outcomes, tmp_path):
    """Dropping bad-label and all-NaN-error rows equals auditing files without those rows."""
    from daudit.audit.pipeline import run_audit
    from daudit.core.spec import load_spec

    proc, _, _, root = outcomes["nan_labels_dropped"]
    dropped = json.loads((root / "out" / "summary.json").read_text())
    train = dropped["data"]["splits"]["train"]
    assert (train["n_rows_read"], train["n_dropped_bad_labels"], train["n_rows"]) == (600, 3, 597)
    assert dropped["data"]["splits"]["val"]["n_dropped_bad_labels"] == 0

    _, _, _, root2 = outcomes["all_nan_error_rows"]
    nanrows = json.loads((root2 / "out" / "summary.json").read_text())
    t2 = nanrows["data"]["splits"]["train"]
    assert (t2["n_dropped_all_nan_rows"], t2["n_rows"], t2["n_nonfinite_after_fill"]) == (3, 597, 0)

    err, logg = linear_leak_dataset(600, 32, seed=0)
    keep = np.setdiff1d(np.arange(600), [3, 50, 51])
    data = {k: dropped["data"]["splits"][k]["paths"][0] for k in ("val", "test")}
    labels = {k: v[keep] for k, v in _labels(600, log_g=logg).items()}
    data["train"] = write_pfsspec(tmp_path / "clean.h5", err[keep], labels)
    spec = load_spec(write_spec(tmp_path / "s.yaml", data, output_dir=tmp_path / "o", lightgbm=False, levels=(1.0,),
                                extra="sanity: {enabled: false}"))
    clean = run_audit(spec, output_dir=tmp_path / "o", echo=lambda *a: None)
    for a, b in zip(dropped["metrics"], clean["metrics"]):
        assert a["model"] == b["model"]
        for k in ("train_r2", "val_r2", "test_r2", "test_mae"):
            assert a[k] == pytest.approx(b[k], rel=1e-7, abs=1e-10), (a["model"], k)


@pytest.mark.slow
def test_physical_units_and_scaled_error_give_the_same_r2(tmp_path):
    """Error in erg/s/cm2/A (~1e-17) or scaled by 1e10: same OLS and LightGBM R2, no numerical warnings."""
    import warnings

    from daudit.audit.pipeline import run_audit
    from daudit.core.spec import load_spec

    def maker(scale):
        def make(n, p, *, seed):
            err, logg = linear_leak_dataset(n, p, seed=seed)
            return (err.astype(np.float64) * scale).astype(np.float32), logg
        return make

    r2 = {}
    for scale in (1e-17, 1e-7):
        data = write_split_set(tmp_path / f"d{scale:g}", n_train=600, n_val=200, n_test=200, p=32, maker=maker(scale))
        spec = load_spec(_spec(_mk(tmp_path / f"s{scale:g}"), data, lightgbm=True))
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            from scipy.linalg import LinAlgWarning

            warnings.simplefilter("error", LinAlgWarning)
            summary = run_audit(spec, output_dir=tmp_path / f"o{scale:g}", echo=lambda *a: None)
        r2[scale] = {r["model"]: (r["train_r2"], r["val_r2"], r["test_r2"]) for r in summary["metrics"]}
        assert "OLS cut-off" not in json.dumps(summary["linear"]), summary["linear"]
    assert r2[1e-17]["OLS"] == pytest.approx(r2[1e-7]["OLS"], rel=1e-6)
    assert r2[1e-17]["LightGBM"] == pytest.approx(r2[1e-7]["LightGBM"], rel=1e-9)
    assert r2[1e-17]["OLS"][2] > 0.5  # and the planted leak is found at both scales


def _mk(path):
    path.mkdir(parents=True, exist_ok=True)
    return path
