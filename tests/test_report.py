"""Report: template structure, Gate-1 box, sanity placeholder, and the number self-check."""

import json
import re

import pytest
from fake_results import make_fake_summary
from report_language import english_runs

from daudit.output.report import leakage_degree, numbers_not_in_summary, render_report
from daudit.output.report.format import fmt_importance
from daudit.output.report.numbers import numeric_tokens

HEADINGS = [
    "# 📗 LOGG-ERR-BASE-01: Error-Only Leakage Baseline",
    "## 🔗 Upstream Links", "## ⚡ Key Results at a Glance", "## 🎯 Objective", "## 🧪 Experiment Design", "### 2.1 Data",
    "### 2.2 Models", "### 2.3 Sanity Checks", "## 📊 Figures",
    "### Fig 1: Error-Only R² Across Models", "### Fig 2: Feature Importance Spectrum",
    "### Fig 3: Sanity Check Results", "## 💡 Key Insights", "## 📝 Conclusions", "### 5.1 Core Findings",
    "### 5.2 Gate-1 Verdict", "### 5.3 Design Implications", "## 📎 Appendix", "### 6.1 Numerical Results",
    "### 6.2 Sanity Check Details",
]
PASS_LINE = "通过 (R² < 0.05) → 进入 Gate-2"
FAIL_LINE = "未通过 (R² ≥ 0.05) → 进入 MVP-0.2 (去泄露)"


@pytest.fixture(params=["PASS", "FAIL"])
def rendered(request):
    summary = make_fake_summary(verdict=request.param)
    return summary, render_report(summary)


def _box(text, line):
    (match,) = [m for m in re.finditer(r"^- \[( |x)\] (.*)$", text, re.M) if m.group(2) == line]
    return match.group(1) == "x"


def test_template_headings_in_order(rendered):
    _, text = rendered
    positions = [text.index(h + "\n") for h in HEADINGS]
    assert positions == sorted(positions)


def test_no_placeholders(rendered):
    _, text = rendered
    for bad in ("TODO", "[结果]", "None", "nan", "{", "}"):
        assert bad not in text, bad


def test_status_and_gate_box_match_verdict(rendered):
    summary, text = rendered
    passed = summary["gate"]["verdict"] == "PASS"
    assert ("**Status:** ✅ PASS" in text) is passed
    assert ("**Status:** ❌ FAIL" in text) is not passed
    assert _box(text, PASS_LINE) is passed
    assert _box(text, FAIL_LINE) is not passed
    # a ticked box means "verified": H1 only when it holds; exactly one Gate line
    (h1,) = re.findall(r"^- \[( |x)\] H1: .* → (成立|不成立)", text, re.M)
    assert (h1 == ("x", "成立")) is passed and (h1 == (" ", "不成立")) is not passed
    assert text.count("- [x]") == 1 + passed and text.count("- [ ]") == 2 - passed


def test_key_numbers(rendered):
    summary, text = rendered
    ridge = f"| error-only R² (Ridge best) | {summary['best_ridge']['test_r2']:.4f}（"
    lgb = f"| error-only R² (LightGBM) | {summary['best_lightgbm']['test_r2']:.4f}（"
    share = summary["importance"]["models"]["LightGBM_gain"]["top_k_share"] * 100
    assert ridge in text and lgb in text
    assert f"| Top-40 像素贡献占比 | {share:.1f}%" in text
    assert summary["gate"]["leakage_degree"] in text.split("**一句话**")[1].split("\n")[0]


def test_appendix_has_every_model_at_every_level(rendered):
    summary, text = rendered
    table = text.split("### 6.1 Numerical Results")[1].split("### 6.2")[0]
    for row in summary["metrics"]:
        cells = [f"{row['noise_level']:g}", row["model"], f"{row['train_r2']:.4f}",
                 f"{row['val_r2']:.4f}", f"{row['test_r2']:.4f}", f"{row['test_mae']:.4f}",
                 f"{row['test_rmse']:.4f}"]
        pattern = r"^\| " + re.escape(cells[0]) + r" \| " + re.escape(cells[1]) + r"(?:（退化）)? \|.*$"
        (line,) = re.findall(pattern, table, re.M)
        assert all(c in line for c in cells[2:])
        assert ("（退化）" in line) is row["degenerate"]


def test_top_pixels_table(rendered):
    summary, text = rendered
    for p in summary["importance"]["models"]["LightGBM_gain"]["top_pixels"]:
        assert re.search(rf"^\| {p['rank']} \| {p['pixel']} \| {p['wavelength']:.1f} \|", text, re.M)


def test_images_relative_and_hist_after_spectrum(rendered):
    summary, text = rendered
    figs = summary["outputs"]["figures"]
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links == [figs["r2_models"], figs["importance_spectrum"], figs["importance_hist"]]
    fig2 = text.split("### Fig 2")[1].split("### Fig 3")[0]
    assert figs["importance_spectrum"] in fig2 and figs["importance_hist"] in fig2


def test_data_section_and_noise_semantics(rendered):
    summary, text = rendered
    data = text.split("### 2.1 Data")[1].split("### 2.2")[0]
    assert "训练集: 100k，验证集: 10k，测试集: 10k" in data
    assert "4096 维" in data and "X_L = L·σ" in data
    assert "LightGBM 对输入的正缩放不变" in data and "训练使用全部 100000 行" in data
    assert summary["lightgbm"]["reason"] not in data  # the plan's English reason is rebuilt in Chinese
    assert str(summary["data"]["splits"]["train"]["n_nan_filled"]) in data
    assert "degenerate" in data
    assert "alpha = 0.001, 0.01, 0.1, 1, 10, 100" in text


def test_sanity_absent_is_stated(rendered):
    summary, text = rendered
    assert "sanity" not in summary
    fig3 = text.split("### Fig 3")[1].split("## 💡")[0]
    appendix = text.split("### 6.2")[1]
    assert "尚未包含 sanity checks" in fig3
    assert "尚未包含 sanity checks" in appendix


def test_sanity_present_is_rendered():
    summary = make_fake_summary(sanity=True)
    text = render_report(summary)
    assert "尚未包含 sanity checks" not in text
    shuffled = summary["sanity"]["wavelength_shuffle"]["refit"]["best_ridge"]["test_r2"]
    mask = summary["sanity"]["mask_only"]["LightGBM"]["test_r2"]
    appendix = text.split("### 6.2")[1]
    assert f"打乱后重新拟合 R² = {shuffled:.4f}" in appendix and f"Mask-only R²（LightGBM）: {mask:.4f}" in appendix
    assert numbers_not_in_summary(text, summary) == []


@pytest.mark.parametrize("verdict", ["PASS", "FAIL"])
@pytest.mark.parametrize("options", [{}, {"sanity": True, "borderline": True, "ols_test_r2": -0.31},
                                     {"author": "Viska Wei", "seed": 7}])
def test_every_number_is_in_summary(verdict, options):
    summary = make_fake_summary(verdict=verdict, **options)
    text = render_report(summary)
    assert numbers_not_in_summary(text, summary) == []
    assert len(numeric_tokens(text, summary)) > 300  # the checker really looks at the numbers


def test_author_line():
    assert "**Author:** 未填写（在 spec 中设置 `author:`） |" in render_report(make_fake_summary())
    assert "**Author:** Viska Wei |" in render_report(make_fake_summary(author="Viska Wei"))


def test_checker_catches_planted_wrong_r2(rendered):
    summary, text = rendered
    true = f"{summary['best_ridge']['test_r2']:.4f}"
    wrong = f"{summary['best_ridge']['test_r2'] + 0.0123:.4f}"
    planted = text.replace(f"| error-only R² (Ridge best) | {true}",
                           f"| error-only R² (Ridge best) | {wrong}")
    assert planted != text
    assert numbers_not_in_summary(planted, summary) == [wrong]


@pytest.mark.parametrize("planted, expected", [
    ("另见 0.12345 与 -0.777。", ["0.12345", "-0.777"]),
    ("占比 99.9%。", ["99.9%"]),
    ("共 12345 行，约 7k 行。", ["12345", "7k"]),
    ("| 99999 | 0.5 |", ["99999"]),  # table cells are checked (only a "#" column is skipped)
])
def test_checker_catches_planted_tokens(rendered, planted, expected):
    summary, text = rendered
    text = text.replace("### 5.3 Design Implications\n", "### 5.3 Design Implications\n" + planted + "\n")
    assert numbers_not_in_summary(text, summary) == expected


def test_checker_formats_and_identifiers():
    summary = {"experiment_id": "LOGG-ERR-BASE-01", "date": "2025-12-26",
               "a": 0.014937, "b": [100000, 40], "c": {"d": -0.03449, "e": 1.0}, "f": "rows 512 used",
               "metrics": [{"model": "Ridge_100"}]}
    ok = ("# 6.2 heading 777\nLOGG-ERR-BASE-01 2025-12-26 Gate-1 Gate-2 MVP-0.1 MVP-0.2 Fig 1 Fig 3 "
          "H1 §DG1 §6.2 Ca II 8542.1 img/x_01.png daudit 0.1.0 Ridge_100 Top-40 "
          "R²=0.0149 1.5% 100k 100000 -0.0345 -0.03 L=1 1.0 512 1.494e-02\n"
          "1. item\n| # | x |\n|---|---|\n| 7 | 40 |")
    assert numbers_not_in_summary(ok, summary) == []
    assert numbers_not_in_summary("R²=0.0150 1.4% 99k 41 1.0001 -0.0344", summary) == [
        "0.0150", "1.4%", "99k", "41", "1.0001", "-0.0344"]


def test_leakage_degree():
    assert leakage_degree(0.0) == "无/可忽略 (negligible)"
    assert leakage_degree(-0.3) == "无/可忽略 (negligible)"
    assert leakage_degree(0.05) == "弱 (weak)"
    assert leakage_degree(0.3) == "中等 (moderate)"
    assert leakage_degree(0.6) == "强 (strong)"
    assert leakage_degree(0.95) == "极强 (severe)"
    assert leakage_degree(float("nan")) == "未知 (unknown)"


def test_summary_round_trips_and_report_has_no_nan_inputs(rendered):
    summary, _ = rendered
    assert json.loads(json.dumps(summary)) == summary
    assert summary["metrics"][0]["alpha"] is None and summary["metrics"][0]["degenerate"] is True


def test_missing_optional_parts():
    """No importance (degenerate reference level), no LightGBM, figures listed by plot type."""
    summary = make_fake_summary()
    summary["importance"] = None
    summary["best_lightgbm"] = None
    del summary["lightgbm"]
    summary["metrics"] = [r for r in summary["metrics"] if r["model"] != "LightGBM"]
    summary["outputs"]["figures"] = {"r2_bar_chart": "img/r2.png"}
    text = render_report(summary)
    assert "![r2_models](img/r2.png)" in text and "没有生成 `importance_spectrum` 图" in text
    assert "没有重要性结果" in text and "TODO" not in text
    assert numbers_not_in_summary(text, summary) == []


def test_missing_required_key_is_a_clear_error():
    from daudit.core.errors import DauditError

    summary = make_fake_summary()
    del summary["gate"]
    with pytest.raises(DauditError, match="gate"):
        render_report(summary)


def test_top_k_covering_every_pixel_is_not_called_concentrated():
    summary = make_fake_summary()
    summary["data"]["n_pixels"] = 32
    text = render_report(summary)
    assert "集中度无从判断" in text and "高度集中" not in text
    assert numbers_not_in_summary(text, summary) == []


# ------------------------------------------------------------- linear resolution (issue 14)
@pytest.mark.parametrize("verdict", ["PASS", "FAIL"])
@pytest.mark.parametrize("ols_cutoff", ["stable", "driven"])
def test_resolution_section_numbers_and_flags(verdict, ols_cutoff):
    summary = make_fake_summary(verdict=verdict, ols_cutoff=ols_cutoff, sanity=True)
    text = render_report(summary)
    assert numbers_not_in_summary(text, summary) == []
    design = text.split("### 2.2 Models")[1].split("### 2.3")[0]
    scale = summary["linear_scale"]
    assert f"μ_max = {fmt_importance(scale['lambda_max'])}" in design and f"τ = {fmt_importance(scale['threshold'])}" in design
    assert f"分辨秩 {scale['resolved_rank']} / {scale['n_directions']}" in design
    assert all(f"{s['model']} 秩 {s['resolved_rank']}" in design for s in scale["path"])  # every step named
    table = text.split("### 6.4 Numerical Resolution of the Linear Models")[1]
    for lv, rec in summary["linear"].items():
        if rec["degenerate"]:
            continue
        for name, m in rec["models"].items():
            flag = "是" if m["below_resolution"] else ("否" if m["below_resolution"] is False else "-")
            row = (f"| {float(lv):g} | {name} | {m['resolved_rank']} / {rec['n_directions']} | "
                   f"{m['effective_dof']:.1f} | {flag} |")
            assert row in table
    for step in scale["ols_path"]["models"]:
        assert f"| {step['model']} | {fmt_importance(step['threshold'])} | {step['resolved_rank']} |" in table
    below = [f"{n}（L={float(lv):g}）" for lv, rec in summary["linear"].items()
             for n, m in rec["models"].items() if m["below_resolution"]]
    assert below and all(b in design for b in below)  # the flag is stated, not only a number


def test_ols_wording_follows_the_path():
    """No overfitting / regularisation story when the OLS number moves along its truncation path."""
    story = ("说明 OLS 在高维 error 输入上有过拟合", "训练集与测试集接近", "正则化改善了", "正则化没有改善")
    driven = render_report(make_fake_summary(verdict="FAIL", ols_cutoff="driven"))
    fig1 = driven.split("### Fig 1")[1].split("### Fig 2")[0]
    insights = driven.split("## 💡 Key Insights")[1].split("## 📝")[0]
    assert not any(s in fig1 + insights for s in story)
    assert "随截断阈值变化" in fig1 and "随截断阈值变化" in insights
    stable = render_report(make_fake_summary(verdict="FAIL", ols_cutoff="stable"))
    fig1 = stable.split("### Fig 1")[1].split("### Fig 2")[0]
    assert "对截断不敏感" in fig1 and "随截断阈值变化" not in stable.split("## 📎 Appendix")[0]
    assert any(s in fig1 for s in story[:2])


def test_cut_directions_are_never_called_noise():
    """Whichever way the path moves, the report states numbers: the highest step, how many
    directions lie between the floor and the top; never "noise" or a "conservative estimate"."""
    for move in (-0.2, 0.2):
        summary = make_fake_summary(verdict="FAIL", ols_cutoff="driven")
        steps = summary["linear_scale"]["ols_path"]["models"]
        for k, step in enumerate(steps):
            step["test_r2"] = steps[0]["test_r2"] + move * k / 5
        text = render_report(summary)
        top = max(steps, key=lambda s: s["test_r2"])
        assert "数值噪声" not in text and "保守估计" not in text
        assert f"截断路径上 test R² 最高的是 {top['model']}" in text
        assert numbers_not_in_summary(text, summary) == []


@pytest.mark.parametrize("options", [{}, {"verdict": "FAIL"}, {"sanity": True, "borderline": True}])
def test_no_english_runs_in_chinese_sentences(options):
    summary = make_fake_summary(**options)
    assert english_runs(render_report(summary), summary) == []
