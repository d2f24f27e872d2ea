"""Markdown report of one finished audit, in the user's experiment template.

Everything is read from the summary (see docs/internals.md); nothing is recomputed. Every number
printed is a summary value formatted with a fixed number of decimals, so that
`daudit.output.report.numbers_not_in_summary` can verify the report against the summary.
"""

__all__ = ["render_report", "leakage_degree"]

from daudit.output.report.constants import R2_AXIS_FLOOR, line_label, nearest_line
from daudit.output.report.format import (
    _best_txt,
    _concentration,
    _count,
    _image,
    _imp,
    _isnum,
    _line_words,
    _lv,
    _pct,
    _pixel_list,
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
from daudit.output.report.sanity import _render_sanity

_N_TOP_TEXT = 5  # top pixels quoted in the running text (the appendix lists all top-k)


# ---------------------------------------------------------------- sections
def _header(summary, passed):
    spec = summary.get("spec") or {}
    author = spec.get("author") or "daudit"
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


def _overview(summary, ctx):
    best, gate = summary["best"], summary["gate"]
    thr = _lv(gate["threshold"])
    h1 = "✅ 成立" if ctx["passed"] else "❌ 不成立"
    borderline = "（接近阈值，属于临界结果）" if gate.get("borderline") else ""
    ci = gate.get("ci95")
    ci_txt = f"，置信区间 ci95 = [{_r(ci[0])}, {_r(ci[1])}]" if ci else ""
    name, rec = ctx["primary"]
    share_row = (f"{_pct(rec['top_k_share'])}（{name}，{rec.get('kind', '-')}，L={_lv(ctx['ref'])}）"
                 if rec else "n/a（本次运行没有重要性结果）")
    return f"""## ⚡ 核心结论速览

**一句话**: error-only 最佳 test R² = {_r(best['test_r2'])}（{_where(best)}），泄露程度 = {ctx['degree']}；{gate['name']} {'通过' if ctx['passed'] else '未通过'}。

**假设验证**:
- [x] H1: error vector 预测 logg 的 R² < {thr} → {h1}：所有 L>{_lv(ctx['zero'])} 的模型中最佳 test R² = {_r(best['test_r2'])}（{_where(best)}）{ci_txt}{borderline}

**关键数字**:
| 指标 | 值 |
|------|---|
| error-only R² (Ridge best) | {_best_txt(summary.get('best_ridge'))} |
| error-only R² (LightGBM) | {_best_txt(summary.get('best_lightgbm'))} |
| Top-{ctx['top_k']} 像素贡献占比 | {share_row} |
| 全部模型最佳 test R² | {_r(best['test_r2'])}（{_where(best)}），{gate['name']} 阈值 {thr} |
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
        used, total = lgb.get("n_train_rows_used"), lgb.get("n_train_rows")
        how = "子采样" if lgb.get("subsampled") else "全部训练行"
        lines.append(
            f"- LightGBM 对输入的正缩放不变（树的分裂只依赖特征取值的排序），因此所有 L>{_lv(ctx['zero'])} "
            f"共用同一次拟合；训练使用 {used} / {total} 行（{how}），原因：{lgb.get('reason', 'n/a')}。")
    lines += [
        "- OLS 对输入缩放不变；Ridge(α) 在水平 L 上等价于 Ridge(α/L²) 在单位噪声水平上，"
        "因此不同 L 的 Ridge 结果相当于在更宽的 α 网格上扫描。",
        "",
        "### 2.2 模型",
        "- LinearRegression (OLS)",
        f"- Ridge (alpha = {alphas})",
        "- LightGBM" + (f"（{_params(lgb.get('params'))}）" if lgb.get("params") else ""),
        "",
        "### 2.3 Sanity Checks",
        "- Shuffle Test: 打乱波长对齐，检验是否依赖位置信息",
        "- Mask-only Test: 只用 mask 位置，检验是否是泄露源",
    ]
    if not summary.get("sanity"):
        lines.append("- 注: 本次运行尚未包含 sanity checks，结果见后续运行。")
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
        verdict = "训练集明显高于测试集，说明 OLS 在高维 error 输入上有过拟合" if gap > 0.01 else "训练集与测试集接近，没有明显过拟合"
        obs.append(f"OLS（L={_lv(ctx['ref'])}）train R² = {_r(ols['train_r2'])}，test R² = {_r(ols['test_r2'])}：{verdict}")
    if ctx["has_zero"]:
        z = ctx["levels"][ctx["zero"]]
        tests = sorted({_r(r["test_r2"]) for r in z})
        obs.append(f"L={_lv(ctx['zero'])} 面板为退化情形（输入恒为零），所有模型只剩截距，test R² = "
                   + "、".join(tests))
    if ctx["min_r2"] is not None and ctx["min_r2"] < 0:
        clipped = "，低于坐标轴下限的柱子被截断并在图中标注了数值" if ctx["min_r2"] < R2_AXIS_FLOOR else ""
        obs.append(f"负 R² 表示不如常数预测；最低的 R² 为 {_r(ctx['min_r2'])}（{ctx['min_where']}）{clipped}")
    return "；".join(obs) + "。"


def _figures_section(summary, ctx):
    gate = summary["gate"]
    thr = _lv(gate["threshold"])
    top_k = ctx["top_k"]
    name, rec = ctx["primary"]
    fig3, _ = _render_sanity(summary)
    ref = _lv(ctx["ref"])
    if rec:
        tp = rec.get("top_pixels") or []
        answer, conc = _concentration(rec["top_k_share"], top_k, summary["data"]["n_pixels"])
        words, hit_lines, _ = _line_words(tp)
        lines_txt = f"，涉及 {'、'.join(hit_lines)}" if hit_lines else ""
        fig2_obs = (f"{answer}。{name} 的 Top-{top_k} 像素占总重要性的 {_pct(rec['top_k_share'])}，{conc}。"
                    f"重要性最高的像素位于 {_pixel_list(tp, _N_TOP_TEXT)}；Top-{top_k} 中{words}像素落在参考谱线核心附近{lines_txt}。")
        others = [n for n in ctx["imp"].get("models") or {} if n != name]
        if others:
            fig2_obs += " 其他重要性度量的 Top-{0} 占比见 §6.3。".format(top_k)
    else:
        fig2_obs = "summary 中没有重要性结果。"
    return f"""## 📊 实验图表

### Fig 1: Error-Only R² Across Models
{_image(summary, 'r2_models', 'r2_models')}
**描述**: 每个模型（OLS、各 alpha 的 Ridge、LightGBM）在每个噪声水平（每个面板一个 L）下的 train/val/test R²；虚线为 {gate['name']} 阈值 R² = {thr}。
**关键观察**: {_fig1_observation(summary, ctx)}

### Fig 2: Feature Importance Spectrum
{_image(summary, 'importance_spectrum', 'importance')}
**描述**: 参考噪声水平 L={ref} 下 {name} 的逐像素重要性随波长（Å）的分布，灰线为平均 error 谱（右轴），红点为 Top-{top_k} 像素，竖线标出 Ca II、Na I、K I、Mg I 参考谱线。

{_image(summary, 'importance_hist', 'importance_hist')}
**描述**: 重要性分布（对数横轴）以及按重要性从高到低排序的累计占比曲线，标注了 Top-{top_k} 的占比。
**关键观察**: 高重要性像素是否集中在特定 {top_k} 个位置？{fig2_obs}

### Fig 3: Sanity Check Results
{fig3}

---
"""


def _insights(summary, ctx):
    gate, best = summary["gate"], summary["best"]
    thr = _lv(gate["threshold"])
    rows = []
    if ctx["passed"]:
        decision = f"error vector 可以直接作为 gate 输入，进入 Gate-2"
    else:
        decision = "error vector 不能直接使用，进入 MVP-0.2（去泄露）"
    rows.append((f"error-only 泄露程度为{ctx['degree']}",
                 f"最佳 test R² = {_r(best['test_r2'])}（{_where(best)}），阈值 {thr}", decision))
    name, rec = ctx["primary"]
    if rec:
        tp = rec.get("top_pixels") or []
        answer, conc = _concentration(rec["top_k_share"], ctx["top_k"], summary["data"]["n_pixels"])
        words, hit_lines, frac = _line_words(tp)
        where = f"Top-{ctx['top_k']} 中{words}像素位于参考谱线核心附近"
        if frac >= 0.4:
            dec = "泄露主要经由谱线处的 error（σ 随 flux 变化而反映谱线深度），去泄露时优先处理这些谱线区域"
        else:
            dec = "重要性不以已知谱线为中心，去泄露不能只靠屏蔽谱线区域"
        rows.append((f"重要性{conc.split('：')[0]}；{where}",
                     f"{name} Top-{ctx['top_k']} 占比 {_pct(rec['top_k_share'])}；最高像素 {_pixel_list(tp, 3)}",
                     dec))
    # noise-level scaling: OLS and LightGBM are scale invariant, check that the numbers agree
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
    if ctx["has_zero"]:
        z = ctx["levels"][ctx["zero"]]
        evid.append(f"L={_lv(ctx['zero'])} 全部模型 test R² = " + "、".join(sorted({_r(r['test_r2']) for r in z})))
        same += f"；L={_lv(ctx['zero'])} 输入恒为零而退化"
    rows.append((f"噪声水平只改变输入的尺度：{same}", "；".join(evid) or "n/a",
                 "泄露结论不依赖于噪声水平（L>0），重要性只需在一个参考水平上解释"))
    ols = _row(summary, ctx["ref"], "OLS")
    br = summary.get("best_ridge")
    if ols is not None and br:
        better = br["test_r2"] > ols["test_r2"]
        rows.append(("正则化" + ("改善了" if better else "没有改善") + "线性模型的泛化",
                     f"OLS（L={_lv(ctx['ref'])}）test R² = {_r(ols['test_r2'])}；最佳 Ridge test R² = {_r(br['test_r2'])}（{_where(br)}）",
                     "线性泄露评估以最佳 Ridge 为准" if better else "线性泄露评估可直接以 OLS 为准"))
    bl = summary.get("best_lightgbm")
    nonlin = bool(bl and br) and bl["test_r2"] > br["test_r2"]
    if bl and br:
        rows.append(("非线性模型" + ("捕捉到了更多" if nonlin else "没有捕捉到更多") + "泄露信息",
                     f"LightGBM test R² = {_r(bl['test_r2'])}；最佳 Ridge test R² = {_r(br['test_r2'])}",
                     "去泄露后需用非线性模型复核" if nonlin else "线性审计已足以界定泄露上限"))
    out = ["## 💡 关键洞见", "", "| # | 洞见 | 证据 | 决策影响 |", "|---|------|------|----------|"]
    out += [f"| {i} | {a} | {b} | {c} |" for i, (a, b, c) in enumerate(rows, 1)]
    return "\n".join(out) + "\n\n---\n"


def _conclusion(summary, ctx):
    gate, best = summary["gate"], summary["best"]
    thr = _lv(gate["threshold"])
    name, rec = ctx["primary"]
    findings = [
        f"- 以 error vector（{int(summary['data']['n_pixels'])} 维）为唯一输入预测 log_g，最佳 test R² = "
        f"{_r(best['test_r2'])}（{_where(best)}），test MAE = {_r(best['test_mae'])}，test RMSE = {_r(best['test_rmse'])}；"
        f"泄露程度: {ctx['degree']}。",
        f"- 最佳 Ridge test R² = {_best_txt(summary.get('best_ridge'))}；"
        f"LightGBM test R² = {_best_txt(summary.get('best_lightgbm'))}。",
    ]
    if rec:
        words, hit_lines, _ = _line_words(rec.get("top_pixels") or [])
        findings.append(f"- {name} 的 Top-{ctx['top_k']} 像素贡献 {_pct(rec['top_k_share'])} 的总重要性，"
                        f"其中{words}位于参考谱线核心附近。")
    if ctx["has_zero"]:
        findings.append(f"- L={_lv(ctx['zero'])} 时输入恒为零，所有模型退化为截距，这一水平不提供泄露信息。")
    if gate.get("borderline"):
        findings.append("- 最佳 R² 接近阈值，结论属于临界情形，需要更多数据或置信区间确认。")
    pass_box, fail_box = ("[x]", "[ ]") if ctx["passed"] else ("[ ]", "[x]")
    if ctx["passed"]:
        implications = [
            "- error vector 对 log_g 几乎不携带信息，可直接作为 gate 输入进入 Gate-2。",
            "- 仍建议在新的数据批次上重复本审计，并在 sanity checks 完成后复核。",
        ]
    else:
        implications = [
            "- error vector 携带 log_g 信息，直接用于 gate 会让 gate 学到标签泄露；先进入 MVP-0.2 去泄露。",
            "- 去泄露候选：按光谱中位数归一化 error、屏蔽高重要性像素所在的谱线区域、或只使用标量 SNR 摘要，"
            "然后用同一审计复核 R² 是否低于阈值。",
        ]
    if rec and _line_words(rec.get("top_pixels") or [])[2] >= 0.4:
        implications.append("- 高重要性像素集中在参考吸收线处（其中 Ca II 三重线与 Na I 双线对表面重力敏感）：光子噪声下 σ 随 flux "
                            "变化，error 谱会印上谱线深度，这很可能是泄露的物理来源。")
    return f"""## 📝 结论

### 5.1 核心发现
{chr(10).join(findings)}

### 5.2 {gate['name']} 判定
- {pass_box} 通过 (R² < {thr}) → 进入 Gate-2
- {fail_box} 未通过 (R² ≥ {thr}) → 进入 MVP-0.2 (去泄露)

最佳 test R² = {_r(best['test_r2'])}（{_where(best)}）→ {'通过' if ctx['passed'] else '未通过'}。

### 5.3 设计启示
{chr(10).join(implications)}

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
    imp = ctx["imp"]
    name, rec = ctx["primary"]
    out += [f"### 6.3 Top-{ctx['top_k']} 像素", "",
            f"重要性度量: {name}（{(rec or {}).get('kind', '-')}，参考噪声水平 L={_lv(ctx['ref'])}）。" if rec
            else "本次运行没有重要性结果（参考噪声水平的输入退化或未计算）。", "",
            "| Rank | Pixel | Wavelength (Å) | Importance | 附近谱线 |",
            "|------|-------|----------------|------------|----------|"]
    for p in (rec or {}).get("top_pixels") or []:
        hit = nearest_line(p["wavelength"])
        out.append(f"| {int(p['rank'])} | {int(p['pixel'])} | {_w(p['wavelength'])} | "
                   f"{_imp(p['importance'])} | {line_label(*hit) if hit else '-'} |")
    out += ["", "各重要性度量的 Top-{0} 占比：".format(ctx["top_k"]), "",
            "| 度量 | 类型 | Top-{0} 占比 |".format(ctx["top_k"]), "|------|------|------|"]
    for n, m in (imp.get("models") or {}).items():
        out.append(f"| {n} | {m.get('kind', '-')} | {_pct(m.get('top_k_share'))} |")
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
