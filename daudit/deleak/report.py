"""Markdown report of a deleak run (LOGG-ERR-REPR-01 style): English headings, Chinese body.

Built from the summary only; every number goes through the formatters of `daudit.output.report.format`
(R2 with 4 decimals, thresholds as written), so `numbers_not_in_summary` can verify it.
"""

from __future__ import annotations

from daudit.output.report.format import fmt_count, is_number, fmt_level, fmt_metric

__all__ = ["render_deleak_report"]


def _p(x):
    return f"{x:.4f}" if is_number(x) else "n/a"


def _ci(ci):
    return f"[{fmt_metric(ci[0])}, {fmt_metric(ci[1])}]" if ci and is_number(ci[0]) and is_number(ci[1]) else "n/a"


def _ids(ids):
    return "、".join(ids) if ids else "无"


def _fig(summary, key, alt):
    path = (summary.get("outputs") or {}).get("figures", {}).get(key)
    return f"![{alt}]({path})" if path else f"（本次运行没有生成 `{key}` 图）"


def _header(s, passed):
    author = (s.get("spec") or {}).get("author") or "daudit"
    return f"""# 📗 {s['experiment_id']}: De-leaked Error Representation

> **MVP:** 0.2 | **Gate:** Gate-1 (De-leaked Error Representation)
> **Author:** {author} | **Date:** {s['date']} | **Status:** {'✅ PASS' if passed else '❌ FAIL'}

---

## 🔗 Upstream Links

| 类型 | 链接 |
|------|------|
| Hub | `moe_snr_hub.md` §DG1 |
| Roadmap | `moe_snr_roadmap.md` MVP-0.2 |
| 上一步 | LOGG-ERR-BASE-01（Gate-1 未通过：原始 error 携带 log_g） |
| Session | - |

---
"""


def _diagnosis_text(s):
    d, g = s["diagnosis"], s["gate"]
    thr = fmt_level(g["logg_threshold"])
    if d["kind"] == "scale":
        return (f"只含整体尺度的 S4（error 范数）预测 log_g 的 R² = {fmt_metric(d['scale_logg_r2'])} ≥ {thr}："
                f"泄露位于 error 的整体尺度（即 SNR 本身）中。任何保留尺度的表示都无法去除这一泄露，"
                f"保留了 SNR 的策略（{_ids(d['keep_snr'])}）中 log_g R² ≥ {thr} 的有 {_ids(d['keep_snr_but_leak'])}。"
                "需要在数据层面处理（例如按 SNR 分层、或只让 gate 使用与 log_g 去相关的 SNR 残差）")
    if d["kind"] == "shape":
        return (f"原始 error（S0）的 log_g R² = {fmt_metric(d['raw_logg_r2'])}，而只含尺度的 S4 为 "
                f"{fmt_metric(d['scale_logg_r2'])}（< {thr}）：泄露位于 error 的逐像素形状（特定像素处的结构，例如谱线），"
                "不在整体尺度中；把 error 汇总为尺度或分布统计量即可去除")
    if d["kind"] == "none":
        return f"原始 error（S0）的 log_g R² = {fmt_metric(d['raw_logg_r2'])} 已低于 {thr}，本数据上没有需要去除的泄露"
    return "本次运行缺少 S0 或 S4 探针，无法判断泄露位置"


def _overview(s, passed):
    g, by = s["gate"], {r["id"]: r for r in s["strategies"]}
    lt, st_ = fmt_level(g["logg_threshold"]), fmt_level(g["snr_threshold"])
    if passed:
        r = by[g["recommended"]]
        one = (f"推荐 {r['id']}（{r['description']}，{r['n_features']} 个特征）：log_g R² = {fmt_metric(r['logg_r2'])}"
               f"（< {lt}），SNR R² = {fmt_metric(r['snr_r2'])}（> {st_}）；Gate-1 (MVP-0.2) 通过，"
               f"`quality_features()` 冻结为 {r['id']}。")
    else:
        one = (f"没有任何策略同时满足 log_g R² < {lt} 与 SNR R² > {st_}；Gate-1 (MVP-0.2) 未通过。"
               f"{_diagnosis_text(s)}。")
    rows = "\n".join(
        f"| {r['id']} | {r['n_features']} | {fmt_metric(r['logg_r2'])}（{r['logg_model']}） | {_ci(r['logg_ci95'])} | "
        f"{_p(r['logg_perm_p'])} | {fmt_metric(r['snr_r2'])}（{r['snr_model']}） | {'✅' if r['pass'] else '❌'} |"
        for r in s["strategies"])
    return f"""## ⚡ Key Results at a Glance

**一句话**: {one}

**假设验证**:
- [{'x' if passed else ' '}] H2: 存在一种 error 表示，保留观测质量（SNR R² > {st_}）而不再携带 log_g（log_g R² < {lt}）→ {'✅ 成立' if passed else '❌ 不成立'}

**关键数字**（test 集；每个策略取所有模型中最高的 R²）:
| 策略 | 特征数 | log_g R² | log_g 95% CI | 置换 p 值 | SNR R² | 通过 |
|------|--------|----------|--------------|-----------|--------|------|
{rows}

---

## 🎯 Objective

找到一种 error 表示作为 MoE gate 的输入：
1. 保留观测质量信息（SNR R² 高）
2. 不再携带 log_g（log_g R² 低），并冻结为 `quality_features()` 供训练代码直接调用

---
"""


def _design(s):
    data, g, d = s["data"], s["gate"], s["deleak"]
    sp = data["splits"]
    lgb = s.get("lightgbm")
    strat = "\n".join(f"| {x['id']} | {x['description']} | {x['n_features']} |" for x in s["strategies"])
    alphas = "、".join(fmt_level(a) for a in s["ridge"]["alphas"])
    lines = [
        "## 🧪 Experiment Design", "", "### 2.1 Data",
        f"- 数据来源: `{data.get('source') or 'n/a'}`",
        f"- 训练集: {fmt_count(sp['train']['n_rows'])}，验证集: {fmt_count(sp['val']['n_rows'])}，测试集: {fmt_count(sp['test']['n_rows'])}",
        f"- 输入: error vector（{int(data['n_pixels'])} 维）；flux 只用于定义 SNR 以及 S1a/S1b 的归一化",
        "- SNR = norm(flux) / norm(error)（逐行 L2 范数）；error 与 flux 的 NaN 用同一行最近的有限像素填补",
        "", "### 2.2 Representation Strategies", "", "| 策略 | 定义 | 特征数 |", "|------|------|--------|", strat, "",
        f"S2 的模板 t0 为训练集平均 error，scale s = e·t0 / t0·t0，另一特征为残差范数 ‖e − s·t0‖；"
        f"S2b 的模板为训练集 error 协方差矩阵（Gram 矩阵去均值）的前 {d['pca_k']} 个特征向量。",
        "", "### 2.3 Models and Statistics",
        f"- Ridge（alpha = {alphas}，先标准化）：由流式充分统计量求解，标准化等价于用训练集标准差缩放 S_xx 与 S_xy，无需在内存中重新拟合",
    ]
    if lgb:
        lines.append(f"- LightGBM（{', '.join(f'{k}={v}' for k, v in lgb['params'].items() if k in ('n_estimators', 'max_depth', 'learning_rate'))}）："
                     f"小维度策略使用全部 {lgb['n_train_rows']} 行训练；逐像素策略（{_ids(lgb['wide_strategies'])}）"
                     f"使用随机子样本 {lgb['wide_n_train_rows_used']} 行")
    st = s["statistics"]
    lines += [
        f"- 置信区间: test/val 上 {st['n_bootstrap']} 次 bootstrap 重采样的百分位区间",
        f"- 置换检验: 固定模型预测，打乱 test 标签 {st['n_permutations']} 次，得到 log_g R² 的单侧 p 值",
        "- 数据遍历: 训练集两遍（模板一遍；所有策略的充分统计量融合为一遍），验证/测试集一遍",
        "", "### 2.4 Decision Rule",
        f"- 通过: log_g R² < {fmt_level(g['logg_threshold'])} 且 SNR R² > {fmt_level(g['snr_threshold'])}（test，取所有模型中最高值，对泄露是保守的）",
        f"- 推荐: 通过者中 SNR R² 最高者；差距在 {fmt_level(g['tie_tolerance'])} 以内视为并列，并列时取特征更少者",
    ]
    return "\n".join(lines) + "\n\n---\n"


def _lin_vs_tree(s):
    best, gap = None, None
    for r in s["strategies"]:
        bm = r["by_model"]
        if "LightGBM" not in bm:
            continue
        lin = max((v["logg_r2"] for k, v in bm.items() if k != "LightGBM"), default=None)
        if lin is None:
            continue
        d = bm["LightGBM"]["logg_r2"] - lin
        if gap is None or d > gap:
            best, gap = (r, lin, bm["LightGBM"]["logg_r2"]), d
    return best


def _figures(s):
    g = s["gate"]
    lt, st_ = fmt_level(g["logg_threshold"]), fmt_level(g["snr_threshold"])
    leaky = [r["id"] for r in s["strategies"] if not r["pass_logg"]]
    clean = [r["id"] for r in s["strategies"] if r["pass_logg"]]
    low_snr = [r["id"] for r in s["strategies"] if not r["pass_snr"]]
    return f"""## 📊 Figures

### Fig 1: log_g R² by Strategy
{_fig(s, 'logg_r2', 'logg_r2')}
**描述**: 每个策略（括号内为特征数）、每个模型的 test log_g R²，误差棒为 95% bootstrap 区间，虚线为阈值 {lt}。
**关键观察**: log_g R² ≥ {lt}（仍有泄露）的策略: {_ids(leaky)}；低于阈值的策略: {_ids(clean)}。

### Fig 2: SNR R² by Strategy
{_fig(s, 'snr_r2', 'snr_r2')}
**描述**: 同上，目标换成 SNR；虚线为阈值 {st_}。
**关键观察**: SNR R² ≤ {st_}（丢失观测质量）的策略: {_ids(low_snr)}。

### Fig 3: Leakage vs Quality Trade-off
{_fig(s, 'tradeoff', 'tradeoff')}
**描述**: 横轴 log_g R²，纵轴 SNR R²（test，各模型最高值），绿色阴影为通过区域，星号为推荐策略。
**关键观察**: 落在通过区域内的策略: {_ids(g['passing'])}。

### Fig 4: Summary Panel
{_fig(s, 'summary_panel', 'summary_panel')}
**描述**: 两个目标的柱状图与 Gate-1 (MVP-0.2) 判定汇总。

---
"""


def _insights(s):
    g, d = s["gate"], s["diagnosis"]
    by = {r["id"]: r for r in s["strategies"]}
    lt = fmt_level(g["logg_threshold"])
    rows = [("泄露位置: " + {"scale": "整体尺度（SNR 本身）", "shape": "逐像素形状", "none": "无泄露"}.get(d["kind"], "未知"),
             _diagnosis_text(s),
             "保留尺度的表示都无法去泄露，需在数据层面处理" if d["kind"] == "scale" else "用汇总统计量替代逐像素 error")]
    wide = [by[i] for i in ("S0", "S1a", "S1b") if i in by]
    if wide:
        ev = "；".join(f"{r['id']} log_g R² = {fmt_metric(r['logg_r2'])}" for r in wide)
        still = all(not r["pass_logg"] for r in wide)
        rows.append(("按 flux 归一化" + ("不能" if still else "可以") + "去除逐像素表示中的泄露", ev,
                     "不能只做归一化，需要降维为汇总量" if still else "逐像素归一化可作为候选"))
    lt_pair = _lin_vs_tree(s)
    if lt_pair:
        r, lin, tree = lt_pair
        more = tree - lin > 0.01
        rows.append(((f"LightGBM 比线性模型多读出的 log_g 信息在 {r['id']} 上最大" if more
                      else "非线性模型没有比线性模型读出更多 log_g"),
                     f"LightGBM 与 Ridge 的 log_g R² 之差最大的策略 {r['id']}: LightGBM = {fmt_metric(tree)}，Ridge = {fmt_metric(lin)}",
                     "泄露判定以各模型最高值为准（保守）" if more else "线性审计已足以界定泄露上限"))
    if g["recommended"]:
        r = by[g["recommended"]]
        lin = max((v["snr_r2"] for k, v in r["by_model"].items() if k != "LightGBM"), default=None)
        tree = r["by_model"].get("LightGBM", {}).get("snr_r2")
        if is_number(lin) and is_number(tree) and tree - lin > 0.1:
            rows.append((f"{r['id']} 中的 SNR 信息是非线性的", f"{r['id']}: SNR R² Ridge = {fmt_metric(lin)}，LightGBM = {fmt_metric(tree)}",
                         "gate 需使用非线性模型（或对质量特征做非线性变换，如取倒数）才能充分利用 SNR"))
    ro = g.get("ridge_only") or {}
    if ro:
        rows.append(("只用用户模型 Ridge 判定时" + ("结论一致" if ro["recommended"] == g["recommended"] else "推荐不同"),
                     f"Ridge 规则下通过者: {_ids(ro['passing'])}；推荐: {ro['recommended'] or '无'}",
                     "与手工实验（Ridge + StandardScaler）可直接对照"))
    if g["recommended"]:
        r = by[g["recommended"]]
        tied = [t for t in g["tied"] if t != r["id"]]
        rows.append((f"推荐 {r['id']}（{r['n_features']} 个特征）",
                     f"log_g R² = {fmt_metric(r['logg_r2'])}，SNR R² = {fmt_metric(r['snr_r2'])}；通过者: {_ids(g['passing'])}"
                     + (f"；并列: {_ids(tied)}" if tied else ""),
                     "冻结为 quality_features()，进入 Gate-2"))
    else:
        rows.append(("没有策略通过", f"保留 SNR 的策略中 log_g R² ≥ {lt} 的: {_ids(d['keep_snr_but_leak'])}",
                     "不冻结 quality_features()；回到数据层面"))
    out = ["## 💡 Key Insights", "", "| # | 洞见 | 证据 | 决策影响 |", "|---|------|------|----------|"]
    out += [f"| {i} | {a} | {b} | {c} |" for i, (a, b, c) in enumerate(rows, 1)]
    return "\n".join(out) + "\n\n---\n"


def _conclusion(s, passed):
    g, q = s["gate"], s["quality_features"]
    lt, st_ = fmt_level(g["logg_threshold"]), fmt_level(g["snr_threshold"])
    lead = next(r for r in s["strategies"] if r["id"] == g["best_model"])
    find = [f"- {r['id']}: log_g R² = {fmt_metric(r['logg_r2'])}（{r['logg_model']}，95% CI {_ci(r['logg_ci95'])}，"
            f"置换 p = {_p(r['logg_perm_p'])}），SNR R² = {fmt_metric(r['snr_r2'])}（{r['snr_model']}）"
            for r in s["strategies"]]
    if passed:
        use = [f"- `quality_features()` 冻结为 {q['strategy']}（{q['n_features']} 个特征），定义与模板保存在 "
               f"`{q['json']}` 与 `{q['npz']}`；训练代码中调用 "
               "`daudit.quality_features(error, flux, state=<本结果目录>)` 即可得到与本次运行相同的特征。",
               "- MoE gate 只使用这些质量特征，不再直接使用逐像素 error。"]
    else:
        use = [f"- 没有策略通过，`quality_features()` 不冻结推荐策略（`{q['json']}` 中 recommended 为空，模板仍保存，可显式指定 strategy）。",
               f"- {_diagnosis_text(s)}。"]
    return f"""## 📝 Conclusions

### 5.1 Core Findings
{chr(10).join(find)}

### 5.2 Gate-1 (MVP-0.2) Verdict
- [{'x' if passed else ' '}] 通过 (存在 log_g R² < {lt} 且 SNR R² > {st_} 的表示) → 冻结 quality_features()，进入 Gate-2
- [{' ' if passed else 'x'}] 未通过 → 回到数据层面处理泄露

{'推荐' if passed else '最接近通过的'}策略 {lead['id']}: log_g R² = {fmt_metric(lead['logg_r2'])}，SNR R² = {fmt_metric(lead['snr_r2'])} → {'通过' if passed else '未通过'}。

### 5.3 Design Implications
{chr(10).join(use)}

---
"""


def _appendix(s):
    out = ["## 📎 Appendix", "", "### 6.1 Numerical Results", "",
           "| Strategy | Model | Target | Train R² | Val R² | Test R² | Test 95% CI | Test MAE | Test RMSE | 置换 p (log_g) |",
           "|----------|-------|--------|----------|--------|---------|-------------|----------|-----------|--------|"]
    for r in s["metrics"]:
        out.append(f"| {r['strategy']} | {r['model']} | {r['target']} | {fmt_metric(r['train_r2'])} | {fmt_metric(r['val_r2'])} | "
                   f"{fmt_metric(r['test_r2'])} | {_ci([r['test_ci95_lo'], r['test_ci95_hi']])} | {fmt_metric(r['test_mae'])} | "
                   f"{fmt_metric(r['test_rmse'])} | {_p(r['test_perm_p']) if r['target'] == 'log_g' else '-'} |")
    lgb = s.get("lightgbm")
    out += ["", "### 6.2 Notes", ""]
    if lgb:
        out.append(f"- LightGBM 子采样: {lgb['wide_reason']}")
    out.append("- 置换 p 值只对 test 集的 log_g R² 计算（SNR 行记为 -）；train R² 对 Ridge 来自充分统计量，"
               "对 LightGBM 来自其训练行（逐像素策略为子样本）。")
    t = s.get("timings") or {}
    if is_number(t.get("total_seconds")):
        out.append(f"- 运行总耗时 {t['total_seconds']:.1f} s。")
    return "\n".join(out) + "\n"


def render_deleak_report(summary: dict) -> str:
    """The report of a finished deleak run (markdown); every number is a summary value."""
    passed = summary["gate"]["verdict"] == "PASS"
    return "\n".join([_header(summary, passed), _overview(summary, passed), _design(summary),
                      _figures(summary), _insights(summary), _conclusion(summary, passed), _appendix(summary)])
