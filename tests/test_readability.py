"""Issue 28: every figure readable at 3k and at 20k rows, measured (not only rendered).

`daudit.output.readability.measure` is checked first on figures whose answer is known by
construction (a curve over a tenth of its axis, two labels drawn on one spot, markers on one
point, rotated tick labels side by side); then the four figures of a report, drawn from the real
inputs of a 3,000-row and a 20,000-row sample (`figure_samples`), must meet the thresholds below.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from figure_samples import sample_inputs  # noqa: E402

from daudit.output import figures, readability, sanity_figure, spectrum_figure  # noqa: E402

MIN_Y_FRACTION = 0.30  # the data span at least 30 % of each y axis
MAX_STACKED = 0.0  # no marker drawn on top of another of its set
SIZES = (3000, 20000)


# ---------------------------------------------------------------- the measure itself
def test_fraction_of_the_axis_the_data_use():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="data")
    ax.axhline(9.0)  # a reference line across the axes is not data
    ax.set_ylim(0, 10)
    ax.set_xlim(0, 1)
    (use,) = readability.measure(fig).axes
    assert use.y_fraction == pytest.approx(0.1, abs=0.005)
    assert use.x_fraction == pytest.approx(1.0, abs=0.005)
    assert use.series == {"data": pytest.approx(0.1, abs=0.005)}
    plt.close(fig)


def test_a_curve_marked_as_reference_is_not_data():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="importance")
    ax.plot([0, 1], [0, 8], gid=readability.REFERENCE_GID)
    ax.set_ylim(0, 10)
    (use,) = readability.measure(fig).axes
    assert use.y_fraction == pytest.approx(0.1, abs=0.005)
    plt.close(fig)


def test_log_axes_are_measured_as_drawn():
    fig, ax = plt.subplots()
    ax.plot([1, 2], [1, 10])
    ax.set_yscale("log")
    ax.set_ylim(1, 100)
    (use,) = readability.measure(fig).axes
    assert use.y_fraction == pytest.approx(0.5, abs=0.005)  # one decade of two
    plt.close(fig)


def test_overlapping_labels_are_found_and_separate_ones_are_not():
    fig, ax = plt.subplots()
    ax.text(0.5, 0.5, "first label", transform=ax.transAxes)
    ax.text(0.52, 0.5, "second label", transform=ax.transAxes)
    ax.text(0.1, 0.1, "far away", transform=ax.transAxes)
    pairs = readability.measure(fig).overlaps
    assert len(pairs) == 1 and "first label" in pairs[0][0] and "second label" in pairs[0][1]
    plt.close(fig)


def test_rotated_tick_labels_side_by_side_do_not_count_but_crowded_ones_do():
    names = ["Ridge_0.001", "Ridge_0.01", "OLS_x100000"]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.set_xticks(range(3))
    ax.set_xticklabels(names, rotation=40, ha="right")  # their bounding boxes overlap; the labels do not
    assert readability.measure(fig).overlaps == []
    ax.set_xticks([0, 0.05, 0.1])
    ax.set_xticklabels(names, rotation=40, ha="right")
    assert len(readability.measure(fig).overlaps) >= 2
    plt.close(fig)


def test_stacked_markers_are_counted():
    fig, ax = plt.subplots()
    ax.scatter(np.full(10, 0.5), np.full(10, 0.5), s=60)
    ax.scatter([0.1, 0.9], [0.1, 0.9], s=60)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    (use,) = readability.measure(fig).axes
    assert (use.n_markers, use.stacked_markers) == (12, 10)
    plt.close(fig)


def test_legible_subset_keeps_the_tallest_and_spaces_the_rest():
    x = np.array([0.0, 0.1, 0.2, 5.0, 5.05, 9.0])
    h = np.array([1.0, 3.0, 2.0, 1.0, 0.5, 0.1])
    kept = spectrum_figure.legible_subset(x, h, 1.0)
    assert kept.tolist() == [1, 3, 5]


# ---------------------------------------------------------------- the report's figures
def _figures(n_rows):
    s = sample_inputs(n_rows)
    return {
        "fig 1 (R² per model)": figures.r2_models_figure(s["metrics"]),
        "fig 2 (importance spectrum)": spectrum_figure.importance_spectrum_figure(
            s["wave"], s["importance"], s["mean_error"], s["top_idx"], label=s["label"], threshold=s["threshold"]),
        "fig 2 (importance distribution)": figures.importance_hist_figure(s["importance"], top_k=40, label=s["label"]),
        "fig 3 (sanity checks)": sanity_figure.sanity_checks_figure(s["sanity"]),
    }


@pytest.fixture(scope="module", params=SIZES, ids=[f"{n}_rows" for n in SIZES])
def measured(request):
    out = {}
    for name, fig in _figures(request.param).items():
        out[name] = readability.measure(fig)
        plt.close(fig)
    return request.param, out


def test_the_3k_sample_is_the_hard_case():
    """At 3k rows the per-pixel null lies above every pixel: the case that once stretched Fig 2's axis."""
    s = sample_inputs(3000)
    assert np.median(s["threshold"]) > s["importance"].max()


def test_data_use_most_of_each_axis(measured):
    n, out = measured
    for name, r in out.items():
        for use in r.axes:
            if use.y_fraction is None or "degenerate" in use.label:  # L = 0: no information, drawn as such
                continue
            assert use.y_fraction >= MIN_Y_FRACTION, (n, name, use)


def test_importance_curve_is_not_squashed_by_its_null(measured):
    n, out = measured
    (imp,) = [u for u in out["fig 2 (importance spectrum)"].axes if "pixel importance" in u.series]
    assert imp.series["pixel importance"] >= MIN_Y_FRACTION, (n, imp)


def test_no_labels_overlap(measured):
    n, out = measured
    for name, r in out.items():
        assert r.overlaps == [], (n, name, r.overlaps)


def test_no_markers_stacked(measured):
    n, out = measured
    for name, r in out.items():
        for use in r.axes:
            assert use.stacked_markers <= MAX_STACKED * max(use.n_markers, 1), (n, name, use)


def test_the_permutation_null_is_not_a_sliver(measured):
    """Fig 3's null histogram keeps 30 % of its x axis; an observed R² far out is written at the edge."""
    n, out = measured
    (null,) = [u for u in out["fig 3 (sanity checks)"].axes if u.label.startswith("Label-permutation null")]
    assert null.x_fraction >= MIN_Y_FRACTION, (n, null)
