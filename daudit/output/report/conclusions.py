"""The report's key insights and conclusions sections: each sentence from a rule tied to
a number of the summary and, where one exists, its null."""

from __future__ import annotations

__all__ = ["insights_section", "conclusion_section"]

from daudit.core.schema_sanity import checks_of
from daudit.models.linear import is_ols_name
from daudit.output.report.constants import HEADINGS
from daudit.output.report.format import is_number, fmt_level, primary_importance_of, fmt_metric, metric_row, where_text
from daudit.output.report.gate import (
    blocked_texts,
    borderline_text,
    GATE_REF,
    gate_phrase,
    gate_points,
    lgbm_cell,
    ridge_cell,
    rule_text,
    selection_text,
    untested_texts,
    verdict_words,
)
from daudit.output.report.importance import (
    concentration_short,
    concentration_text,
    importance_decision,
    regions_above,
)
from daudit.output.report.linear import ols_cutoff_consequence, ols_cutoff_driven
from daudit.output.report.localisation import localisation, source_names, sources


def _ols_ridge_insight(summary, ctx, br):
    """The OLS-against-Ridge row of the insights table (None without both)."""
    ols = metric_row(summary, ctx["ref"], "OLS")
    if ols is None or not br:
        return None
    where = f"OLS（L={fmt_level(ctx['ref'])}）test R² = {fmt_metric(ols['test_r2'])}"
    if ols_cutoff_driven(summary):
        return ("OLS 的数值随截断阈值变化，不反映过拟合或正则化的作用",
                f"{where}（截断路径各步的 test R² 见 Fig 1 的关键观察与 §6.4）；最佳 Ridge test R² = "
                f"{fmt_metric(br['test_r2'])}（{where_text(br)}）",
                "不以 OLS 与 Ridge 的差距解读泛化；" + (ols_cutoff_consequence(summary, ols["test_r2"])
                                                   or "线性泄露评估以最佳 Ridge 为准"))
    better = br["test_r2"] > ols["test_r2"]
    return ("正则化" + ("改善了" if better else "没有改善") + "线性模型的泛化",
            f"{where}；最佳 Ridge test R² = {fmt_metric(br['test_r2'])}（{where_text(br)}）",
            "线性泄露评估以最佳 Ridge 为准" if better else "线性泄露评估可直接以 OLS 为准")


def _level_rows(ctx):
    """The best test R² at each noise level > 0, as (level, row)."""
    out = []
    for L, rows in ctx["levels"].items():
        if L > ctx["zero"]:
            r = max(rows, key=lambda r: r["test_r2"] if is_number(r["test_r2"]) else -1e300)
            out.append((L, r))
    return out


def _levels_insight(ctx, thr):
    """Does the verdict depend on the noise level? One row from the best model of each level."""
    evid, differ = [], []
    for model in ("OLS", "LightGBM"):
        rs = [r for L, rows_ in ctx["levels"].items() if L > ctx["zero"] for r in rows_ if r["model"] == model]
        if rs:
            vals = [fmt_metric(r["test_r2"]) for r in rs]
            evid.append(f"{model} test R² " + "、".join(f"{v}（L={fmt_level(r['noise_level'])}）" for v, r in zip(vals, rs)))
            if len(set(vals)) > 1:
                differ.append(model)
    same = ("缩放不变的模型（OLS、LightGBM）在所有 L>0 上结果相同" if not differ else
            f"理论上缩放不变，但 {'、'.join(differ)} 的结果随 L 略有变化（数值精度或拟合设置）")
    per = _level_rows(ctx)
    evid.append("各水平最佳 test R²：" + "、".join(f"{fmt_metric(r['test_r2'])}（{r['model']}，L={fmt_level(L)}）" for L, r in per))
    below = {is_number(r["test_r2"]) and r["test_r2"] < float(thr) for _, r in per}
    if len(below) == 1:
        dec = f"每个 L>0 上的最佳 test R² 都{'低于' if below == {True} else '不低于'}阈值：结论不依赖于噪声水平"
    else:
        dec = "不同噪声水平上的结论不同：按最不利的水平判定，并报告每个水平的结果"
    if ctx["has_zero"]:
        z = ctx["levels"][ctx["zero"]]
        evid.append(f"L={fmt_level(ctx['zero'])} 全部模型 test R² = " + "、".join(sorted({fmt_metric(r['test_r2']) for r in z})))
        same += f"；L={fmt_level(ctx['zero'])} 输入恒为零而退化"
    return (f"噪声水平只改变输入的尺度：{same}", "；".join(evid) or "n/a", dec)


def _nonlinear_insight(summary):
    """LightGBM against the best Ridge: what one LightGBM setting can and cannot show."""
    bl, br = summary.get("best_lightgbm"), summary.get("best_ridge")
    if not (bl and br):
        return None
    checks = checks_of(summary)
    cis = checks["bootstrap"]["test_r2_ci95"] if checks else {}
    k1, k2 = f"L={bl['noise_level']:g} LightGBM", f"L={br['noise_level']:g} {br['model']}"
    c1 = cis[k1]["ci95"] if k1 in cis else None
    c2 = cis[k2]["ci95"] if k2 in cis else None
    ev = f"LightGBM test R² = {fmt_metric(bl['test_r2'])}；最佳 Ridge test R² = {fmt_metric(br['test_r2'])}（{where_text(br)}）"
    overlap = None
    if c1 and c2 and all(is_number(v) for v in (*c1, *c2)):
        ev += f"；95% 区间 [{fmt_metric(c1[0])}, {fmt_metric(c1[1])}] 与 [{fmt_metric(c2[0])}, {fmt_metric(c2[1])}]"
        overlap = c1[0] <= c2[1] and c2[0] <= c1[1]
    if bl["test_r2"] > br["test_r2"]:
        head = "非线性模型（LightGBM，单一参数设置）捕捉到了更多泄露信息" + ("，但两者区间重叠" if overlap else "")
        dec = "线性审计低估了泄露；去泄露后需用非线性模型复核"
    else:
        head = "本次的 LightGBM 设置没有超过线性模型" + ("（两者区间重叠）" if overlap else "")
        dec = "只试了一种 LightGBM 设置，不能据此断定线性审计已给出泄露上限；去泄露后仍应用非线性模型复核"
    return head, ev, dec


def insights_section(summary, ctx):
    gate, best = summary["gate"], summary["best"]
    thr = fmt_level(gate["threshold"])
    rows = []
    if ctx["passed"]:
        decision = "error vector 可以直接作为 gate 输入，进入 Gate-2"
    else:
        decision = "error vector 不能直接使用，进入 MVP-0.2（去泄露）"
    if gate.get("borderline"):
        decision += "；区间跨过阈值，属临界结果，需更多数据确认"
    if gate.get("blocked_by"):
        decision += "；输入检查阻止了通过，先修正输入"
    rows.append((f"error-only 泄露程度为{ctx['degree']}",
                 f"最佳 test R² = {fmt_metric(best['test_r2'])}（{where_text(best)}），阈值 {thr}"
                 + (f"；{GATE_REF}" if gate_phrase(gate) else ""), decision))
    name, rec = ctx["primary"]
    if rec:
        _, above = concentration_text(summary)
        head = {True: "重要性比无泄露时更集中", False: "Top-40 占比看不出集中", None: "重要性集中度无法判断"}[above]
        head += "；" + _where_words(summary)
        n_src = len(sources(summary))
        evidence = (f"Top-{ctx['top_k']} 占比是否高于置换零分布：{concentration_short(summary)}"
                    + (f"；区域重拟合认定 {n_src} 个泄露来源，各自的 R² 下降见 Fig 2 的关键观察与 §6.3"
                       if localisation(summary) else ""))
        rows.append((head, evidence, "去泄露的建议（屏蔽哪些区域、能否去除泄露）见 §5.3"))
    rows.append(_levels_insight(ctx, gate["threshold"]))
    ols_row = _ols_ridge_insight(summary, ctx, summary.get("best_ridge"))
    if ols_row:
        rows.append(ols_row)
    nl = _nonlinear_insight(summary)
    if nl:
        rows.append(nl)
    out = [HEADINGS["insights"], "", "| # | 洞见 | 证据 | 决策影响 |", "|---|------|------|----------|"]
    out += [f"| {i} | {a} | {b} | {c} |" for i, (a, b, c) in enumerate(rows, 1)]
    return "\n".join(out) + "\n\n---\n"


_GRAVITY_SENSITIVE = ("Ca", "Na", "Mg", "K")


def _where_words(summary) -> str:
    """Where the leak is, in a few words: the refits' sources, else the regions above the share null."""
    if localisation(summary):
        names = source_names(summary)
        return f"区域重拟合认定的泄露来源：{names}" if names else "区域重拟合没有指认任何泄露来源"
    regions = regions_above(summary)
    return ("高于零分布的目录区域：" + "、".join(r["name_zh"] for r in regions) if regions
            else "没有目录区域（谱线、大气吸收带、天光发射区）的重要性高于零分布")


def _findings(summary, ctx):
    gate, best = summary["gate"], summary["best"]
    name, rec = ctx["primary"]
    extra = GATE_REF if gate_phrase(gate) else ""
    out = [
        f"- 以 error vector（{int(summary['data']['n_pixels'])} 维）为唯一输入预测 log_g，最佳 test R² = "
        f"{fmt_metric(best['test_r2'])}（{where_text(best)}，{selection_text(gate)}），test MAE = {fmt_metric(best['test_mae'])}，"
        f"test RMSE = {fmt_metric(best['test_rmse'])}；泄露程度: {ctx['degree']}" + (f"（{extra}）。" if extra else "。"),
        f"- 最佳 Ridge test R² = {ridge_cell(summary)}；LightGBM test R² = {lgbm_cell(summary, ctx)}。",
    ]
    if rec:
        out.append(f"- 重要性是否集中在特定 {ctx['top_k']} 个位置？{concentration_short(summary)}；"
                   "泄露在哪里见关键洞见 2。")
    if is_ols_name(best["model"]) and ols_cutoff_driven(summary):
        out.append(f"- 最佳模型 {best['model']} 的 test R² 随截断阈值变化：各步的数值见 Fig 1 的关键观察，"
                   "对判定的含义见关键洞见 4。")
    if ctx["has_zero"]:
        out.append(f"- L={fmt_level(ctx['zero'])} 时输入恒为零，所有模型退化为截距，这一水平不提供泄露信息。")
    if gate.get("borderline"):
        out.append("- 最佳 test R² 的选择校正区间跨过阈值，属临界结果（见 §5.2）；需要更多数据确认。")
    if blocked_texts(summary):
        out.append("- 输入检查阻止了通过（见 §5.2）。")
    return out


def _implications(summary, ctx):
    gate = summary["gate"]
    if ctx["passed"]:
        out = ["- error vector 对 log_g 几乎不携带信息，可直接作为 gate 输入进入 Gate-2。",
               "- 仍建议在新的数据批次上重复本审计。"]
    elif gate.get("blocked_by") and is_number(gate.get("best_test_r2")) and gate["best_test_r2"] < gate["threshold"]:
        out = ["- 未通过来自输入检查（见上文 Gate-1 判定），而不是拟合的 R² 超过阈值：先修正输入（划分、标签分布或坏像素模式），"
               "再用同一审计复核。"]
    else:
        out = ["- error vector 携带 log_g 信息，直接用于 gate 会让 gate 学到标签泄露；先进入 MVP-0.2 去泄露。",
               "- 去泄露候选：按光谱中位数归一化 error、只使用标量 SNR 摘要，或屏蔽区域重拟合认定的泄露来源，"
               "然后用同一审计复核 R² 是否低于阈值。"]
    if primary_importance_of(summary)[1]:
        out.append(f"- 重要性的位置：{importance_decision(summary)}。")
    # a physical reading only for lines whose removal lowers R² (alone-only: the band around them may carry it)
    named = ([r for r in sources(summary) if "drop" in r["why"]] if localisation(summary)
             else regions_above(summary))
    stellar = [r for r in named if r["kind"] == "stellar"]
    if stellar:
        gravity = [r["name_zh"] for r in stellar if r["name_zh"].split(" ")[0] in _GRAVITY_SENSITIVE]
        why = (f"其中 {'、'.join(gravity)} 对表面重力敏感，这是泄露的一个可能物理来源" if gravity else
               "这些谱线本身不以对表面重力敏感著称，泄露可能经由与 log_g 相关的其他参数")
        what = "删去后 R² 明显下降的恒星谱线" if localisation(summary) else "高于零分布的恒星谱线"
        out.append(f"- {what}（{'、'.join(r['name_zh'] for r in stellar)}）：光子噪声下 σ 随 flux 变化，"
                   f"error 谱会印上谱线深度；{why}。")
    return out


def _gate_notes(summary) -> str:
    """The borderline sentence and the blocking input checks under the Gate-1 verdict (may be empty)."""
    gate = summary["gate"]
    lines = [borderline_text(gate)] if gate.get("borderline") else []
    lines += [f"输入检查阻止了通过：{t}" for t in blocked_texts(summary)]
    lines += untested_texts(summary)
    return "".join(f"\n- {x}。" for x in lines)


def conclusion_section(summary, ctx):
    gate, best = summary["gate"], summary["best"]
    thr = fmt_level(gate["threshold"])
    pass_box, fail_box = ("[x]", "[ ]") if ctx["passed"] else ("[ ]", "[x]")
    what = "R² 选择校正区间上端" if gate.get("rule") == "strict" else "R²"
    return f"""{HEADINGS['conclusions']}

{HEADINGS['findings']}
{chr(10).join(_findings(summary, ctx))}

{HEADINGS['gate'].format(gate=gate['name'])}
- {pass_box} 通过 ({what} < {thr}) → 进入 Gate-2{'（临界通过：进入前需更多数据确认）' if ctx['passed'] and gate.get('borderline') else ''}
- {fail_box} 未通过 ({what} ≥ {thr}{'，或输入检查阻止通过' if gate.get('blocked_by') else ''}) → 进入 MVP-0.2 (去泄露)

最佳 test R² = {fmt_metric(best['test_r2'])}（{where_text(best)}）→ {verdict_words(gate)}。{rule_text(gate)}。
{''.join(chr(10) + '- ' + x + '。' for x in gate_points(gate))}{_gate_notes(summary)}

{HEADINGS['implications']}
{chr(10).join(_implications(summary, ctx))}

---
"""
