"""The demo generator: layout, determinism, the SNR calibration and the physical leak.

scikit-learn is the oracle: a standardised RidgeCV must read log_g from the noiseless flux, and
from the raw error only when the star's own photon noise is in the variance.
"""

import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest

from daudit.core.errors import DauditError
from daudit.data.layout import ERROR_KEY, FLUX_KEY, MASK_KEY, PARAM_COLUMNS, WAVE_KEY
from daudit.simulate import demo_is_complete, demo_paths, simulate_dataset

SIZES = dict(n_train=5000, n_val=1000, n_test=1000)
REAL_SNR = {5: 3.7, 50: 8.2, 95: 17.2}  # real PFS test set


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, simulate_dataset(out, **SIZES, seed=42, progress=False)


@pytest.fixture(scope="module")
def demo_no_object(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_noobj")
    return out, simulate_dataset(out, **SIZES, seed=42, object_noise=False, progress=False)


def _load(path, key):
    with h5py.File(path, "r") as f:
        return f[key][()]


def _features(path, key, *, bin_pixels=4):
    """Raw flux or error, NaN -> 0, averaged over 4-pixel bins (1.7 A, about one resolution
    element: the LSF FWHM is 3.7 pixels), so each Ridge fit takes ~1 s instead of ~1 min."""
    x = np.nan_to_num(_load(path, key).astype(np.float64), nan=0.0)
    return x.reshape(len(x), -1, bin_pixels).mean(axis=2)


def _ridge_test_r2(paths, key):
    """Standardise, fit sklearn Ridge on train for a grid of alphas, pick alpha on val,
    return the test R2 of log_g."""
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score
    from sklearn.preprocessing import StandardScaler

    x = {s: _features(paths[s][0], key) for s in ("train", "val", "test")}
    y = {s: pd.read_hdf(paths[s][0])["log_g"].to_numpy() for s in x}
    scaler = StandardScaler().fit(x["train"])
    x = {s: scaler.transform(v) for s, v in x.items()}
    best = None
    for alpha in np.logspace(-3, 4, 8):
        model = Ridge(alpha=alpha, solver="cholesky").fit(x["train"], y["train"])
        val = r2_score(y["val"], model.predict(x["val"]))
        if best is None or val > best[0]:
            best = (val, r2_score(y["test"], model.predict(x["test"])))
    print(f"{key}: val R2 {best[0]:.3f}, test R2 {best[1]:.3f}")
    return best[1]


def test_layout(demo):
    out, paths = demo
    assert paths == demo_paths(out)
    assert demo_is_complete(out)
    for split, n in (("train", 5000), ("val", 1000), ("test", 1000)):
        (path,) = paths[split]
        assert path == out / split / "dataset.h5"
        df = pd.read_hdf(path)  # no key: the only pandas object in the file
        assert list(df.columns) == list(PARAM_COLUMNS)
        assert len(df) == n
        with h5py.File(path, "r") as f:
            wave = f[WAVE_KEY][()]
            assert wave.dtype == np.float64 and wave.shape == (4096,)
            assert wave[0] == pytest.approx(7100.0) and wave[-1] == pytest.approx(8850.0)
            for key, dtype in ((FLUX_KEY, np.float32), (ERROR_KEY, np.float32),
                               (MASK_KEY, np.uint8)):
                d = f[key]
                assert d.shape == (n, 4096) and d.dtype == dtype
                assert d.chunks[1] == 4096 and d.compression is None
            assert f.attrs["seed"] == 42 and f.attrs["split"] == split
            assert f.attrs["generator_version"]
    test = pd.read_hdf(paths["test"][0])
    assert test["T_eff"].between(3750, 6000).all() and test["log_g"].between(1, 5).all()
    assert test["M_H"].between(-2.5, 0.75).all() and test["mag"].between(20.5, 22.5).all()
    assert (test["exp_count"] == 12).all() and (test["exp_time"] == 900).all()


def test_defects_rates(demo):
    (path,) = demo[1]["train"]
    err = _load(path, ERROR_KEY)
    mask = _load(path, MASK_KEY)
    flux = _load(path, FLUX_KEY)
    assert np.isnan(err).mean() == pytest.approx(1e-4, rel=0.3)
    assert np.isfinite(flux).all() and (err[np.isfinite(err)] > 0).all()
    always = mask.all(axis=0)  # bad columns and bright sky-line cores
    assert 5 <= always.sum() < 0.1 * mask.shape[1]
    cosmic = mask[:, ~always].mean() * (~always).mean()
    assert cosmic == pytest.approx(1e-3, rel=0.3)
    # median normalisation
    assert np.median(flux, axis=1) == pytest.approx(1.0, abs=1e-5)


def test_snr_matches_real_test_set(demo):
    snr = pd.read_hdf(demo[1]["test"][0])["snr"].to_numpy()
    for p, real in REAL_SNR.items():
        assert np.percentile(snr, p) == pytest.approx(real, rel=0.2), p


def test_flux_predicts_log_g(demo):
    assert _ridge_test_r2(demo[1], FLUX_KEY) > 0.9


def test_error_leaks_log_g(demo):
    assert _ridge_test_r2(demo[1], ERROR_KEY) > 0.3


def test_no_object_noise_removes_leak(demo_no_object):
    assert _ridge_test_r2(demo_no_object[1], ERROR_KEY) < 0.05


def test_splits_are_different_draws(demo):
    paths = demo[1]
    heads = [pd.read_hdf(paths[s][0])["T_eff"].to_numpy()[:100] for s in ("train", "val", "test")]
    assert not np.allclose(heads[0], heads[1]) and not np.allclose(heads[1], heads[2])


def _arrays(paths, split):
    return [np.concatenate([_load(p, k) for p in paths[split]]) for k in (FLUX_KEY, ERROR_KEY,
                                                                           MASK_KEY)]


def test_determinism_and_sharding(tmp_path):
    small = dict(n_train=700, n_val=60, n_test=60, progress=False)
    a = simulate_dataset(tmp_path / "a", **small, seed=7)
    b = simulate_dataset(tmp_path / "b", **small, seed=7, n_shards=3, chunk_rows=100)
    c = simulate_dataset(tmp_path / "c", **small, seed=8)
    assert [p.name for p in b["train"]] == ["dataset_000.h5", "dataset_001.h5", "dataset_002.h5"]
    assert (tmp_path / "b" / "train" / "shard_index.txt").is_file()
    assert demo_paths(tmp_path / "b") == b and demo_is_complete(tmp_path / "b")
    for split in ("train", "test"):
        for x, y in zip(_arrays(a, split), _arrays(b, split)):
            assert np.array_equal(x, y, equal_nan=True)  # same seed: identical, any chunking
        assert not np.array_equal(_arrays(a, split)[0], _arrays(c, split)[0])
    pd.testing.assert_frame_equal(
        pd.read_hdf(a["train"][0]),
        pd.concat([pd.read_hdf(p) for p in b["train"]], ignore_index=True))
    # back to one file: the stale shard index and shards are removed
    simulate_dataset(tmp_path / "b", **small, seed=7, force=True)
    assert demo_paths(tmp_path / "b")["train"] == [tmp_path / "b" / "train" / "dataset.h5"]
    assert sorted(p.name for p in (tmp_path / "b" / "train").iterdir()) == ["dataset.h5"]


def test_incomplete_is_detected(tmp_path):
    paths = simulate_dataset(tmp_path, n_train=50, n_val=20, n_test=20, progress=False)
    assert demo_is_complete(tmp_path)
    (path,) = paths["val"]
    path.rename(path.with_name("dataset.h5.partial"))  # as if killed before the rename
    assert not demo_is_complete(tmp_path)
    assert not demo_is_complete(tmp_path / "nowhere")
    path.with_name("dataset.h5.partial").rename(path)
    assert demo_is_complete(tmp_path)
    with h5py.File(paths["test"][0], "r+") as f:
        f.attrs["generator_version"] = "0.0"  # written by an older generator
    assert not demo_is_complete(tmp_path)


def test_bad_sizes_raise(tmp_path):
    with pytest.raises(DauditError, match="shards"):
        simulate_dataset(tmp_path, n_train=2, n_val=1, n_test=1, n_shards=3, progress=False)
    with pytest.raises(DauditError, match="n_val"):
        simulate_dataset(tmp_path, n_train=2, n_val=0, n_test=1, progress=False)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "daudit", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_cli_simulate_and_inspect(tmp_path):
    out = tmp_path / "D"
    r = _cli("simulate", "--train", 300, "--val", 50, "--test", 50, "--out", out, "--seed", 3)
    assert r.returncode == 0, r.stderr
    assert demo_is_complete(out)
    assert len(pd.read_hdf(out / "val" / "dataset.h5")) == 50
    r = _cli("inspect", out / "train" / "dataset.h5", out / "test" / "dataset.h5")
    assert r.returncode == 0, r.stderr
    assert FLUX_KEY in r.stdout and "7100.00 - 8850.00" in r.stdout and "T_eff" in r.stdout


def test_cli_bad_input_exits_2(tmp_path):
    r = _cli("inspect", tmp_path / "missing.h5")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "missing.h5" in r.stderr
    r = _cli("simulate", "--train", 2, "--shards", 5, "--out", tmp_path)
    assert r.returncode == 2 and "shards" in r.stderr
