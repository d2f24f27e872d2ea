"""The wavelength-feature catalogue: what it holds, how pixels map to it, and the demo simulator's agreement."""

import numpy as np
import pytest

from daudit.data.catalogue import CATALOGUE, KINDS, by_key, composition, feature_labels, feature_pixels, pixel_features
from daudit.simulate import lines as sim


def test_entries_are_well_formed_and_unique():
    keys = [f.key for f in CATALOGUE]
    assert len(keys) == len(set(keys))
    for f in CATALOGUE:
        assert f.kind in KINDS and f.lo < f.hi
        assert f.centre is None or f.lo <= f.centre <= f.hi
    assert {f.kind for f in CATALOGUE} == set(KINDS)
    # every label is an identifier for the report's number checker
    assert all(f.name in feature_labels() and f.name_zh in feature_labels() for f in CATALOGUE)


def test_the_simulator_models_a_subset_of_the_catalogue():
    """The demo simulator's lines and bands are catalogue entries (the catalogue describes the sky)."""
    stellar = {f.centre for f in CATALOGUE if f.kind == "stellar"}
    for centres in (sim.CAT_LINES, sim.NAI_LINES, sim.KI_LINES, sim.MGI_LINE):
        for c in centres:
            assert min(abs(c - s) for s in stellar) < 0.01, c
    a = by_key("o2_a")
    assert (a.lo, a.hi) == sim.O2_BAND
    water = by_key("h2o_8200")  # the simulator's one water band lies on the real 8200 Å band
    overlap = min(water.hi, sim.H2O_BAND[1]) - max(water.lo, sim.H2O_BAND[0])
    assert overlap >= 0.75 * (sim.H2O_BAND[1] - sim.H2O_BAND[0])
    # K I sits inside the telluric A band, as in real spectra (the report must say both)
    names = {f.key for f in pixel_features(7664.9)}
    assert {"ki_7665", "o2_a"} <= names


@pytest.mark.parametrize("p", [256, 4096])
def test_every_feature_on_the_grid_owns_the_pixels_it_covers(p):
    wave = np.linspace(sim.WAVE_MIN, sim.WAVE_MAX, p)
    pix = feature_pixels(wave)
    step = wave[1] - wave[0]
    for f in CATALOGUE:
        inside = f.hi >= wave[0] - step / 2 and f.lo <= wave[-1] + step / 2
        assert (f.key in pix) == inside, f.key
        if inside:
            # direct: pixel bins [w - step/2, w + step/2] that overlap [lo, hi]
            expect = (wave + step / 2 >= f.lo) & (wave - step / 2 <= f.hi)
            np.testing.assert_array_equal(pix[f.key], expect)
            assert pix[f.key].sum() >= 1  # a line narrower than a pixel still owns its pixel
    assert "o2_b" not in pix and "h2o_9300" not in pix  # outside the medium-resolution arm


def test_composition_counts_against_a_direct_count():
    wave = np.linspace(sim.WAVE_MIN, sim.WAVE_MAX, 1024)
    rng = np.random.default_rng(0)
    chosen = rng.choice(1024, 40, replace=False)
    comp = composition(chosen, wave)
    pix = feature_pixels(wave)
    anywhere = np.zeros(1024, bool)
    for kind in KINDS:
        union = np.zeros(1024, bool)
        for key, m in pix.items():
            if by_key(key).kind == kind:
                union |= m
        anywhere |= union
        assert comp["kinds"][kind]["count"] == int(union[chosen].sum())
        assert comp["kinds"][kind]["expected"] == pytest.approx(40 * union.mean())
    assert comp["kinds"]["none"]["count"] == int((~anywhere[chosen]).sum())
    band = np.flatnonzero(pix["o2_a"])[:10]
    assert composition(band, wave)["kinds"]["telluric"]["features"]["o2_a"] == 10
