"""Figures: each PNG is written atomically, valid, of a readable size."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")

from fake_results import make_fake_importance, make_fake_metrics_frame  # noqa: E402

from daudit.output import figures, spectrum_figure  # noqa: E402

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
    groups = spectrum_figure.line_groups(figures.DEFAULT_LINES, 8000.0, 8700.0, 26.0)
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


# ---------------------------------------------------------------- issue 15: text, clipping, legends, the catalogue
def _keep_figure(monkeypatch, module):
    """Make `module.save_figure` keep the figure (and still write it) so that a test can inspect it."""
    kept = {}
    real = module.save_figure

    def save(fig, path):
        kept["fig"] = fig
        fig.canvas.draw()
        kept["renderer"] = fig.canvas.get_renderer()
        kept["texts"] = [t.get_text() for t in fig.findobj(lambda o: hasattr(o, "get_text"))]
        kept["legend_boxes"] = [(ax, ax.get_legend().get_window_extent(kept["renderer"]))
                                for ax in fig.axes if ax.get_legend() is not None]
        return real(fig, path)

    monkeypatch.setattr(module, "save_figure", save)
    return kept


def test_clip_label_never_prints_an_absurd_number():
    assert figures.clip_label(-0.3149) == "-0.31"
    assert figures.clip_label(-1855767.77) == "< -100"


def _sanity(ols_r2):
    rng = np.random.default_rng(0)
    rec = lambda v: {"test_r2": v, "test_ci95": [v - 0.02, v + 0.02], "model": "Ridge_1"}  # noqa: E731
    null = rng.normal(0, 0.01, 200).tolist()
    return {"threshold": 0.05, "reference_noise_level": 1.0,
            "original": {"OLS": rec(ols_r2), "best_ridge": rec(0.31), "LightGBM": rec(0.35)},
            "wavelength_shuffle": {"refit": {"OLS": rec(0.01), "best_ridge": rec(0.02)},
                                   "unrefitted": {"OLS": rec(-3.0e6), "best_ridge": rec(-40.0)}},
            "permutation": {"linear": {"figure_model": "L=1 Ridge_1", "figure_null": null, "n_permutations": 200,
                                       "models": {"L=1 Ridge_1": {"observed_test_r2": 0.31, "p_value": 1 / 201}}},
                            "lightgbm": {"null": rng.normal(0, 0.02, 20).tolist(), "observed_test_r2": 0.33,
                                         "p_value": 1 / 21, "min_p_value": 1 / 21, "n_train_rows": 3000}}}


def test_sanity_figure_text_clipping_and_legends(tmp_path, monkeypatch):
    from daudit.output import sanity_figure

    kept = _keep_figure(monkeypatch, sanity_figure)
    sanity_figure.plot_sanity_checks(_sanity(-1855767.77), tmp_path / "sanity.png")
    texts = " | ".join(kept["texts"])
    assert "R2" not in texts and "R²" in texts  # one spelling, as in the other figures
    assert "1855767" not in texts and "3000000" not in texts and "< -100" in texts
    left, right = kept["fig"].axes[:2]
    assert any(p.get_hatch() == "///" for p in left.patches)  # clipped bars are hatched
    assert "p ≤ 0.0476" in texts  # LightGBM's p at its resolution is a bound
    box = dict((id(ax), b) for ax, b in kept["legend_boxes"])[id(right)]
    axes_box = right.get_window_extent(kept["renderer"])
    assert box.y1 <= axes_box.y0  # the permutation legend sits below the histogram, never over it
    assert "test R²" in right.get_xlabel()  # the same split as the bars on the left


def test_importance_spectrum_shades_the_catalogue_and_draws_the_null(tmp_path):
    wave, mean_error, importance = make_fake_importance(verdict="FAIL")
    imp = importance["Ridge_1_abs_coef_x_std"]
    fig = spectrum_figure.importance_spectrum_figure(wave, imp, mean_error, np.argsort(-imp)[:40], label="Ridge_1",
                                                     threshold=np.full_like(imp, np.quantile(imp, 0.99)))
    fig.canvas.draw()
    texts = [t.get_text() for t in fig.findobj(lambda o: hasattr(o, "get_text"))]
    for label in ("telluric absorption", "night-sky emission (OH, O2)", "stellar lines",
                  "below the permutation null (family-wise 95%)", "above the null"):
        assert any(t.startswith(label) for t in texts), label


def test_sanity_figure_original_bars_carry_the_per_model_interval():
    """Issue 28: one interval per model. The original models' error bars are the gate bootstrap's
    per-model intervals (the ones §6.2's bootstrap table prints), not the checks' own resamples."""
    from matplotlib.collections import LineCollection

    from daudit.output import sanity_figure

    san = _sanity(0.30)
    for key in ("OLS", "LightGBM"):
        san["original"][key]["model"] = key
    san["bootstrap"] = {"test_r2_ci95": {"L=1 OLS": {"test_r2": 0.30, "ci95": [0.21, 0.37]},
                                         "L=1 Ridge_1": {"test_r2": 0.31, "ci95": [0.25, 0.36]}}}
    fig = sanity_figure.sanity_checks_figure(san)
    left = fig.axes[0]
    spans = sorted((round(min(s[:, 1]), 4), round(max(s[:, 1]), 4))
                   for c in left.collections if isinstance(c, LineCollection) for s in c.get_segments())
    assert (0.21, 0.37) in spans and (0.25, 0.36) in spans  # OLS and the val-selected Ridge: per-model
    assert (0.28, 0.32) not in spans and (0.29, 0.33) not in spans  # not the checks' intervals of them
    assert (0.33, 0.37) in spans  # LightGBM has no per-model row here: its one interval stays


def test_spectrum_counts_the_groups_above_the_null_as_the_report_does():
    """Issue 28: Fig 2 says "N pixels in M groups" with the report's groups (gaps allowed inside a
    group), one circle per group at its tallest pixel; without groups, runs of adjacent pixels."""
    wave = np.linspace(7100.0, 8850.0, 400)
    imp = np.full(400, 1.0)
    imp[[50, 51, 53, 300]] = [5.0, 6.0, 4.0, 7.0]  # 50-53 (a gap at 52) and 300 above a flat null of 2
    thr = np.full(400, 2.0)
    err = np.full(400, 0.02)

    def above_label(groups):
        fig = spectrum_figure.importance_spectrum_figure(wave, imp, err, np.array([300]), label="x", threshold=thr,
                                                         groups=groups)
        (circles,) = [c for c in fig.axes[0].collections if c.get_label().startswith("above the null")]
        return circles.get_label(), sorted(np.round(circles.get_offsets()[:, 1], 3))

    label, heights = above_label([(50, 53), (300, 300)])
    assert label.startswith("above the null: 4 pixels in 2 groups") and heights == [6.0, 7.0]
    label, heights = above_label(None)
    assert label.startswith("above the null: 4 pixels in 3 runs") and heights == [6.0, 7.0]  # 53 hides under 51
