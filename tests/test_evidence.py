"""Every sentence of the report backed by a number and a null (issue 15), on real planted runs.

The runs are conftest's session fixtures: ``pixel_run`` (a 40-pixel leak: the 16 pixels of the
O2 A band and 24 others), ``null_run`` (the same error vectors with the labels permuted: no
leak) and ``scale_run``. The oracles are independent: the gate's interval is recomputed with
numpy from the test predictions the pipeline used; the family-wise p-value from scikit-learn
refits on the same permuted labels; the planted pixels are known.
"""

import re

import h5py
import numpy as np
import pytest
from planted import LEAK_BAND, band_pixels, leak_pixels, wave_grid
from report_language import english_runs

from daudit.checks.permutation import PermutationKeys
from daudit.data.catalogue import CATALOGUE, by_key, feature_labels
from daudit.output.report import numbers_not_in_summary

SEED = 42  # the planted specs' seed


def _report(run):
    return (run.out / "report.md").read_text(encoding="utf-8")


def _narrative(text):
    """The report before its appendix: what a reader takes as conclusions."""
    return text.split("## 📎 Appendix")[0]


def _sentences(text):
    return [s for s in re.split(r"[。\n]", text) if s.strip()]


def _candidates(summary):
    return [(float(r["noise_level"]), r["model"]) for r in summary["metrics"] if not r["degenerate"]]


# ---------------------------------------------------------------- the gate's interval and p-value
def _direct_max_interval(run):
    """Percentile interval of max over models of the test R², resample by resample (numpy only)."""
    s = run.summary
    y = run.y["test"]
    keys = _candidates(s)
    preds = np.column_stack([run.test_pred[k] for k in keys])
    rng = np.random.default_rng(np.random.SeedSequence(SEED, spawn_key=(4, 1)))
    n_boot = s["sanity"]["bootstrap"]["n_resamples"]
    best = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, len(y), size=len(y))
        yb = y[idx]
        tss = np.sum((yb - yb.mean()) ** 2)
        best[b] = max(1 - np.sum((yb - preds[idx, j]) ** 2) / tss for j in range(len(keys)))
    return np.quantile(best, [0.025, 0.975]), len(keys)


@pytest.mark.parametrize("which", ["pixel_run", "null_run"])
def test_gate_interval_is_the_bootstrap_of_the_reselected_maximum(which, request):
    run = request.getfixturevalue(which)
    gate = run.summary["gate"]
    (lo, hi), n = _direct_max_interval(run)
    assert gate["ci95"] == pytest.approx([lo, hi], abs=1e-12)
    assert gate["n_candidates"] == n
    assert gate["borderline"] == (lo < 0.05 <= hi)
    # the best model's own interval (no selection) is reported beside it, and is not the gate's
    assert gate["ci95_best_model"] is not None and gate["ci95_best_model"] != gate["ci95"]
    vs = gate["val_selected"]
    best_val = max((r for r in run.summary["metrics"] if not r["degenerate"]), key=lambda r: r["val_r2"])
    assert (vs["model"], vs["noise_level"], vs["test_r2"]) == (best_val["model"], best_val["noise_level"],
                                                              best_val["test_r2"])


def _read_error(root, split):
    with h5py.File(root / "data" / split / "dataset.h5", "r") as f:
        return np.asarray(f["dataset/arrays/error/value"], dtype=np.float64)


def _direct_familywise(run):
    """Refit every linear model on the checks' permuted train labels with scikit-learn; max test R² each."""
    from sklearn.linear_model import LinearRegression, Ridge

    s = run.summary
    k = s["sanity"]["permutation"]["linear"]["n_permutations"]
    y_train, y_test = run.y["train"], run.y["test"]
    rng = np.random.default_rng(np.random.SeedSequence(SEED, spawn_key=(4,)))  # the checks' generator
    perms = PermutationKeys.draw(len(y_train), k, rng).labels(y_train, np.arange(len(y_train)))  # the checks' keyed permutations
    x_train, x_test = _read_error(run.root, "train"), _read_error(run.root, "test")
    tss = np.sum((y_test - y_test.mean()) ** 2)
    scores = []
    for level in sorted({lv for lv, _ in _candidates(s)}):
        models = [LinearRegression()] + [Ridge(alpha=a) for a in s["alphas"]]
        for m in models:
            pred = m.fit(level * x_train, perms).predict(level * x_test)
            scores.append(1 - np.sum((y_test[:, None] - pred) ** 2, axis=0) / tss)
    null_max = np.max(np.column_stack(scores), axis=1)
    observed = max(r["test_r2"] for r in s["metrics"] if not r["degenerate"] and r["model"] != "LightGBM")
    return null_max, observed, k


@pytest.mark.parametrize("which", ["pixel_run", "null_run"])
def test_familywise_p_value_against_scikit_learn_refits(which, request):
    run = request.getfixturevalue(which)
    fw = run.summary["sanity"]["permutation"]["linear"]["familywise"]
    null_max, observed, k = _direct_familywise(run)
    np.testing.assert_allclose(fw["null_max"], null_max, rtol=0, atol=2e-4)  # X^T Y in float32 per chunk
    assert fw["observed_max"] == pytest.approx(observed, abs=1e-12)
    # the family is every linear row at every level > 0: the OLS truncation path's steps included
    lin_rows = [r for r in run.summary["metrics"] if not r["degenerate"] and r["model"] != "LightGBM"]
    assert fw["n_models"] == len(lin_rows) and any(r["model"].startswith("OLS_x") for r in lin_rows)
    p = (np.sum(null_max >= observed) + 1) / (k + 1)
    assert run.summary["gate"]["p_value_familywise"] == pytest.approx(p)
    assert run.summary["gate"]["familywise_min_p_value"] == pytest.approx(1 / (k + 1))


def test_familywise_p_separates_leak_from_null(pixel_run, null_run):
    k = pixel_run.summary["gate"]["familywise_n_permutations"]
    assert pixel_run.summary["gate"]["p_value_familywise"] == pytest.approx(1 / (k + 1))
    assert null_run.summary["gate"]["p_value_familywise"] > 0.05
    # the single best model's p-value ignores the selection; the family-wise one never is smaller
    s = null_run.summary
    best = s["best"]
    if best["model"] != "LightGBM":
        single = s["sanity"]["permutation"]["linear"]["models"][f"L={best['noise_level']:g} {best['model']}"]
        assert s["gate"]["p_value_familywise"] >= single["p_value"]


def test_lightgbm_null_states_its_resolution(pixel_run):
    s = pixel_run.summary
    lg = s["sanity"]["permutation"]["lightgbm"]
    n = lg["n_permutations"]
    assert lg["min_p_value"] == pytest.approx(1 / (n + 1)) and lg["p_value"] >= lg["min_p_value"]
    text = _report(pixel_run)
    if lg["p_value"] <= lg["min_p_value"]:
        assert f"p ≤ {lg['min_p_value']:.4f}（{n} 次置换所能给出的最小值" in text
    # never a p below the resolution anywhere in the report's LightGBM sentences
    for m in re.finditer(r"LightGBM[^。；|\n]*?p [=≤] (0\.\d{4})", text):
        assert float(m.group(1)) >= lg["min_p_value"] - 5e-5


# ---------------------------------------------------------------- the report on null and planted data
def test_null_data_report_claims_nothing(null_run):
    s, text = null_run.summary, _report(null_run)
    null = s["sanity"]["importance_null"]["linear"]
    assert s["gate"]["verdict"] == "PASS" and "✅ PASS" in text
    assert not null["top_k_share"]["above_null"]
    assert not any(r["above_null"] for r in null["regions"]["regions"])
    assert null["pixels"]["n_above"] == 0
    story = _narrative(text)
    assert "高于置换零分布阈值的目录区域" not in story and "集中吗？否" in story
    assert "没有任何目录区域" in story and "没有任何像素的重要性高于" in story
    for claim in ("部分集中", "高度集中", "线性审计已足以界定泄露上限", "不是泄露来源", "参考谱线核心附近"):
        assert claim not in text, claim
    # a catalogue name in the narrative only where the report describes the most variable pixels
    # or says that a peak's region is not above its null
    labels = sorted(feature_labels(), key=len, reverse=True)
    for sentence in _sentences(story):
        if any(lab in sentence for lab in labels):
            assert "易变" in sentence or ("不高于阈值" in sentence and "高于族校正阈值" not in sentence), sentence
    assert numbers_not_in_summary(text, s) == []


def test_planted_leak_named_as_concentrated_above_the_null(pixel_run):
    s, text = pixel_run.summary, _report(pixel_run)
    null = s["sanity"]["importance_null"]["linear"]
    share = null["top_k_share"]
    assert share["above_null"] and share["observed"] > share["null_q95"]
    assert s["gate"]["verdict"] == "FAIL"
    # a pixel called important on its own is a planted one (the per-pixel test is family-wise,
    # so with 40 pixels of similar weight it may call few of them; it must not call others)
    planted = set(leak_pixels(256).tolist())
    assert set(null["pixels"]["above"]) <= planted
    # the planted region (the O2 A band) is called important, with its numbers, in the narrative
    regions = {r["key"]: r for r in null["regions"]["regions"]}
    a = regions["o2_a"]
    assert a["above_null"] and a["share"] > a["threshold"]
    story = _narrative(text)
    assert f"{by_key('o2_a').name_zh}（大气吸收带" in story
    assert f"占比 {a['share'] * 100:.1f}%，阈值 {a['threshold'] * 100:.1f}%" in story
    assert "集中吗？是" in story
    # every region called important holds a planted pixel (an oracle the code never saw)
    wave = wave_grid(256)
    for r in regions.values():
        if r["above_null"]:
            assert any(r["lo"] - 3.5 <= wave[i] <= r["hi"] + 3.5 for i in planted), r["key"]
    # a pixel group inside the planted band is named with the A band
    band = set(band_pixels(256).tolist())
    for g in null["pixels"]["groups"]:
        if band & set(range(g["pixel_lo"], g["pixel_hi"] + 1)):
            assert "o2_a" in g["features"]
            assert LEAK_BAND[0] - 7 <= g["wave_lo"] and g["wave_hi"] <= LEAK_BAND[1] + 7
    assert numbers_not_in_summary(text, s) == []


def test_every_named_group_names_its_catalogue_features(pixel_run):
    s, text = pixel_run.summary, _report(pixel_run)
    appendix = text.split("### 6.3")[1]
    for g in s["sanity"]["importance_null"]["linear"]["pixels"]["groups"]:
        names = "、".join(by_key(k).name_zh for k in g["features"]) or "目录中无对应特征"
        assert f"| {g['wave_lo']:.1f}–{g['wave_hi']:.1f} | {g['n_above']} | {g['share'] * 100:.1f}% | {names} |" in appendix
        lo, hi = g["wave_lo"], g["wave_hi"]
        direct = [f.key for f in CATALOGUE if f.hi >= lo - 3.5 and f.lo <= hi + 3.5]  # half a pixel of slack
        assert set(g["features"]) <= set(direct)


def test_both_lightgbm_importances(pixel_run):
    s = pixel_run.summary
    models = s["importance"]["models"]
    assert models["LightGBM"]["kind"] == "gain" and models["LightGBM:split"]["kind"] == "split"
    header = (pixel_run.out / "importance.csv").read_text().splitlines()[0].split(",")
    prim = s["importance"]["primary"]
    assert {"LightGBM_gain", "LightGBM_split", f"{prim}_null_mean", f"{prim}_null_threshold"} <= set(header)
    lg = s["sanity"]["importance_null"]["lightgbm"]
    assert {"split", "gain"} <= set(lg) and lg["split"]["n_permutations"] == lg["n_permutations"]
    assert "_pixel_null" not in s["sanity"]  # arrays go to importance.csv, not summary.json


@pytest.mark.parametrize("which", ["pixel_run", "null_run", "scale_run"])
def test_chinese_sentences_have_no_english_runs(which, request):
    run = request.getfixturevalue(which)
    assert english_runs(_report(run), run.summary) == []


def test_language_checker_catches_an_english_fragment(null_run):
    text = _report(null_run).replace("### 5.3 Design Implications\n", "### 5.3 Design Implications\n原因：all train rows used; 其余见上。\n")
    assert english_runs(text, null_run.summary) == ["line %d: train rows used;" % (
        text.splitlines().index("原因：all train rows used; 其余见上。") + 1)]


TEMPLATE_LABELS = {"一句话", "假设验证", "关键数字", "描述", "关键观察"}


def test_headings_english_and_checks_listed(pixel_run):
    text = _report(pixel_run)
    for line in text.splitlines():
        if line.startswith("#"):  # every heading English (issue 28), the template's included
            assert not re.search(r"[\u3400-\u9fff]", line), line
        if line.startswith("**") and "**" in line[2:]:  # bold labels that open a paragraph act as headings
            label = line[2:line.index("**", 2)]
            assert label in TEMPLATE_LABELS or not re.search(r"[\u3400-\u9fff]", label), line
    section = text.split("### 2.3 Sanity Checks")[1].split("---")[0]
    for name in ("Shuffle Test", "Group Shuffle Test", "Mask-only Test", "Aggregate Statistics Test", "标签置换零分布",
                 "Bootstrap", "重要性的置换零分布", "40 个位置", "按 SNR 分组"):
        assert name in section, name
    assert "**Author:** 未填写" in text  # the planted spec has no author: key
