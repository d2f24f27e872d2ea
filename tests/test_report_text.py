"""Issue 28: the report's text on a real small audit (conftest's ``pixel_run``, 2000 / 500 / 500 rows).

One interval per model (the Fig 3 table and §6.2 used two bootstraps for the same model);
English headings over a Chinese body; nothing of 80 characters said twice (the Gate-1 evidence
once stood in five places); no paragraph over 600 characters (Fig 2's observations once ran to
2,000); a top-40 share that shows no concentration in a failing report says why; the group
shuffle's cells explained; a quick run says so in its heading and its one-line summary.
"""

import copy
import dataclasses
import re

import pytest
from report_text import (
    MAX_PARAGRAPH,
    MIN_REPEATED,
    cjk_headings,
    long_paragraphs,
    model_intervals,
    paragraphs_without_chinese,
    repeated_sentences,
)

from daudit.core.errors import DauditError
from daudit.core.spec import SanitySpec, parse_spec
from daudit.output.report import numbers_not_in_summary, render_report


def _report(run):
    return (run.out / "report.md").read_text(encoding="utf-8")


def _fmt(ci):
    return f"[{ci[0]:.4f}, {ci[1]:.4f}]"


def test_each_model_has_one_interval(pixel_run):
    text, san = _report(pixel_run), pixel_run.summary["sanity"]
    seen = model_intervals(text, [r["model"] for r in pixel_run.summary["metrics"]])
    assert len(seen) >= 10  # the parser finds the report's intervals (Fig 3 table, §6.2, the bootstrap table)
    assert {r2: cis for r2, cis in seen.items() if len(cis) > 1} == {}
    # the original OLS in the Fig 3 table carries the gate bootstrap's interval of that model
    ref = san["reference_noise_level"]
    per_model = san["bootstrap"]["test_r2_ci95"][f"L={ref:g} OLS"]
    row = next(line for line in text.splitlines() if line.startswith("| 原始模型"))
    assert row.split("|")[2].strip() == f"{per_model['test_r2']:.4f} {_fmt(per_model['ci95'])}"


def test_headings_english_body_chinese(pixel_run):
    text = _report(pixel_run)
    assert sum(line.startswith("#") for line in text.splitlines()) >= 20
    assert cjk_headings(text) == []
    assert paragraphs_without_chinese(text) == []


def test_nothing_long_said_twice(pixel_run):
    text = _report(pixel_run)
    assert repeated_sentences(text) == [], f"passages of {MIN_REPEATED}+ characters said more than once"
    assert text.count("区间与 p 值见 §5.2") >= 2  # said once, referred to


def test_no_wall_of_text(pixel_run):
    text = _report(pixel_run)
    assert [len(p) for p in long_paragraphs(text)] == [], f"paragraphs over {MAX_PARAGRAPH} characters"


def test_the_gate_evidence_is_given_in_5_2(pixel_run):
    text, gate = _report(pixel_run), pixel_run.summary["gate"]
    section = text.split("### 5.2 Gate-1 Verdict")[1].split("### 5.3")[0]
    assert _fmt(gate["ci95"]) in section and "族校正置换" in section


def _failing_without_concentration(run):
    summary = copy.deepcopy(run.summary)
    share = summary["sanity"]["importance_null"]["linear"]["top_k_share"]
    share["above_null"], share["p_value"] = False, 0.5
    summary["gate"]["verdict"] = "FAIL"
    return summary


def test_no_concentration_in_a_failing_report_says_why(pixel_run):
    summary = _failing_without_concentration(pixel_run)
    text = render_report(summary)
    answer = next(s for s in re.split(r"[\n。]", text) if "高重要性像素是否集中" in s)
    assert answer.split("？")[1].startswith("否") and "分散在许多像素上" in answer
    assert "与无泄露一致" not in text


def test_group_shuffle_cells_are_explained(pixel_run):
    summary = copy.deepcopy(pixel_run.summary)
    gs = summary["sanity"]["group_shuffle"]
    assert gs["mag_bins"] * gs["snr_bins"] >= gs["n_groups"]
    gs.update(n_groups=gs["mag_bins"] * gs["snr_bins"] - 2)
    line = next(x for x in render_report(summary).splitlines() if x.startswith("**Group Shuffle Test**"))
    assert f"有样本的 {gs['n_groups']} 个格子" in line and "其余组合没有训练样本" in line
    gs.update(n_groups=gs["mag_bins"] * gs["snr_bins"])
    line = next(x for x in render_report(summary).splitlines() if x.startswith("**Group Shuffle Test**"))
    assert f"有样本的 {gs['n_groups']} 个格子" in line and "其余组合" not in line


def test_a_quick_run_says_so(pixel_run):
    summary = copy.deepcopy(pixel_run.summary)
    summary["spec"]["sanity"] = dataclasses.asdict(SanitySpec().quick())
    text = render_report(summary)
    first = text.splitlines()[0]
    assert first.startswith("# ") and "quick run" in first
    one_line = next(x for x in text.splitlines() if x.startswith("**一句话**"))
    assert "快速运行" in one_line and "bootstrap 200 次" in one_line
    assert "(quick run)" in next(x for x in text.splitlines() if "**Status:**" in x)
    assert numbers_not_in_summary(text, summary) == []
    full = _report(pixel_run)
    assert "quick run" not in full and "快速运行" not in full


def test_quick_is_recorded_by_the_cli_flag_only():
    assert SanitySpec().quick().quick_run and not SanitySpec().quick_run
    raw = {"experiment_id": "X", "data": {"train_path": "a", "val_path": "b", "test_path": "c"},
           "models": [{"type": "LinearRegression"}], "sanity": {"quick_run": True}}
    with pytest.raises(DauditError, match="quick_run"):
        parse_spec(raw, source="spec.yaml")
