"""Permutation nulls of the importance statistics (pure numpy): shares, regions, pixels, overlaps."""

import numpy as np
import pytest

from daudit.checks.importance_null import (
    familywise_t,
    overlap_null,
    pixel_excess,
    region_excess,
    share_null,
)
from daudit.data.catalogue import by_key, feature_pixels
from daudit.models.importance import top_k_share, top_k_shares

P, K = 512, 200
WAVE = np.linspace(7100.0, 8850.0, P)


def _noise(rng, shape):
    """Importance-like draws under the null: |normal| with a per-pixel scale (as |coef| * std is)."""
    scale = np.linspace(0.5, 1.5, shape[0])[:, None] if len(shape) == 2 else np.linspace(0.5, 1.5, shape[0])
    return np.abs(rng.normal(size=shape)) * scale


def test_top_k_shares_equal_the_sorted_sum_per_column():
    imp = _noise(np.random.default_rng(0), (P, 7)) * np.where(np.arange(7) % 2, 1.0, -1.0)  # signs do not count
    oracle = [np.sort(np.abs(imp[:, j]))[::-1][:40].sum() / np.abs(imp[:, j]).sum() for j in range(7)]
    np.testing.assert_allclose(top_k_shares(imp, 40), oracle, rtol=1e-12)
    assert [top_k_share(imp[:, j], 40) for j in range(7)] == pytest.approx(oracle, rel=1e-12)
    assert top_k_shares(np.zeros((P, 2)), 40).tolist() == [0.0, 0.0] and top_k_share(np.zeros(P)) == 0.0


def test_share_null_p_value_and_flag():
    rng = np.random.default_rng(1)
    null = _noise(rng, (P, K))
    flat = _noise(rng, (P,))
    s = share_null(flat, null, k=40)
    shares = top_k_shares(null, 40)
    assert s["null_q95"] == pytest.approx(np.quantile(shares, 0.95))
    assert s["p_value"] == pytest.approx((np.sum(shares >= s["observed"]) + 1) / (K + 1))
    peaked = flat.copy()
    peaked[:40] *= 20
    assert share_null(peaked, null, k=40)["above_null"] and share_null(peaked, null)["p_value"] == 1 / (K + 1)


def test_familywise_threshold_controls_the_chance_of_any_false_call():
    """On null data the observed statistic is one more draw: P(any unit called) should be ~5%."""
    rng = np.random.default_rng(2)
    hits, per_unit_hits, n_rep, n_units = 0, 0, 300, 60
    for _ in range(n_rep):
        draws = _noise(rng, (n_units, K + 1))
        obs, null = draws[:, 0], draws[:, 1:]
        tval, _, _, thr = familywise_t(obs, null)
        hits += bool((tval > thr).any())
        per_unit_hits += bool((obs > np.quantile(null, 0.95, axis=1)).any())
    assert 0.01 <= hits / n_rep <= 0.10  # family-wise: about 5%
    assert per_unit_hits / n_rep > 0.9  # the per-unit 95th percentile would call something almost always


def test_region_excess_finds_the_planted_band_only():
    rng = np.random.default_rng(3)
    null = _noise(rng, (P, K))
    obs = _noise(rng, (P,))
    band = feature_pixels(WAVE)["o2_a"]
    obs[band] *= 8
    out = region_excess(obs, null, WAVE)
    above = {r["key"] for r in out["regions"] if r["above_null"]}
    assert "o2_a" in above
    a = by_key("o2_a")
    for r in out["regions"]:  # anything else called lies inside the planted band (K I lines in the A band)
        if r["above_null"]:
            f = by_key(r["feature"])
            assert f.lo < a.hi and a.lo < f.hi, r["key"]
    o2 = next(r for r in out["regions"] if r["key"] == "o2_a")
    total = obs.sum()
    assert o2["share"] == pytest.approx(obs[band].sum() / total)
    assert o2["threshold"] == pytest.approx(o2["null_mean"] + out["threshold_t"] * o2["null_sd"])
    band_null = null[band].sum(axis=0) / null.sum(axis=0)
    assert (o2["null_mean"], o2["null_sd"]) == pytest.approx((band_null.mean(), band_null.std(ddof=1)))


def test_pixel_excess_groups_and_names_the_planted_run():
    rng = np.random.default_rng(4)
    null = _noise(rng, (P, K))
    obs = _noise(rng, (P,))
    run = np.arange(300, 306)
    obs[run] = 30.0
    out = pixel_excess(obs, null, WAVE)
    assert set(run) <= set(out["above"])
    g = next(g for g in out["groups"] if g["pixel_lo"] <= 300 <= g["pixel_hi"])
    assert g["pixel_lo"] == 300 and g["pixel_hi"] == 305 and g["n_above"] == 6
    expect = [k for k, m in feature_pixels(WAVE).items() if m[300:306].any()]
    assert g["features"] == expect
    shares = null / null.sum(axis=0)
    expect = (shares.mean(axis=1) + out["threshold_t"] * shares.std(axis=1, ddof=1)) * obs.sum()
    np.testing.assert_allclose(out["threshold"], expect)


def test_overlap_null_counts_directly():
    rng = np.random.default_rng(5)
    null = _noise(rng, (P, 30))
    obs = _noise(rng, (P,))
    ref = np.argsort(-obs)[:40][:25].tolist() + [0, 1]
    out = overlap_null(ref, obs, null, k=40)
    assert out["count"] == len(set(ref) & set(np.argsort(-obs)[:40].tolist()))
    counts = [len(set(ref) & set(np.argsort(-null[:, j])[:40].tolist())) for j in range(30)]
    assert out["null_mean"] == pytest.approx(np.mean(counts))
    assert out["above_null"]


def test_a_band_whose_excess_sits_in_its_lines_is_not_a_telluric_signal():
    rng = np.random.default_rng(6)
    null = _noise(rng, (P, K))
    obs = _noise(rng, (P,))
    pix = feature_pixels(WAVE)
    obs[pix["ki_7665"]] *= 25  # the excess sits in the K I line inside the O2 A band
    regions = {r["key"]: r for r in region_excess(obs, null, WAVE)["regions"]}
    assert regions["ki_7665"]["above_null"]
    rest = regions["o2_a:no_lines"]
    assert rest["feature"] == "o2_a" and rest["without_lines"] and not rest["above_null"]
    assert rest["n_pixels"] == int((pix["o2_a"] & ~pix["ki_7665"] & ~pix["ki_7699"]).sum())
