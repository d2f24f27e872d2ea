"""`daudit.data.inspect`: demo files, real-like files without a mask or params, and bad input."""

import h5py
import numpy as np
import pytest

from daudit.core.errors import DauditError
from daudit.data.inspect import format_inspection, inspect_file
from daudit.data.layout import ERROR_KEY, FLUX_KEY, WAVE_KEY
from daudit.simulate import simulate_dataset


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return simulate_dataset(out, n_train=600, n_val=10, n_test=10, progress=False)["train"][0]


def test_demo_file(demo_file):
    info = inspect_file(demo_file, chunk_rows=100)
    assert info["n_rows"] == 600 and info["n_pix"] == 4096 and info["rows_scanned"] == 600
    assert info["has_mask"] and info["counts"]["mask_nonzero"] > 0
    with h5py.File(demo_file) as f:
        err = f[ERROR_KEY][()]
    assert info["counts"]["error_nan"] == np.isnan(err).sum()
    assert info["params_missing"] == []
    # S/N streamed from the arrays agrees with the stored column (NaNs are < 1e-3 of pixels)
    for p in (5, 50, 95):
        assert info["snr_percentiles"][p] == pytest.approx(info["params_snr_percentiles"][p],
                                                           rel=1e-3)
    text = format_inspection(info)
    assert "pandas table" in text and "7100.00 - 8850.00 A" in text and "mask nonzero" in text


def test_max_rows(demo_file):
    info = inspect_file(demo_file, max_rows=100)
    assert info["rows_scanned"] == 100 and "first 100 of" in format_inspection(info)


def test_real_like_file_without_mask_or_params(tmp_path):
    path = tmp_path / "real.h5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f[WAVE_KEY] = np.linspace(7100, 8850, 64)
        f.create_dataset(FLUX_KEY, data=rng.uniform(0.5, 1.5, (30, 64)).astype("f4"),
                         chunks=(8, 64))
        err = np.full((30, 64), 0.1, dtype="f4")
        err[3, 5] = np.nan
        f.create_dataset(ERROR_KEY, data=err, chunks=(8, 64))
    info = inspect_file(path)
    assert not info["has_mask"] and info["counts"]["error_nan"] == 1
    assert info["params_columns"] is None and info["params_error"]
    text = format_inspection(info)
    assert "mask: absent" in text and "params: unreadable" in text


@pytest.mark.parametrize("kind", ["missing", "directory", "text", "no_flux"])
def test_bad_input_is_one_line_error(tmp_path, kind):
    path = tmp_path / "x.h5"
    if kind == "directory":
        path = tmp_path
    elif kind == "text":
        path.write_text("not hdf5\n")
    elif kind == "no_flux":
        with h5py.File(path, "w") as f:
            f[WAVE_KEY] = np.arange(4.0)
    with pytest.raises(DauditError) as exc:
        inspect_file(path)
    assert "\n" not in str(exc.value) and str(path) in str(exc.value)
