"""Every bad input through the real CLI: exit code 2, one line naming what, where and the fix.

Each case builds its files, then all cases run as subprocesses (`python -m daudit run`) a few at
a time (a few further members of a class already covered that way run through the same entry
point, `daudit.app.cli.main`, in this process: `IN_PROCESS`); each parametrized test checks one
case's exit code, message and that nothing was left in the output folder. Inputs that are accepted with a warning (fewer rows than asked, splits
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
    p = write_pfsspec(root / "allnanerr.h5", np.full((40, 32), np.nan, np.float32), _labels(40))
    return _spec(root, dict(data, val=p)), [], 2, ["val split: all 40 rows have an error with no finite pixel"]


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


# --- issue 16: classes that once gave a false PASS, a traceback, unbounded work or silent acceptance.
# The data of every case carries a planted leak (`linear_leak_dataset`: OLS test R2 about 0.7), so a
# case that is not refused must say FAIL; none of the false-PASS cases may say PASS (`FALSE_PASS`).


def _leak(n=600, p=32, seed=0):
    return linear_leak_dataset(n, p, seed=seed)


def _edit_spec(spec, old, new):
    text = spec.read_text()
    assert old in text, (old, text)
    spec.write_text(text.replace(old, new))
    return spec


def case_planted_leak_control(root, data):
    """The data every case is built on: the planted leak is found (so a refusal hides no PASS)."""
    return _spec(root, data), [], 0, ["Gate-1 FAIL"]


def case_zero_noise_level_only(root, data):
    return _spec(root, data, levels=(0.0,)), [], 2, ["'noise_levels' has no level above 0", "never counts"]


def case_params_more_rows(root, data):
    err, logg = _leak()
    lab = _labels(650, log_g=np.concatenate([logg, np.full(50, 3.0)]))
    p = _raw_h5(root / "long.h5", {WAVE_KEY: np.linspace(7100, 8850, 32), ERROR_KEY: err}, lab)
    return _with_train(root, data, p), [], 2, ["params table has 650 rows but 600 spectra are stored",
                                               "cannot be matched"]


def case_params_explicit_index(root, data):
    """A longer table whose index names each spectrum's row is aligned by that index (and says so)."""
    err, logg = _leak()
    order = np.random.default_rng(3).permutation(650)  # rows 600..649 name no spectrum
    logg_all = np.concatenate([logg, np.full(50, 99.0)])
    df = pd.DataFrame({k: v[order] for k, v in _labels(650, log_g=logg_all).items()}, index=order)
    path = root / "indexed.h5"
    df.to_hdf(path, key="params", format="table", mode="w")
    with h5py.File(path, "a") as f:
        f.create_dataset(WAVE_KEY, data=np.linspace(7100, 8850, 32))
        f.create_dataset(ERROR_KEY, data=err)
    return _with_train(root, data, path), [], 0, ["labels matched to spectra by the table's index", "Gate-1 FAIL"]


def case_error_float64_overflows_float32(root, data):
    err, logg = _leak()
    err = err.astype(np.float64)
    err[5, 3] = 1e39
    p = _raw_h5(root / "big.h5", {WAVE_KEY: np.linspace(7100, 8850, 32), ERROR_KEY: err}, _labels(600, log_g=logg))
    return _with_train(root, data, p), [], 2, ["an error value of 1e+39", "exceeds float32"]


def case_error_float64_underflows_float32(root, data):
    err, logg = _leak()
    p = _raw_h5(root / "tiny.h5", {WAVE_KEY: np.linspace(7100, 8850, 32), ERROR_KEY: err.astype(np.float64) * 1e-40},
                _labels(600, log_g=logg))
    return _with_train(root, data, p), [], 2, ["below float32's smallest normal number"]


def case_noise_level_overflows_float32(root, data):
    return _spec(root, data, levels=(1.0, 1e200)), [], 2, ["times noise level 1e+200 exceeds float32"]


def case_noise_level_underflows_float32(root, data):
    return _spec(root, data, levels=(1e-200,)), [], 2, ["times noise level 1e-200 is below float32"]


def case_labels_too_large(root, data):
    err, logg = _leak()
    p = write_pfsspec(root / "huge_labels.h5", err, _labels(600, log_g=logg * 1e200))
    return _with_train(root, data, p), [], 2, ["the 'log_g' label varies by", "rescale or recenter the label"]


def case_labels_too_small(root, data):
    err, logg = _leak(200, seed=2)
    p = write_pfsspec(root / "tiny_labels.h5", err, _labels(200, log_g=logg * 1e-200))
    return _spec(root, dict(data, test=p)), [], 2, ["test split: the 'log_g' label varies by"]


def case_labels_offset_beyond_precision(root, data):
    err, logg = _leak()
    p = write_pfsspec(root / "offset_labels.h5", err, _labels(600, log_g=1e10 + logg * 1e-3))
    return _with_train(root, data, p), [], 2, ["the 'log_g' label varies by"]


def case_fewer_train_rows_than_pixels(root, data):
    """32 train rows for 32 pixels of leaking data: audited; the leak is found even so (a FAIL stands)."""
    spec = _spec(root, data)
    return _edit_spec(spec, "  param: log_g", "  param: log_g\n  num_samples: 32"), [], 0, ["Gate-1 FAIL"]


def case_fewer_train_rows_than_pixels_no_leak(root, data):
    """32 train rows for 32 pixels whose labels the error does not carry: the PASS it would give is refused."""
    err, _ = _leak(32, seed=5)
    p = write_pfsspec(root / "unrelated32.h5", err, _labels(32, seed=6))
    return _with_train(root, data, p), [], 2, ["train split: 32 rows for 32 pixels", "PASS would mean nothing",
                                               "at least 33 rows"]


def case_too_few_test_rows(root, data):
    spec = _spec(root, data)
    return (_edit_spec(spec, "  param: log_g", "  param: log_g\n  num_test_samples: 12"), [], 2,
            ["val split: 12 rows; an R2 on fewer than 30 held-out rows"])


def case_same_file_listed_twice(root, data):
    spec = _spec(root, data)
    return (_edit_spec(spec, f"train_path: {str(data['train'])!r}",
                       f"train_path: [{str(data['train'])!r}, {str(data['train'])!r}]"), [], 2,
            ["is listed twice", "count twice"])


def case_same_file_through_a_symlink(root, data):
    (root / "link.h5").symlink_to(data["train"])
    spec = _spec(root, data)
    return (_edit_spec(spec, f"train_path: {str(data['train'])!r}",
                       f"train_path: [{str(data['train'])!r}, {str(root / 'link.h5')!r}]"), [], 2, ["is listed twice"])


def case_mask_wrong_shape(root, data):
    err, logg = _leak()
    p = write_pfsspec(root / "mask.h5", err, _labels(600, log_g=logg))
    with h5py.File(p, "a") as f:
        f.create_dataset("dataset/arrays/mask/value", data=np.zeros((600, 16), np.uint8))
    return _with_train(root, data, p), [], 2, ["the mask array has shape (600, 16)", "error array is (600, 32)"]


def case_mask_in_one_shard_only(root, data):
    err, logg = _leak()
    a = write_pfsspec(root / "a.h5", err[:300], _labels(300, log_g=logg[:300]), mask=np.zeros((300, 32), np.uint8))
    b = write_pfsspec(root / "b.h5", err[300:], _labels(300, log_g=logg[300:]))
    spec = _spec(root, data)
    return (_edit_spec(spec, f"train_path: {str(data['train'])!r}", f"train_path: [{str(a)!r}, {str(b)!r}]"), [], 2,
            ["b.h5 lacks a mask array but", "a.h5 has one"])


def case_wave_2d(root, data):
    p = _raw_h5(root / "wave2d.h5", {WAVE_KEY: np.ones((2, 32)), ERROR_KEY: np.ones((10, 32), np.float32)},
                _labels(10))
    return _with_train(root, data, p), [], 2, ["spectrumdataset/wave has shape (2, 32)", "1-D array of wavelengths"]


def case_wave_scalar(root, data):
    p = _raw_h5(root / "wave0d.h5", {WAVE_KEY: np.float64(7000.0), ERROR_KEY: np.ones((10, 32), np.float32)},
                _labels(10))
    return _with_train(root, data, p), [], 2, ["spectrumdataset/wave has shape ()"]


def case_error_is_a_group(root, data):
    p = _raw_h5(root / "group.h5", {WAVE_KEY: np.linspace(7100, 8850, 32),
                                    ERROR_KEY + "/inner": np.ones((10, 32), np.float32)}, _labels(10))
    return _with_train(root, data, p), [], 2, ["dataset/arrays/error/value is a group, not an array"]


def case_error_is_an_external_link(root, data):
    err, logg = _leak()
    target = write_pfsspec(root / "target.h5", err, _labels(600, log_g=logg))
    p = _raw_h5(root / "linked.h5", {WAVE_KEY: np.linspace(7100, 8850, 32)}, _labels(600, log_g=logg))
    with h5py.File(p, "a") as f:
        f[ERROR_KEY] = h5py.ExternalLink(str(target), ERROR_KEY)
    return _with_train(root, data, p), [], 2, ["is an external link to", "give the file that holds the arrays"]


def case_mask_is_a_group(root, data):
    err, logg = _leak()
    p = write_pfsspec(root / "maskgroup.h5", err, _labels(600, log_g=logg))
    with h5py.File(p, "a") as f:
        f.create_group("dataset/arrays/mask/value")
    return _with_train(root, data, p), [], 2, ["dataset/arrays/mask/value is a group, not an array"]


def case_declared_1e8_rows(root, data):
    """A small file whose error array declares 1e8 rows (unwritten chunks): refused in a blink."""
    p = root / "declared.h5"
    pd.DataFrame(_labels(600)).to_hdf(p, key="params", format="table", mode="w")
    with h5py.File(p, "a") as f:
        f.create_dataset(WAVE_KEY, data=np.linspace(7100, 8850, 32))
        ds = f.create_dataset(ERROR_KEY, shape=(10**8, 32), chunks=(64, 32), dtype=np.float32)
        ds[:600] = _leak()[0]
    spec = _with_train(root, data, p)
    spec.write_text(spec.read_text().replace("  param: log_g", "  param: log_g\n  num_samples: 600"))
    return spec, [], 2, ["params table has 600 rows but 100000000 spectra are stored"]


def case_scheduler_not_an_address(root, data):
    return (_spec(root, data, scheduler="'foo:bar'"), [], 2,
            ["'compute.scheduler' must be local, threads, synchronous or a scheduler address"])


def case_scheduler_flag_not_an_address(root, data):
    return _spec(root, data), ["--scheduler", "tcp://nowhere"], 2, ["'--scheduler' must be local", "tcp://nowhere"]


def case_dashboard_not_an_address(root, data):
    spec = _spec(root, data, scheduler="local")
    return (_edit_spec(spec, "memory_limit: 2GB", "memory_limit: 2GB, dashboard_address: banana"), [], 2,
            ["'compute.dashboard_address': the port 'banana' is not a number"])


def case_lightgbm_only(root, data):
    spec = _spec(root, data, lightgbm=True)
    spec.write_text(spec.read_text().replace("  - type: LinearRegression\n", "")
                    .replace("  - type: Ridge\n    alpha: [0.001, 0.1, 10.0]\n", ""))
    return spec, [], 2, ["'models' has no LinearRegression or Ridge entry"]


def case_memory_limit_inf(root, data):
    return (_edit_spec(_spec(root, data), "memory_limit: 2GB", "memory_limit: .inf"), [], 2,
            ["'compute.memory_limit' must be a finite size"])


def case_memory_limit_half(root, data):
    return (_edit_spec(_spec(root, data), "memory_limit: 2GB", "memory_limit: 0.5"), [], 2,
            ["'compute.memory_limit' is 0.5, read as 0.5 bytes"])


def case_memory_limit_flag_half(root, data):
    return _spec(root, data), ["--memory-limit", "0.5"], 2, ["'--memory-limit' must be at least 256MB"]


def case_duplicate_yaml_keys(root, data):
    spec = _spec(root, data)
    spec.write_text(spec.read_text() + "seed: 7\n")
    return spec, [], 2, ["key 'seed' is given twice", "keep one"]


def case_yaml_alias_bomb(root, data):
    spec = _spec(root, data)
    levels = ["&a0 [x, x, x, x, x, x, x, x, x, x]"] + [
        f"&a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    spec.write_text(spec.read_text() + f"repo_path: [{', '.join(levels)}]\n")
    return spec, [], 2, ["aliases expand to more than 100,000 values"]


def case_spec_too_large(root, data):
    spec = _spec(root, data)
    spec.write_text(spec.read_text() + "# padding\n" * 200_000)
    return spec, [], 2, ["larger than 1024 KiB"]


def case_spec_is_a_fifo(root, data):
    os.mkfifo(root / "spec.fifo")
    return root / "spec.fifo", [], 2, ["spec.fifo is a FIFO (named pipe), not a regular file"]


def case_data_path_is_a_fifo(root, data):
    os.mkfifo(root / "data.fifo")
    return _with_train(root, data, root / "data.fifo"), [], 2, ["data.fifo is a FIFO (named pipe), not a regular file"]


def case_data_path_is_a_device(root, data):
    return _with_train(root, data, Path("/dev/zero")), [], 2, ["/dev/zero is a character device, not a regular file"]


def case_output_dir_with_user_results_files(root, data):
    mine = root / "mine"
    mine.mkdir()
    for name in ("metrics.csv", "summary.json", "run.log", "notes.md"):
        (mine / name).write_text(f"the user's own {name}\n")
    return _spec(root, data), ["--output-dir", str(mine)], 2, ["not empty and holds no daudit results",
                                                                "nothing was changed"]


def case_memory_limit_below_minimum(root, data):
    from daudit.pipeline.memory_plan import minimum_limit

    need = minimum_limit(32, chunk_rows=128, checks=False, lightgbm=False)  # what this spec needs
    return _spec(root, data), ["--memory-limit", "300MB"], 2, [  # above the 256MB floor, below the need
        "compute.memory_limit 0.29 GiB is below what an audit of 32 pixels needs",
        f"the smallest limit it can honour is {need / 2**30:.2f} GiB"]


CASES = {name[5:]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")}
PASSING = {"nan_labels_dropped", "all_nan_error_rows", "num_samples_beyond_file", "same_file_overlapping_rows",
           "params_explicit_index", "planted_leak_control", "fewer_train_rows_than_pixels"}
# Inputs that once gave "Gate-1 PASS" on leaking data (issue 16); every case's data has a planted leak.
FALSE_PASS = {"zero_noise_level_only", "params_more_rows", "params_fewer_rows", "error_float64_overflows_float32",
              "error_float64_underflows_float32", "noise_level_overflows_float32", "noise_level_underflows_float32",
              "labels_too_large", "labels_too_small", "labels_offset_beyond_precision", "same_file_listed_twice",
              "mask_wrong_shape", "params_explicit_index", "fewer_train_rows_than_pixels", "too_few_test_rows"}


# Further members of a class that already has a case run in a subprocess go through the same
# entry point in this process (`daudit.app.cli.main`), sparing a fresh interpreter's imports.
IN_PROCESS = {"params_explicit_index", "error_float64_underflows_float32", "noise_level_underflows_float32",
              "labels_too_small", "labels_offset_beyond_precision", "same_file_through_a_symlink",
              "mask_in_one_shard_only", "wave_scalar", "mask_is_a_group", "too_few_test_rows",
              "error_is_an_external_link", "data_path_is_a_device", "planted_leak_control",
              "inf_labels", "missing_wave_key", "truncated_hdf5", "glob_matches_nothing", "all_labels_nan"}


def _run_case(args):
    name, spec, extra, root = args
    cmd = [sys.executable, "-m", "daudit", "run", "--config", str(spec), *extra]
    return name, subprocess.run(cmd, capture_output=True, text=True, cwd=root, timeout=300)


def _run_in_process(args):
    import contextlib
    import io
    import signal

    from daudit.app.cli import main as cli_main

    name, spec, extra, root = args
    out, err, cwd, term = io.StringIO(), io.StringIO(), os.getcwd(), signal.getsignal(signal.SIGTERM)
    try:
        os.chdir(root)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = cli_main(["run", "--config", str(spec), *extra])
    finally:
        os.chdir(cwd)
        signal.signal(signal.SIGTERM, term)  # the CLI's handler is for its own process
    return name, subprocess.CompletedProcess(["daudit", "run"], rc, out.getvalue(), err.getvalue())


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
        done = dict(pool.map(_run_case, [j for j in jobs if j[0] not in IN_PROCESS]))
    done.update(_run_in_process(j) for j in jobs if j[0] in IN_PROCESS)
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


@pytest.mark.parametrize("name", sorted(FALSE_PASS))
def test_false_pass_classes_never_pass_on_a_planted_leak(name, outcomes):
    proc, rc, _, root = outcomes[name]
    assert "Gate-1 PASS" not in proc.stdout + proc.stderr
    summary = root / "out" / "summary.json"
    if rc == 0:
        assert json.loads(summary.read_text())["gate"]["verdict"] == "FAIL"
    else:
        assert not summary.exists()


def test_debug_shows_the_traceback(tmp_path):
    spec = write_spec(tmp_path / "spec.yaml", {k: tmp_path / "missing.h5" for k in ("train", "val", "test")},
                      output_dir=tmp_path / "out")
    proc = subprocess.run([sys.executable, "-m", "daudit", "run", "--debug", "--config", str(spec)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "DauditError" in proc.stderr


def test_dropped_rows_counted_and_numbers_match_clean_files(outcomes, tmp_path):
    """Dropping bad-label and all-NaN-error rows equals auditing files without those rows."""
    from daudit.core.spec import load_spec
    from daudit.pipeline.run import run_audit

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

    from daudit.core.spec import load_spec
    from daudit.pipeline.run import run_audit

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
