"""Figures: each PNG is written atomically, valid, of a readable size."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")

from fake_results import make_fake_importance, make_fake_metrics_frame  # noqa: E402

from daudit.output import figures  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(path):
    """(width, height) from the IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, "not a PNG file"
    assert data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _check_png(path, tmp_path):
    assert path.exists() and path.stat().st_size > 10_000
    width, height = _png_size(path)
    assert 1000 <= width <= 2500 and 400 <= height <= 1200, (width, height)
    assert width > height  # landscape, as in a report
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p != path and ".tmp" in p.name]
    assert leftovers == []


@pytest.mark.parametrize("verdict, ols", [("PASS", None), ("FAIL", -0.31)])
def test_plot_r2_models(tmp_path, verdict, ols):
    metrics = make_fake_metrics_frame(verdict=verdict, ols_test_r2=ols)
    out = figures.plot_r2_models(metrics, tmp_path / "img" / "r2.png", threshold=0.05)
    assert out == tmp_path / "img" / "r2.png"
    _check_png(out, tmp_path)


def test_plot_r2_models_reads_csv_booleans(tmp_path):
    """metrics.csv read back by pandas: alpha empty, degenerate as text."""
    csv = tmp_path / "metrics.csv"
    make_fake_metrics_frame().to_csv(csv, index=False)
    metrics = pd.read_csv(csv, dtype={"degenerate": str})
    _check_png(figures.plot_r2_models(metrics, tmp_path / "r2.png"), tmp_path)


def test_plot_r2_models_missing_column(tmp_path):
    with pytest.raises(ValueError, match="test_r2"):
        figures.plot_r2_models(make_fake_metrics_frame().drop(columns="test_r2"), tmp_path / "x.png")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("column", ["LightGBM_gain", "Ridge_1_abs_coef_x_std"])
def test_plot_importance_spectrum(tmp_path, column):
    wave, mean_error, importance = make_fake_importance(verdict="FAIL")
    imp = importance[column]
    top = np.argsort(imp)[::-1][:40]
    out = figures.plot_importance_spectrum(wave, imp, mean_error, top, tmp_path / "spec.png",
                                           label=column)
    _check_png(out, tmp_path)


def test_plot_importance_spectrum_shape_mismatch(tmp_path):
    wave, mean_error, importance = make_fake_importance()
    with pytest.raises(ValueError, match="1-D of one length"):
        figures.plot_importance_spectrum(wave, importance["LightGBM_gain"][:-1], mean_error, [0],
                                         tmp_path / "spec.png", label="gain")


def test_line_groups_merge_close_lines_and_skip_outside():
    groups = figures._line_groups(figures.DEFAULT_LINES, 8000.0, 8700.0, 26.0)
    texts = [text for _, _, text in groups]
    assert texts == ["Na I 8183.3, 8194.8", "Ca II 8498.0", "Ca II 8542.1", "Ca II 8662.1"]


@pytest.mark.parametrize("share", [None, 0.2345])
def test_plot_importance_hist(tmp_path, share):
    _, _, importance = make_fake_importance()
    imp = importance["LightGBM_gain"].copy()
    imp[:3] = 1e-300  # tiny values are pooled, zeros are counted, neither breaks the log axis
    out = figures.plot_importance_hist(imp, tmp_path / "hist.png", top_k=40, label="gain",
                                       top_k_share=share)
    _check_png(out, tmp_path)


def test_overwrite_is_atomic_replace(tmp_path):
    path = tmp_path / "r2.png"
    path.write_bytes(b"old")
    figures.plot_r2_models(make_fake_metrics_frame(), path)
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r2.png"]
