"""Markdown report of one finished audit, in the user's experiment template.

Everything is read from the summary (see docs/internals.md); nothing is recomputed. Every number
printed is a summary value formatted with a fixed number of decimals, so that
`daudit.output.report.numbers_not_in_summary` can verify the report against the summary.
"""

__all__ = ["render_report", "leakage_degree"]

from daudit.core.schema import quick_run
from daudit.output.report.appendix import importance_appendix
from daudit.output.report.conclusions import conclusion_section, insights_section
from daudit.output.report.constants import HEADINGS, R2_AXIS_FLOOR
from daudit.output.report.format import (
    fmt_count,
    image_link,
    is_number,
    fmt_level,
    fmt_pct,
    primary_importance_of,
    fmt_metric,
    require_summary,
    metric_row,
    rows_by_level,
    is_truthy,
    fmt_wave,
    where_text,
    leakage_degree,
)
from daudit.output.report.gate import (
    blocked_texts,
    GATE_REF,
    gate_phrase,
    short_interval,
    lgbm_cell,
    ridge_cell,
    rule_text,
    selection_text,
    status_badge,
    untested_texts,
    verdict_words,
)
from daudit.output.report.localisation import localisation_text
from daudit.output.report.importance import (
    concentration_short,
    concentration_text,
    group_text,
    importance_null,
    lightgbm_share_text,
    peak_text,
    positions_text,
    region_text,
)
from daudit.output.report.linear import (
    ols_cutoff_driven,
    ols_path_words,
    resolution_appendix,
    scale_lines,
)
from daudit.output.report.points import as_points
from daudit.output.report.sanity import render_sanity
from daudit.output.report.words import checks_that_ran, lightgbm_rows_text


# ---------------------------------------------------------------- sections
def _quick_words(summary) -> str:
    """"快速运行（...）：" opening the one-line summary of a quick run: the sample, the lighter nulls."""
    s = summary["spec"]["sanity"]
    rows = ((summary.get("data") or {}).get("splits") or {}).get("train", {}).get("n_rows")
    sample = f"训练集 {fmt_count(rows)} 行，" if rows else ""
    lgbm = "，没有 LightGBM 置换零分布" if not s.get("n_permutations_lightgbm") else ""
    return (f"快速运行（`run --quick`：{sample}线性模型标签置换 {s['n_permutations_linear']} 次，bootstrap "
            f"{s['n_bootstrap']} 次{lgbm}；只作初看，正式结论需完整运行）：")


def _header(summary):
    spec = summary.get("spec") or {}
    author = spec.get("author") or "未填写（在 spec 中设置 `author:`）"
    status = status_badge(summary["gate"]) + (" (quick run)" if quick_run(summary) else "")
    quick = " (quick run, not a full audit)" if quick_run(summary) else ""
    return f"""# 📗 {summary['experiment_id']}: Error-Only Leakage Baseline{quick}

> **MVP:** 0.1 | **Gate:** Gate-1 (Leakage Audit)
> **Author:** {author} | **Date:** {summary['date']} | **Status:** {status}

---

{HEADINGS['upstream']}

| 类型 | 链接 |
|------|------|
| Hub | `moe_snr_hub.md` §DG1 |
| Roadmap | `moe_snr_roadmap.md` MVP-0.1 |
| Session | - |

---
"""


def _overview(summary, ctx):
    best, gate = summary["best"], summary["gate"]
    thr = fmt_level(gate["threshold"])
    box, h1 = ("[x]", "成立") if ctx["passed"] else ("[ ]", "不成立")
    borderline = "；区间跨过阈值，属于临界结果" if gate.get("borderline") else ""
    degree = ctx["degree"] + ("（仅按点估计）" if gate.get("borderline") else "")
    notes = ["选择校正区间跨过阈值（见 §5.2）"] if gate.get("borderline") else []
    notes += ["输入检查阻止了通过（见 §5.2）"] if blocked_texts(summary) else []
    notes += ["坏像素模式未检验（见 §5.2）"] if untested_texts(summary) else []
    verdict = verdict_words(gate) + "".join(f"；{t}" for t in notes)
    extra = GATE_REF if gate_phrase(gate) else ""
    name, rec = ctx["primary"]
    share_row = (f"{fmt_pct(rec['top_k_share'])}（{name}，{rec.get('kind', '-')}，L={fmt_level(ctx['ref'])}）；集中吗？"
                 f"{concentration_short(summary)}"
                 if rec else "n/a（本次运行没有重要性结果）")
    ci = short_interval(gate)
    return f"""{HEADINGS['overview']}

**一句话**: {_quick_words(summary) if quick_run(summary) else ''}error-only 最佳 test R² = {fmt_metric(best['test_r2'])}（{where_text(best)}，{selection_text(gate)}），泄露程度 = {degree}；{gate['name']} {verdict}。{rule_text(gate)}。

**假设验证**（勾选 = 本次数据验证成立；箭头后为结果）:
- {box} H1: error vector 预测 logg 的 R² < {thr} → {h1}：所有 L>{fmt_level(ctx['zero'])} 的模型中最佳 test R² = {fmt_metric(best['test_r2'])}（{where_text(best)}）{('；' + extra) if extra else ''}{borderline}

**关键数字**:
| 指标 | 值 |
|------|---|
| error-only R² (Ridge best) | {ridge_cell(summary)} |
| error-only R² (LightGBM) | {lgbm_cell(summary, ctx)} |
| Top-{ctx['top_k']} 像素贡献占比 | {share_row} |
| 全部模型最佳 test R² | {fmt_metric(best['test_r2'])}（{where_text(best)}，{selection_text(gate)}），{gate['name']} 阈值 {thr}{('；' + ci + '（见 §5.2）') if ci else ''} |
{_backend_row(gate)}
---

{HEADINGS['goal']}

量化 error vector 的"泄露程度"：
1. 如果 error-only R² 接近 0 → error 不携带天体参数信息，可直接用于 gate
2. 如果 error-only R² 很高 → error 携带泄露信息，需要去泄露后再用

---
"""


def _backend_row(gate) -> str:
    """The LightGBM backend beside the gate (a verdict near the threshold is read with it)."""
    name = gate.get("lightgbm_backend")
    if not name:
        return ""
    how = ("单进程训练：同一计划在任何机器上得到相同的树" if name == "in-process" else
           "在 Dask workers 上数据并行训练（分箱边界来自同一份共享样本）：树与单进程训练可能不同，"
           "R² 可相差几个百分点，接近阈值的结论请结合这一点阅读")
    return f"| LightGBM 后端 | `{name}`：{how} |\n"


def _design(summary, ctx):
    data = summary["data"]
    splits = data["splits"]
    lgb = summary.get("lightgbm") or {}
    levels = "、".join(fmt_level(v) for v in summary["noise_levels"])
    alphas = ", ".join(fmt_level(a) for a in summary["alphas"])
    fill = "；".join(
        f"{name}: 填补 NaN {int(splits[name]['n_nan_filled'])} 个，"
        f"填补后非有限值 {int(splits[name].get('n_nonfinite_after_fill', 0))} 个，"
        f"非正值 {int(splits[name].get('n_nonpositive', 0))} 个"
        for name in ("train", "val", "test") if name in splits)
    lines = [
        HEADINGS["design"],
        "",
        HEADINGS["data"],
        f"- 数据来源: `{data.get('source') or ', '.join(splits['train'].get('paths') or []) or 'n/a'}`",
        f"- 训练集: {fmt_count(splits['train']['n_rows'])}，验证集: {fmt_count(splits['val']['n_rows'])}，"
        f"测试集: {fmt_count(splits['test']['n_rows'])}",
        f"- 输入: error vector（{int(data['n_pixels'])} 维，波长 {fmt_wave(data['wave_min'])}–{fmt_wave(data['wave_max'])} Å），从不使用 flux",
        f"- 输出: {data.get('param', 'log_g')}",
        f"- 缺失值: {fill}",
        f"- 噪声水平 L = {levels}：水平 L 表示用户模型看到的 flux 为 flux + L·σ·ε（ε 为标准正态随机数），"
        "与之配套的 error vector 为 L·σ，因此本审计在水平 L 的输入为 X_L = L·σ。",
        f"- L={fmt_level(ctx['zero'])} 时输入恒为零，所有模型退化为只拟合截距（metrics 中标记为 `degenerate`），"
        "其 R² 不含任何信息，只作为对照。" if ctx["has_zero"] else
        "- 本次运行不含 L=0（输入恒为零的退化情形）。",
    ]
    if lgb:
        lines.append(
            f"- LightGBM 对输入的正缩放不变（树的分裂只依赖特征取值的排序），因此所有 L>{fmt_level(ctx['zero'])} "
            f"共用同一次拟合；{lightgbm_rows_text(lgb)}。")
    lines += [
        "- OLS 对输入缩放不变；Ridge(α) 在水平 L 上等价于 Ridge(α/L²) 在单位噪声水平上，"
        "因此不同 L 的 Ridge 结果相当于在更宽的 α 网格上扫描。",
        "",
        HEADINGS["models"],
        "- LinearRegression (OLS)",
        f"- Ridge (alpha = {alphas})",
        *scale_lines(summary),
        "- LightGBM" + (f"（{_params(lgb.get('params'))}）" if lgb.get("params") else ""),
        "",
        HEADINGS["checks"],
        *checks_that_ran(summary),
    ]
    return "\n".join(lines) + "\n\n---\n"


def _params(params):
    def fmt(v):
        if isinstance(v, float):
            return f"{v:g}"
        return str(v)
    return ", ".join(f"{k}={fmt(v)}" for k, v in params.items())


def _fig1_observation(summary, ctx):
    gate, best = summary["gate"], summary["best"]
    thr = fmt_level(gate["threshold"])
    rel = "低于" if ctx["passed"] else "不低于"
    obs = [f"所有 L>{fmt_level(ctx['zero'])} 的模型中最佳 test R² = {fmt_metric(best['test_r2'])}（{where_text(best)}），"
           f"{rel} {gate['name']} 阈值 {thr}"]
    lgb_rows = [r for L, rows in ctx["levels"].items() if L != ctx["zero"]
                for r in rows if r["model"] == "LightGBM"]
    if len(lgb_rows) > 1:
        vals = [fmt_metric(r["test_r2"]) for r in lgb_rows]
        same = "完全相同" if len(set(vals)) == 1 else "不完全相同"
        obs.append("LightGBM 在 " + "、".join(f"L={fmt_level(r['noise_level'])}" for r in lgb_rows)
                   + " 的 test R² 分别为 " + "、".join(vals) + f"，{same}（同一次拟合，输入缩放不变）")
    ols = metric_row(summary, ctx["ref"], "OLS")
    if ols is not None:
        gap = (ols["train_r2"] - ols["test_r2"]) if is_number(ols["train_r2"]) and is_number(ols["test_r2"]) else 0
        driven = ols_cutoff_driven(summary)
        if driven:
            verdict = (f"这个数值随截断阈值变化（{ols_path_words(summary)}），"
                       "其训练集与测试集的差距不能解释为过拟合")
        else:
            verdict = "训练集明显高于测试集，说明 OLS 在高维 error 输入上有过拟合" if gap > 0.01 else "训练集与测试集接近，没有明显过拟合"
            if driven is False:
                verdict += f"（{ols_path_words(summary)}，对截断不敏感）"
        obs.append(f"OLS（L={fmt_level(ctx['ref'])}）train R² = {fmt_metric(ols['train_r2'])}，test R² = {fmt_metric(ols['test_r2'])}：{verdict}")
    if ctx["has_zero"]:
        z = ctx["levels"][ctx["zero"]]
        tests = sorted({fmt_metric(r["test_r2"]) for r in z})
        obs.append(f"L={fmt_level(ctx['zero'])} 面板为退化情形（输入恒为零），所有模型只剩截距，test R² = "
                   + "、".join(tests))
    if ctx["min_r2"] is not None and ctx["min_r2"] < 0:
        clipped = "，低于坐标轴下限的柱子被截断并以斜线标出（数值见 §6.1）" if ctx["min_r2"] < R2_AXIS_FLOOR else ""
        obs.append(f"负 R² 表示不如常数预测；最低的 R² 为 {fmt_metric(ctx['min_r2'])}（{ctx['min_where']}）{clipped}")
    return "；".join(obs) + "。"


def _fig2_observation(summary, ctx):
    """The observations under Fig 2, one short point each (a long list becomes sub-points)."""
    _, rec = ctx["primary"]
    if not rec:
        return "summary 中没有重要性结果。"
    answer, _ = concentration_text(summary)
    parts = [f"高重要性像素是否集中在特定 {ctx['top_k']} 个位置？{answer}。", localisation_text(summary),
             region_text(summary), peak_text(summary), group_text(summary), lightgbm_share_text(summary),
             positions_text(summary), f"各重要性度量的 Top-{ctx['top_k']} 占比与零分布见 §6.3。"]
    return "\n" + "\n".join(line for p in parts if p for line in as_points(p))


def _figures_section(summary, ctx):
    gate = summary["gate"]
    thr = fmt_level(gate["threshold"])
    top_k = ctx["top_k"]
    name, rec = ctx["primary"]
    fig3, _ = render_sanity(summary)
    what = _KIND_WORDS.get((rec or {}).get("kind"), "重要性")
    ref = fmt_level(ctx["ref"])
    null = importance_null(summary)
    has_null = bool(null and null["linear"])
    null_words = ("；浅橙色阴影是逐像素的族校正置换零分布阈值以下的范围（阈值的中位数与最大值写在图例中；阈值高出纵轴时"
                  "阴影画到顶，纵轴始终按重要性本身缩放），高于阈值的像素每一段相邻像素在其中最高者处画一个黑圈"
                  if has_null else "")
    hist_null = "及其置换零分布的 95% 分位" if has_null else ""
    return f"""{HEADINGS['figures']}

{HEADINGS['fig1']}
{image_link(summary, 'r2_models', 'r2_models')}
**描述**: 每个模型（OLS、各 alpha 的 Ridge、LightGBM）在每个噪声水平（每个面板一个 L）下的 train/val/test R²；虚线为 {gate['name']} 阈值 R² = {thr}。
**关键观察**: {_fig1_observation(summary, ctx)}

{HEADINGS['fig2']}
{image_link(summary, 'importance_spectrum', 'importance')}
**描述**: 参考噪声水平 L={ref} 下 {name} 的逐像素{what}随波长（Å）的分布；灰线为平均 error 谱（右轴；尖峰远高于其余部分时用对数坐标），红点为 Top-{top_k} 像素（相邻像素的点会重叠时只画其中最高的一个）{null_words}；点线为恒星谱线，浅蓝色区域为大气吸收带，浅紫色区域为天光发射区（取自波长特征目录 `daudit.data.catalogue`）。

{image_link(summary, 'importance_hist', 'importance_hist')}
**描述**: 重要性分布（对数横轴）以及按重要性从高到低排序的累计占比曲线，标注了 Top-{top_k} 的占比{hist_null}。
**关键观察**: {_fig2_observation(summary, ctx)}

{HEADINGS['fig3']}
{fig3}

---
"""


_KIND_WORDS = {"abs_coef_x_std": "重要性（按验证集 R² 选出的线性模型的 |coef|·std）",
               "abs_coef": "重要性（|coef|）", "gain": "重要性（LightGBM 增益）", "split": "重要性（LightGBM 分裂次数）"}


# species whose lines in this range are classic surface-gravity indicators of cool stars


def _appendix(summary, ctx):
    out = [HEADINGS["appendix"], "", HEADINGS["results"], "",
           "| L | Model | Train R² | Val R² | Test R² | Val MAE | Val RMSE | MAE (test) | RMSE (test) |",
           "|---|-------|----------|--------|---------|---------|----------|------------|-------------|"]
    for level, rows in ctx["levels"].items():
        for r in rows:
            tag = "（退化）" if is_truthy(r.get("degenerate")) else ""
            out.append(f"| {fmt_level(level)} | {r['model']}{tag} | {fmt_metric(r['train_r2'])} | {fmt_metric(r['val_r2'])} | "
                       f"{fmt_metric(r['test_r2'])} | {fmt_metric(r['val_mae'])} | {fmt_metric(r['val_rmse'])} | "
                       f"{fmt_metric(r['test_mae'])} | {fmt_metric(r['test_rmse'])} |")
    _, sanity = render_sanity(summary)
    out += ["", HEADINGS["sanity"], "", sanity, ""]
    out += importance_appendix(summary, ctx["top_k"], ctx["ref"])
    res = resolution_appendix(summary)
    if res:
        out += [""] + res
    timings = summary.get("timings") or {}
    if is_number(timings.get("total_seconds")):
        out += ["", f"运行总耗时 {timings['total_seconds']:.1f} s。"]
    return "\n".join(out) + "\n"


def render_report(summary):
    """Render the experiment report of a finished audit.

    Parameters
    ----------
    summary : dict
        The content of summary.json (schema in docs/internals.md). ``summary["sanity"]`` may be
        absent; the report then says so in place.

    Returns
    -------
    str
        Markdown in the user's template: English headings, Chinese body, image links relative to
        the report. Every number in it is a summary value (see `numbers_not_in_summary`).

    Raises
    ------
    DauditError
        If the summary lacks a key the report needs.
    """
    require_summary(summary)
    gate = summary["gate"]
    passed = gate["verdict"] == "PASS"
    levels = rows_by_level(summary)
    imp = summary.get("importance") or {}
    positive = [L for L in levels if L > 0]
    zero = 0.0
    r2s = [(r[k], f"{r['model']}，L={fmt_level(L)}，{k.split('_')[0]}") for L in positive
           for r in levels[L] for k in ("train_r2", "val_r2", "test_r2") if is_number(r[k])]
    ctx = {
        "passed": passed,
        "degree": gate.get("leakage_degree") or leakage_degree(gate["best_test_r2"]),
        "levels": levels,
        "zero": zero,
        "has_zero": zero in levels,
        "imp": imp,
        "ref": float(imp.get("reference_noise_level", max(levels))),
        "top_k": int(imp["top_k"]) if is_number(imp.get("top_k")) else "k",
        "primary": primary_importance_of(summary),
        "min_r2": min(r2s)[0] if r2s else None,
        "min_where": min(r2s)[1] if r2s else "",
    }
    parts = [
        _header(summary),
        _overview(summary, ctx),
        _design(summary, ctx),
        _figures_section(summary, ctx),
        insights_section(summary, ctx),
        conclusion_section(summary, ctx),
        _appendix(summary, ctx),
    ]
    return "\n".join(parts)
