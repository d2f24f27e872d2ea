"""Markdown report of one finished audit, in the user's experiment template.

Everything is read from the summary (see docs/internals.md); nothing is recomputed. Every number
printed is a summary value formatted with a fixed number of decimals, so that
`daudit.output.report.numbers_not_in_summary` can verify the report against the summary.
"""

__all__ = ["render_report", "leakage_degree"]

from daudit.output.report.appendix import importance_appendix
from daudit.output.report.constants import R2_AXIS_FLOOR
from daudit.output.report.format import (
    _best_txt,
    _count,
    _image,
    _isnum,
    _lv,
    _pct,
    _primary,
    _r,
    _require,
    _row,
    _rows_by_level,
    _truthy,
    _w,
    _where,
    leakage_degree,
)
from daudit.output.report.gate import interval_text, pvalue_text, selection_text, val_selected_text
from daudit.output.report.importance import (
    concentration_text,
    group_text,
    importance_decision,
    lightgbm_share_text,
    peak_text,
    positions_text,
    region_text,
    regions_above,
)
from daudit.output.report.linear import (
    ols_cutoff_consequence,
    ols_cutoff_driven,
    ols_sensitivity_words,
    resolution_appendix,
    scale_lines,
)
from daudit.output.report.sanity import _render_sanity
from daudit.output.report.words import checks_that_ran, lightgbm_rows_text


# ---------------------------------------------------------------- sections
def _header(summary, passed):
    spec = summary.get("spec") or {}
    author = spec.get("author") or "未填写（在 spec 中设置 `author:`）"
    status = "✅ PASS" if passed else "❌ FAIL"
    return f"""# 📗 {summary['experiment_id']}: Error-Only Leakage Baseline

> **MVP:** 0.1 | **Gate:** Gate-1 (Leakage Audit)
> **Author:** {author} | **Date:** {summary['date']} | **Status:** {status}

---

## 🔗 上游追溯

| 类型 | 链接 |
|------|------|
| Hub | `moe_snr_hub.md` §DG1 |
| Roadmap | `moe_snr_roadmap.md` MVP-0.1 |
| Session | - |

---
"""


def _lgbm_cell(summary, ctx):
    """LightGBM's key number: tied to one level only when the levels disagree."""
    rows = [r for L, rs in ctx["levels"].items() if L != ctx["zero"] for r in rs if r["model"] == "LightGBM"]
    rec = summary.get("best_lightgbm")
    if rec and len(rows) > 1 and len({_r(r["test_r2"]) for r in rows}) == 1:
        return f"{_r(rec['test_r2'])}（LightGBM，所有 L>{_lv(ctx['zero'])} 相同：同一次拟合）"
    return _best_txt(rec)


def _ridge_cell(summary):
    """Ridge's key number: the test-selected best and, beside it, the validation-selected one."""
    rec = summary.get("best_ridge")
    if not rec:
        return _best_txt(rec)
    out = f"{_r(rec['test_r2'])}（{_where(rec)}，按 test R² 选出）"
    vs = (summary.get("selected_by_val") or {}).get("ridge")
    if vs:
        out += f"；按验证集 R² 选出：{_r(vs['test_r2'])}（{_where(vs)}）"
    return out


def _gate_phrase(gate):
    """The gate statistic's interval, the val-selected model and the nulls, as one clause list."""
    return "；".join(x for x in (interval_text(gate), val_selected_text(gate), pvalue_text(gate)) if x)


def _overview(summary, ctx):
    best, gate = summary["best"], summary["gate"]
    thr = _lv(gate["threshold"])
    box, h1 = ("[x]", "成立") if ctx["passed"] else ("[ ]", "不成立")
    borderline = "；区间跨过阈值，属于临界结果" if gate.get("borderline") else ""
    extra = _gate_phrase(gate)
    answer, _ = concentration_text(summary)
    name, rec = ctx["primary"]
    share_row = (f"{_pct(rec['top_k_share'])}（{name}，{rec.get('kind', '-')}，L={_lv(ctx['ref'])}）；集中吗？{answer}"
                 if rec else "n/a（本次运行没有重要性结果）")
    ci = interval_text(gate)
    return f"""## ⚡ 核心结论速览

**一句话**: error-only 最佳 test R² = {_r(best['test_r2'])}（{_where(best)}，{selection_text(gate)}），泄露程度 = {ctx['degree']}；{gate['name']} {'通过' if ctx['passed'] else '未通过'}。

**假设验证**（勾选 = 本次数据验证成立；箭头后为结果）:
- {box} H1: error vector 预测 logg 的 R² < {thr} → {h1}：所有 L>{_lv(ctx['zero'])} 的模型中最佳 test R² = {_r(best['test_r2'])}（{_where(best)}）{('；' + extra) if extra else ''}{borderline}

**关键数字**:
| 指标 | 值 |
|------|---|
| error-only R² (Ridge best) | {_ridge_cell(summary)} |
| error-only R² (LightGBM) | {_lgbm_cell(summary, ctx)} |
| Top-{ctx['top_k']} 像素贡献占比 | {share_row} |
| 全部模型最佳 test R² | {_r(best['test_r2'])}（{_where(best)}，{selection_text(gate)}），{gate['name']} 阈值 {thr}{('；' + ci) if ci else ''} |
{_backend_row(gate)}
---

## 🎯 目标

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
           "R² 约在小数点后第三位上有差别，接近阈值的结论请结合这一点阅读")
    return f"| LightGBM 后端 | `{name}`：{how} |\n"


def _design(summary, ctx):
    data = summary["data"]
    splits = data["splits"]
    lgb = summary.get("lightgbm") or {}
    levels = "、".join(_lv(v) for v in summary["noise_levels"])
    alphas = ", ".join(_lv(a) for a in summary["alphas"])
    fill = "；".join(
        f"{name}: 填补 NaN {int(splits[name]['n_nan_filled'])} 个，"
        f"填补后非有限值 {int(splits[name].get('n_nonfinite_after_fill', 0))} 个，"
        f"非正值 {int(splits[name].get('n_nonpositive', 0))} 个"
        for name in ("train", "val", "test") if name in splits)
    lines = [
        "## 🧪 实验设计",
        "",
        "### 2.1 数据",
        f"- 数据来源: `{data.get('source') or ', '.join(splits['train'].get('paths') or []) or 'n/a'}`",
        f"- 训练集: {_count(splits['train']['n_rows'])}，验证集: {_count(splits['val']['n_rows'])}，"
        f"测试集: {_count(splits['test']['n_rows'])}",
        f"- 输入: error vector（{int(data['n_pixels'])} 维，波长 {_w(data['wave_min'])}–{_w(data['wave_max'])} Å），从不使用 flux",
        f"- 输出: {data.get('param', 'log_g')}",
        f"- 缺失值: {fill}",
        f"- 噪声水平 L = {levels}：水平 L 表示用户模型看到的 flux 为 flux + L·σ·ε（ε 为标准正态随机数），"
        "与之配套的 error vector 为 L·σ，因此本审计在水平 L 的输入为 X_L = L·σ。",
        f"- L={_lv(ctx['zero'])} 时输入恒为零，所有模型退化为只拟合截距（metrics 中标记为 `degenerate`），"
        "其 R² 不含任何信息，只作为对照。" if ctx["has_zero"] else
        "- 本次运行不含 L=0（输入恒为零的退化情形）。",
    ]
    if lgb:
        lines.append(
            f"- LightGBM 对输入的正缩放不变（树的分裂只依赖特征取值的排序），因此所有 L>{_lv(ctx['zero'])} "
            f"共用同一次拟合；{lightgbm_rows_text(lgb)}。")
    lines += [
        "- OLS 对输入缩放不变；Ridge(α) 在水平 L 上等价于 Ridge(α/L²) 在单位噪声水平上，"
        "因此不同 L 的 Ridge 结果相当于在更宽的 α 网格上扫描。",
        "",
        "### 2.2 模型",
        "- LinearRegression (OLS)",
        f"- Ridge (alpha = {alphas})",
        *scale_lines(summary),
        "- LightGBM" + (f"（{_params(lgb.get('params'))}）" if lgb.get("params") else ""),
        "",
        "### 2.3 Sanity Checks",
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
    thr = _lv(gate["threshold"])
    rel = "低于" if ctx["passed"] else "不低于"
    obs = [f"所有 L>{_lv(ctx['zero'])} 的模型中最佳 test R² = {_r(best['test_r2'])}（{_where(best)}），"
           f"{rel} {gate['name']} 阈值 {thr}"]
    lgb_rows = [r for L, rows in ctx["levels"].items() if L != ctx["zero"]
                for r in rows if r["model"] == "LightGBM"]
    if len(lgb_rows) > 1:
        vals = [_r(r["test_r2"]) for r in lgb_rows]
        same = "完全相同" if len(set(vals)) == 1 else "不完全相同"
        obs.append("LightGBM 在 " + "、".join(f"L={_lv(r['noise_level'])}" for r in lgb_rows)
                   + " 的 test R² 分别为 " + "、".join(vals) + f"，{same}（同一次拟合，输入缩放不变）")
    ols = _row(summary, ctx["ref"], "OLS")
    if ols is not None:
        gap = (ols["train_r2"] - ols["test_r2"]) if _isnum(ols["train_r2"]) and _isnum(ols["test_r2"]) else 0
        driven = ols_cutoff_driven(summary)
        if driven:
            verdict = (f"这个数值由分辨阈值决定（{ols_sensitivity_words(summary)}），"
                       "其训练集与测试集的差距不能解释为过拟合")
        else:
            verdict = "训练集明显高于测试集，说明 OLS 在高维 error 输入上有过拟合" if gap > 0.01 else "训练集与测试集接近，没有明显过拟合"
            if driven is False:
                verdict += f"（{ols_sensitivity_words(summary)}，对截断不敏感）"
        obs.append(f"OLS（L={_lv(ctx['ref'])}）train R² = {_r(ols['train_r2'])}，test R² = {_r(ols['test_r2'])}：{verdict}")
    if ctx["has_zero"]:
        z = ctx["levels"][ctx["zero"]]
        tests = sorted({_r(r["test_r2"]) for r in z})
        obs.append(f"L={_lv(ctx['zero'])} 面板为退化情形（输入恒为零），所有模型只剩截距，test R² = "
                   + "、".join(tests))
    if ctx["min_r2"] is not None and ctx["min_r2"] < 0:
        clipped = "，低于坐标轴下限的柱子被截断并以斜线标出（数值见 §6.1）" if ctx["min_r2"] < R2_AXIS_FLOOR else ""
        obs.append(f"负 R² 表示不如常数预测；最低的 R² 为 {_r(ctx['min_r2'])}（{ctx['min_where']}）{clipped}")
    return "；".join(obs) + "。"


def _fig2_observation(summary, ctx):
    _, rec = ctx["primary"]
    if not rec:
        return "summary 中没有重要性结果。"
    answer, _ = concentration_text(summary)
    parts = [f"{answer}。", region_text(summary), peak_text(summary), group_text(summary),
             lightgbm_share_text(summary), positions_text(summary)]
    return " ".join(p for p in parts if p) + f" 各重要性度量的 Top-{ctx['top_k']} 占比与零分布见 §6.3。"


def _figures_section(summary, ctx):
    gate = summary["gate"]
    thr = _lv(gate["threshold"])
    top_k = ctx["top_k"]
    name, rec = ctx["primary"]
    fig3, _ = _render_sanity(summary)
    what = _KIND_WORDS.get((rec or {}).get("kind"), "重要性")
    ref = _lv(ctx["ref"])
    has_null = bool(((summary.get("sanity") or {}).get("importance_null") or {}).get("linear"))
    null_words = "；橙色虚线为逐像素的族校正置换零分布阈值，高于它的像素以黑圈标出" if has_null else ""
    hist_null = "及其置换零分布的 95% 分位" if has_null else ""
    return f"""## 📊 实验图表

### Fig 1: Error-Only R² Across Models
{_image(summary, 'r2_models', 'r2_models')}
**描述**: 每个模型（OLS、各 alpha 的 Ridge、LightGBM）在每个噪声水平（每个面板一个 L）下的 train/val/test R²；虚线为 {gate['name']} 阈值 R² = {thr}。
**关键观察**: {_fig1_observation(summary, ctx)}

### Fig 2: Feature Importance Spectrum
{_image(summary, 'importance_spectrum', 'importance')}
**描述**: 参考噪声水平 L={ref} 下 {name} 的逐像素{what}随波长（Å）的分布；灰线为平均 error 谱（右轴），红点为 Top-{top_k} 像素{null_words}；点线为恒星谱线，浅蓝色区域为大气吸收带，浅紫色区域为天光发射区（取自波长特征目录 `daudit.data.catalogue`）。

{_image(summary, 'importance_hist', 'importance_hist')}
**描述**: 重要性分布（对数横轴）以及按重要性从高到低排序的累计占比曲线，标注了 Top-{top_k} 的占比{hist_null}。
**关键观察**: 高重要性像素是否集中在特定 {top_k} 个位置？{_fig2_observation(summary, ctx)}

### Fig 3: Sanity Check Results
{fig3}

---
"""


def _ols_ridge_insight(summary, ctx, br):
    """The OLS-against-Ridge row of the insights table (None without both)."""
    ols = _row(summary, ctx["ref"], "OLS")
    if ols is None or not br:
        return None
    where = f"OLS（L={_lv(ctx['ref'])}）test R² = {_r(ols['test_r2'])}"
    if ols_cutoff_driven(summary):
        return ("OLS 的数值由分辨阈值决定，不反映过拟合或正则化的作用",
                f"{where}；{ols_sensitivity_words(summary)}；最佳 Ridge test R² = {_r(br['test_r2'])}（{_where(br)}）",
                "不以 OLS 与 Ridge 的差距解读泛化；" + (ols_cutoff_consequence(summary, ols["test_r2"])
                                                   or "线性泄露评估以最佳 Ridge 为准"))
    better = br["test_r2"] > ols["test_r2"]
    return ("正则化" + ("改善了" if better else "没有改善") + "线性模型的泛化",
            f"{where}；最佳 Ridge test R² = {_r(br['test_r2'])}（{_where(br)}）",
            "线性泄露评估以最佳 Ridge 为准" if better else "线性泄露评估可直接以 OLS 为准")


_KIND_WORDS = {"abs_coef_x_std": "重要性（按验证集 R² 选出的线性模型的 |coef|·std）",
               "abs_coef": "重要性（|coef|）", "gain": "重要性（LightGBM 增益）", "split": "重要性（LightGBM 分裂次数）"}


def _level_rows(ctx):
    """The best test R² at each noise level > 0, as (level, row)."""
    out = []
    for L, rows in ctx["levels"].items():
        if L > ctx["zero"]:
            r = max(rows, key=lambda r: r["test_r2"] if _isnum(r["test_r2"]) else -1e300)
            out.append((L, r))
    return out


def _levels_insight(ctx, thr):
    """Does the verdict depend on the noise level? One row from the best model of each level."""
    evid, differ = [], []
    for model in ("OLS", "LightGBM"):
        rs = [r for L, rows_ in ctx["levels"].items() if L > ctx["zero"] for r in rows_ if r["model"] == model]
        if rs:
            vals = [_r(r["test_r2"]) for r in rs]
            evid.append(f"{model} test R² " + "、".join(f"{v}（L={_lv(r['noise_level'])}）" for v, r in zip(vals, rs)))
            if len(set(vals)) > 1:
                differ.append(model)
    same = ("缩放不变的模型（OLS、LightGBM）在所有 L>0 上结果相同" if not differ else
            f"理论上缩放不变，但 {'、'.join(differ)} 的结果随 L 略有变化（数值精度或拟合设置）")
    per = _level_rows(ctx)
    evid.append("各水平最佳 test R²：" + "、".join(f"{_r(r['test_r2'])}（{r['model']}，L={_lv(L)}）" for L, r in per))
    below = {_isnum(r["test_r2"]) and r["test_r2"] < float(thr) for _, r in per}
    if len(below) == 1:
        dec = f"每个 L>0 上的最佳 test R² 都{'低于' if below == {True} else '不低于'}阈值：结论不依赖于噪声水平"
    else:
        dec = "不同噪声水平上的结论不同：按最不利的水平判定，并报告每个水平的结果"
    if ctx["has_zero"]:
        z = ctx["levels"][ctx["zero"]]
        evid.append(f"L={_lv(ctx['zero'])} 全部模型 test R² = " + "、".join(sorted({_r(r['test_r2']) for r in z})))
        same += f"；L={_lv(ctx['zero'])} 输入恒为零而退化"
    return (f"噪声水平只改变输入的尺度：{same}", "；".join(evid) or "n/a", dec)


def _nonlinear_insight(summary):
    """LightGBM against the best Ridge: what one LightGBM setting can and cannot show."""
    bl, br = summary.get("best_lightgbm"), summary.get("best_ridge")
    if not (bl and br):
        return None
    cis = ((summary.get("sanity") or {}).get("bootstrap") or {}).get("test_r2_ci95") or {}
    c1 = (cis.get(f"L={bl['noise_level']:g} LightGBM") or {}).get("ci95")
    c2 = (cis.get(f"L={br['noise_level']:g} {br['model']}") or {}).get("ci95")
    ev = f"LightGBM test R² = {_r(bl['test_r2'])}；最佳 Ridge test R² = {_r(br['test_r2'])}（{_where(br)}）"
    overlap = None
    if c1 and c2 and all(_isnum(v) for v in (*c1, *c2)):
        ev += f"；95% 区间 [{_r(c1[0])}, {_r(c1[1])}] 与 [{_r(c2[0])}, {_r(c2[1])}]"
        overlap = c1[0] <= c2[1] and c2[0] <= c1[1]
    if bl["test_r2"] > br["test_r2"]:
        head = "非线性模型（LightGBM，单一参数设置）捕捉到了更多泄露信息" + ("，但两者区间重叠" if overlap else "")
        dec = "线性审计低估了泄露；去泄露后需用非线性模型复核"
    else:
        head = "本次的 LightGBM 设置没有超过线性模型" + ("（两者区间重叠）" if overlap else "")
        dec = "只试了一种 LightGBM 设置，不能据此断定线性审计已给出泄露上限；去泄露后仍应用非线性模型复核"
    return head, ev, dec


def _insights(summary, ctx):
    gate, best = summary["gate"], summary["best"]
    thr = _lv(gate["threshold"])
    rows = []
    if ctx["passed"]:
        decision = "error vector 可以直接作为 gate 输入，进入 Gate-2"
    else:
        decision = "error vector 不能直接使用，进入 MVP-0.2（去泄露）"
    if gate.get("borderline"):
        decision += "；区间跨过阈值，需更多数据确认"
    rows.append((f"error-only 泄露程度为{ctx['degree']}",
                 f"最佳 test R² = {_r(best['test_r2'])}（{_where(best)}），阈值 {thr}"
                 + (f"；{_gate_phrase(gate)}" if _gate_phrase(gate) else ""), decision))
    name, rec = ctx["primary"]
    if rec:
        answer, above = concentration_text(summary)
        regions = regions_above(summary)
        head = {True: "重要性比无泄露时更集中", False: "重要性不比无泄露时更集中", None: "重要性集中度无法判断"}[above]
        head += ("；高于零分布的区域：" + "、".join(r["name_zh"] for r in regions) if regions
                 else "；没有目录区域高于零分布")
        rows.append((head, answer, importance_decision(summary)))
    rows.append(_levels_insight(ctx, gate["threshold"]))
    ols_row = _ols_ridge_insight(summary, ctx, summary.get("best_ridge"))
    if ols_row:
        rows.append(ols_row)
    nl = _nonlinear_insight(summary)
    if nl:
        rows.append(nl)
    out = ["## 💡 关键洞见", "", "| # | 洞见 | 证据 | 决策影响 |", "|---|------|------|----------|"]
    out += [f"| {i} | {a} | {b} | {c} |" for i, (a, b, c) in enumerate(rows, 1)]
    return "\n".join(out) + "\n\n---\n"


# species whose lines in this range are classic surface-gravity indicators of cool stars
_GRAVITY_SENSITIVE = ("Ca", "Na", "Mg", "K")


def _findings(summary, ctx):
    gate, best = summary["gate"], summary["best"]
    name, rec = ctx["primary"]
    extra = _gate_phrase(gate)
    out = [
        f"- 以 error vector（{int(summary['data']['n_pixels'])} 维）为唯一输入预测 log_g，最佳 test R² = "
        f"{_r(best['test_r2'])}（{_where(best)}，{selection_text(gate)}），test MAE = {_r(best['test_mae'])}，"
        f"test RMSE = {_r(best['test_rmse'])}；泄露程度: {ctx['degree']}。" + (f" {extra}。" if extra else ""),
        f"- 最佳 Ridge test R² = {_ridge_cell(summary)}；LightGBM test R² = {_lgbm_cell(summary, ctx)}。",
    ]
    if rec:
        answer, _ = concentration_text(summary)
        regions = regions_above(summary)
        where = ("高于零分布的目录区域：" + "、".join(r["name_zh"] for r in regions) if regions
                 else "没有目录区域（谱线、大气吸收带、天光发射区）的重要性高于零分布")
        out.append(f"- 重要性是否集中在特定 {ctx['top_k']} 个位置？{answer}；{where}。")
    if best["model"] == "OLS" and ols_cutoff_driven(summary):
        out.append(f"- 最佳模型 OLS 的 test R² 随分辨阈值变化（{ols_sensitivity_words(summary)}）；"
                   f"{ols_cutoff_consequence(summary, best['test_r2'])}。")
    if ctx["has_zero"]:
        out.append(f"- L={_lv(ctx['zero'])} 时输入恒为零，所有模型退化为截距，这一水平不提供泄露信息。")
    if gate.get("borderline"):
        out.append("- 最佳 R² 的选择校正区间跨过阈值，结论属于临界情形，需要更多数据确认。")
    return out


def _implications(summary, ctx):
    if ctx["passed"]:
        out = ["- error vector 对 log_g 几乎不携带信息，可直接作为 gate 输入进入 Gate-2。",
               "- 仍建议在新的数据批次上重复本审计。"]
    else:
        out = ["- error vector 携带 log_g 信息，直接用于 gate 会让 gate 学到标签泄露；先进入 MVP-0.2 去泄露。",
               "- 去泄露候选：按光谱中位数归一化 error、只使用标量 SNR 摘要，或屏蔽高于零分布的波长区域，"
               "然后用同一审计复核 R² 是否低于阈值。"]
    if _primary(summary)[1]:
        out.append(f"- 重要性的位置：{importance_decision(summary)}。")
    stellar = [r for r in regions_above(summary) if r["kind"] == "stellar"]
    if stellar:
        gravity = [r["name_zh"] for r in stellar if r["name_zh"].split(" ")[0] in _GRAVITY_SENSITIVE]
        why = (f"其中 {'、'.join(gravity)} 对表面重力敏感，这是泄露的一个可能物理来源" if gravity else
               "这些谱线本身不以对表面重力敏感著称，泄露可能经由与 log_g 相关的其他参数")
        out.append(f"- 高于零分布的恒星谱线（{'、'.join(r['name_zh'] for r in stellar)}）：光子噪声下 σ 随 flux 变化，"
                   f"error 谱会印上谱线深度；{why}。")
    return out


def _conclusion(summary, ctx):
    gate, best = summary["gate"], summary["best"]
    thr = _lv(gate["threshold"])
    pass_box, fail_box = ("[x]", "[ ]") if ctx["passed"] else ("[ ]", "[x]")
    return f"""## 📝 结论

### 5.1 核心发现
{chr(10).join(_findings(summary, ctx))}

### 5.2 {gate['name']} 判定
- {pass_box} 通过 (R² < {thr}) → 进入 Gate-2
- {fail_box} 未通过 (R² ≥ {thr}) → 进入 MVP-0.2 (去泄露)

最佳 test R² = {_r(best['test_r2'])}（{_where(best)}）→ {'通过' if ctx['passed'] else '未通过'}。

### 5.3 设计启示
{chr(10).join(_implications(summary, ctx))}

---
"""


def _appendix(summary, ctx):
    out = ["## 📎 附录", "", "### 6.1 数值结果表", "",
           "| L | Model | Train R² | Val R² | Test R² | Val MAE | Val RMSE | MAE (test) | RMSE (test) |",
           "|---|-------|----------|--------|---------|---------|----------|------------|-------------|"]
    for level, rows in ctx["levels"].items():
        for r in rows:
            tag = "（退化）" if _truthy(r.get("degenerate")) else ""
            out.append(f"| {_lv(level)} | {r['model']}{tag} | {_r(r['train_r2'])} | {_r(r['val_r2'])} | "
                       f"{_r(r['test_r2'])} | {_r(r['val_mae'])} | {_r(r['val_rmse'])} | "
                       f"{_r(r['test_mae'])} | {_r(r['test_rmse'])} |")
    _, sanity = _render_sanity(summary)
    out += ["", "### 6.2 Sanity Check 详细结果", "", sanity, ""]
    out += importance_appendix(summary, ctx["top_k"], ctx["ref"])
    res = resolution_appendix(summary)
    if res:
        out += [""] + res
    timings = summary.get("timings") or {}
    if _isnum(timings.get("total_seconds")):
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
    _require(summary)
    gate = summary["gate"]
    passed = gate["verdict"] == "PASS"
    levels = _rows_by_level(summary)
    imp = summary.get("importance") or {}
    positive = [L for L in levels if L > 0]
    zero = 0.0
    r2s = [(r[k], f"{r['model']}，L={_lv(L)}，{k.split('_')[0]}") for L in positive
           for r in levels[L] for k in ("train_r2", "val_r2", "test_r2") if _isnum(r[k])]
    ctx = {
        "passed": passed,
        "degree": gate.get("leakage_degree") or leakage_degree(gate["best_test_r2"]),
        "levels": levels,
        "zero": zero,
        "has_zero": zero in levels,
        "imp": imp,
        "ref": float(imp.get("reference_noise_level", max(levels))),
        "top_k": int(imp["top_k"]) if _isnum(imp.get("top_k")) else "k",
        "primary": _primary(summary),
        "min_r2": min(r2s)[0] if r2s else None,
        "min_where": min(r2s)[1] if r2s else "",
    }
    parts = [
        _header(summary, passed),
        _overview(summary, ctx),
        _design(summary, ctx),
        _figures_section(summary, ctx),
        _insights(summary, ctx),
        _conclusion(summary, ctx),
        _appendix(summary, ctx),
    ]
    return "\n".join(parts)
