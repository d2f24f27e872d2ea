"""Report sections of the sanity checks: Fig 3 and appendix 6.2 (Chinese body, English headings).

Built from ``summary["sanity"]`` only. Every number printed is a value of that dict formatted
with the report's conventions (R2 and p-values 4 decimals, wavelengths 1 decimal, shares as
percent), so `daudit.output.report.numbers_not_in_summary` accepts the report.
"""

from __future__ import annotations

__all__ = ["render_sanity_sections"]

from daudit.checks.table import CHECKS, EFFECT_WORDS, MODEL_COLUMNS
from daudit.core.schema_sanity import optional
from daudit.data.catalogue import KIND_ZH
from daudit.output.report.format import image_link, is_number, fmt_level, fmt_pct, fmt_metric, fmt_wave
from daudit.output.report.gate import (
    GATE_REF,
    interval_text,
    lightgbm_p_text,
    verdict_words,
)
from daudit.output.report.importance import pixel_feature_names
from daudit.output.report.intervals import original_records
from daudit.output.report.words import zh

_KIND_WORDS = {**KIND_ZH, "none": "不在目录特征内"}
_HEAD = tuple((m.key, m.label_zh) for m in MODEL_COLUMNS)

def _level(boot):
    return f"{boot['level'] * 100:g}%"


def _ci(rec):
    ci = optional(rec, "test_ci95") if rec else None
    if ci and is_number(ci[0]) and is_number(ci[1]):
        return f" [{fmt_metric(ci[0])}, {fmt_metric(ci[1])}]"
    return ""


def _cell(rec):
    if rec is None or rec["test_r2"] is None:
        return "n/a"
    name = f"（{rec['model']}）" if rec["model"].startswith("Ridge") else ""
    return f"{fmt_metric(rec['test_r2'])}{_ci(rec)}{name}"


def _best_record(block):
    """The record of a check block with the highest test R² (the one its effect is judged by)."""
    recs = [block[k] for k, _ in _HEAD if k in block and block[k]["test_r2"] is not None]
    return max(recs, key=lambda r: r["test_r2"]) if recs else None


def _capture(block):
    """The conclusion of a capture check (mask-only, aggregates), with its interval when below the threshold."""
    effect = block["effect"]
    text = EFFECT_WORDS["capture"][effect]
    rec = _best_record(block)
    ci = optional(rec, "test_ci95") if rec else None
    if effect == "no_leak" and ci and is_number(ci[0]):
        if ci[0] > 0:
            text += f"；但最佳的 {rec['model']} 区间下限 {fmt_metric(ci[0])} 大于 0：它携带少量信息"
        else:
            text += f"；最佳的 {rec['model']} 区间包含 0，没有检测到它携带信息"
    return text


def _row(label, block, conclusion=""):
    cells = " | ".join(_cell(optional(block, k)) for k, _ in _HEAD)
    return f"| {label} | {cells} | {conclusion} |"


def _conclusion(chk, drawn, block):
    if drawn.note_zh is not None:
        return drawn.note_zh
    return _capture(block) if chk.effect == "capture" else EFFECT_WORDS[chk.effect][block["effect"]]


def _table(san):
    ref = fmt_level(san["reference_noise_level"])
    out = ["| 检验 | OLS | 最佳 Ridge | LightGBM | 结论 |", "|------|-----|-----------|----------|------|"]
    for chk in CHECKS:  # `daudit.checks.table`: the checks and their records, in the figure's order
        block = original_records(san) if chk.key == "original" else optional(san, chk.key)
        if not block or (chk.key == "group_shuffle" and block["effect"] == "not_run"):  # no record to show
            continue
        for d in chk.drawn:
            out.append(_row(d.label_zh.format(ref=ref, **block), block[d.sub] if d.sub else block,
                            _conclusion(chk, d, block)))
    return out


def _gate_sentence(summary, gate):
    """The gate's model and verdict; its interval, nulls and rule are given once, in §5.2."""
    verdict = verdict_words(gate)
    return (f"最佳模型 {gate['best_model']}（L={fmt_level(gate['best_noise_level'])}）test R² = "
            f"{fmt_metric(gate['best_test_r2'])}，{summary['gate']['name']} {verdict}（{GATE_REF}）")


def _fig3(summary, san):
    gate = summary["gate"]
    perm = san["permutation"]
    lin, lg = perm["linear"], optional(perm, "lightgbm")
    boot = san["bootstrap"]
    null_txt = []
    if optional(lin, "figure_model"):
        null_txt.append(f"{lin['figure_model']} 的 {lin['n_permutations']} 次置换")
    if lg:
        null_txt.append(f"LightGBM（{lg['n_train_rows']} 行子样本）的 {lg['n_permutations']} 次置换")
    desc = (f"**描述**: 左图为原始模型与每项 sanity check 的 test R²（OLS、按验证集选出的 Ridge、LightGBM；"
            f"误差棒为 {boot['n_resamples']} 次 bootstrap 的 {_level(boot)} 置信区间：原始模型的区间就是 §6.2 "
            "Bootstrap 表中该模型的区间（每个模型只有一个区间），各项检验的区间来自检验之间配对的另一组同样次数的重抽样；参考噪声水平 "
            f"L={fmt_level(san['reference_noise_level'])}；低于坐标轴下限的柱子被截断并以斜线标出），红色虚线为 "
            f"{summary['gate']['name']} 阈值 R² = {san['threshold']}。右图为标签置换零分布（"
            + "、".join(null_txt or ["本次运行没有置换检验"])
            + "）的 test R²，竖线为真实标签下同一模型的 test R²（与左图同一划分；远在零分布之外时竖线落在坐标轴以外，"
              "数值写在坐标轴边缘，以免零分布被压成一条线）。")
    obs = []
    if gate["best_model"]:
        obs.append(_gate_sentence(summary, gate))
    for chk in CHECKS:
        blk = optional(san, chk.key)
        if not blk or chk.effect is None:
            continue
        if chk.name_zh is not None:  # a capture check: named, with its interval
            obs.append(f"{chk.name_zh}：{_capture(blk)}")
        elif blk["effect"] != "not_run":
            obs.append(EFFECT_WORDS[chk.effect][blk["effect"]])
    lines = [image_link(summary, "sanity_checks", "sanity_checks"), desc, "", *_table(san), "",
             "**关键观察**:", *(f"- {x}。" for x in obs)]
    return "\n".join(lines)


def _shuffle_text(san):
    ws = optional(san, "wavelength_shuffle")
    if not ws:
        return ["**Shuffle Test**: 未运行（spec 中 sanity.wavelength_shuffle 为 false）。"]
    orig, ref, un = original_records(san), ws["refit"], ws["unrefitted"]
    out = ["**Shuffle Test**（每条光谱的像素各自随机打乱，训练/验证/测试集都打乱；打乱由 `(seed, split, chunk)` 决定，可复现）:"]
    for k, label in _HEAD:
        if k in orig or k in ref:
            out.append(f"- {label}: 原始 R² = {_cell(optional(orig, k))}；打乱后重新拟合 R² = {_cell(optional(ref, k))}；"
                       f"未重新拟合（原模型直接作用于打乱输入）R² = {_cell(optional(un, k))}")
    same = optional(orig, "LightGBM_same_rows")
    if same:
        out.append(f"- 对照：LightGBM 在与打乱检验相同的 {same['n_train_rows']} 行训练子样本上用原始输入重新拟合，"
                   f"test R² = {_cell(same)}（打乱后的 LightGBM 应与此比较，排除训练行数的影响）")
    out.append("- 两种\"打乱后 R²\"为什么不同：未重新拟合的模型带着在波长对齐数据上学到的系数去读打乱后的输入，"
               "系数与像素的对应被破坏，预测变成大方差噪声，R² 可以远低于 0（用户首次运行报告的负 R² 正是这种情形）；"
               "它只说明模型依赖像素顺序。shuffle test 要回答的是\"打乱后的数据是否仍含有 log_g 信息\"，"
               "必须在打乱后的训练集上重新拟合再评估，即上面的\"打乱后重新拟合 R²\"。")
    out.append(f"- 结论: {EFFECT_WORDS['wavelength_shuffle'][ws['effect']]}。")
    return out


def _group_text(san):
    gs = san["group_shuffle"]
    if gs["effect"] == "not_run":
        why = zh(gs["skipped"]) if optional(gs, "skipped") else "spec 中 sanity.group_shuffle 为 false"
        return [f"**Group Shuffle Test**: 未运行（{why}）。"]
    empty = ("；mag 与 SNR 相关，其余组合没有训练样本" if gs["n_groups"] < gs["mag_bins"] * gs["snr_bins"] else "")
    out = [f"**Group Shuffle Test**（mag 分成 {gs['mag_bins']} 个分位区间、SNR 分成 {gs['snr_bins']} 个分位区间，"
           f"两者交叉成格子；训练集标签在有样本的 {gs['n_groups']} 个格子内各自打乱{empty}；最小的格子 "
           f"{gs['min_group_size']} 行；线性模型取 {gs['n_shuffles']} 次打乱的平均，LightGBM 打乱一次；在真实验证/测试集上评估）:"]
    for k, label in _HEAD:
        rec = optional(gs, k)
        if rec:
            rng = (f"（各次打乱 test R² 范围 {fmt_metric(rec['test_r2_min'])} 至 {fmt_metric(rec['test_r2_max'])}）"
                   if optional(rec, "test_r2_min") is not None else "")
            out.append(f"- {label}: test R² = {_cell(rec)}{rng}")
    if gs["retained_fraction"] is not None:
        out.append(f"- 保留比例（组内打乱最佳 R² / 原始最佳 R²）= {fmt_pct(gs['retained_fraction'])}")
    out.append(f"- 结论: {EFFECT_WORDS['group_shuffle'][gs['effect']]}。")
    return out


def _mask_text(san):
    mo = optional(san, "mask_only")
    if not mo:
        return ["**Mask-only Test**: 未运行（spec 中 sanity.mask_only 为 false）。"]
    out = ["**Mask-only Test**（输入为二值 mask，去掉训练集中恒定的列）:",
           f"- mask 来源: {zh(mo['source'])}；训练集中至少被 mask 一次的像素 {mo['n_pixels_ever_masked']} 个，"
           f"非恒定、用作输入的像素 {mo['n_pixels_used']} 个，被 mask 的像素占比 {fmt_pct(mo['masked_fraction'])}"]
    for k, label in _HEAD:
        if k in mo:
            out.append(f"- Mask-only R²（{label}）: {_cell(mo[k])}")
    if not any(k in mo for k, _ in _HEAD):
        out.append("- Mask-only R²: 无可用输入（没有变化的 mask 列），模型只能是截距")
    out.append(f"- 结论: {_capture(mo)}。")
    return out


def _agg_text(san):
    ag = optional(san, "aggregate_stats")
    if not ag:
        return ["**Aggregate Statistics Test**: 未运行。"]
    out = [f"**Aggregate Statistics Test**（每条光谱 {ag['n_features']} 个数: {', '.join(f'`{f}`' for f in ag['features'])}）:"]
    for k, label in _HEAD:
        if k in ag:
            out.append(f"- {label}: test R² = {_cell(ag[k])}")
    out.append(f"- 结论: {_capture(ag)}。")
    return out


def _perm_text(san):
    perm = san["permutation"]
    lin, lg = perm["linear"], optional(perm, "lightgbm")
    out = [f"**Label-permutation null**（与 scikit-learn permutation_test_score 相同：在置换后的训练标签上重新拟合，"
           f"在测试集上评分，p = (C + 1) / (置换次数 + 1)，C 为置换得分不低于观测值的次数；线性模型 "
           f"{lin['n_permutations']} 次置换，复用同一次特征分解，p 的下限 {fmt_metric(lin['min_p_value'])}）:", "",
           "| 模型 | 观测 test R² | p 值 | 零分布均值 | 零分布 95% 分位 | 零分布最大值 |",
           "|------|--------------|------|------------|-----------------|--------------|"]
    for name, m in lin["models"].items():
        out.append(f"| {name} | {fmt_metric(m['observed_test_r2'])} | {fmt_metric(m['p_value'])} | {fmt_metric(m['null_mean'])} | "
                   f"{fmt_metric(m['null_q95'])} | {fmt_metric(m['null_max'])} |")
    if lg:
        out.append(f"| LightGBM（{lg['n_train_rows']} 行子样本，{lg['n_permutations']} 次置换） | "
                   f"{fmt_metric(lg['observed_test_r2'])} | {fmt_metric(lg['p_value'])} | {fmt_metric(lg['null_mean'])} | "
                   f"{fmt_metric(lg['null_q95'])} | {fmt_metric(lg['null_max'])} |")
    fw = optional(lin, "familywise")
    if fw:
        out += ["", f"族校正（最佳模型的 p 值）：观测的最佳线性 test R² = {fmt_metric(fw['observed_max'])}（{fw['observed_model']}），"
                    f"每次置换取 {fw['n_models']} 个线性模型与噪声水平组合中的最大 test R² 作为零分布（均值 {fmt_metric(fw['null_mean'])}，"
                    f"95% 分位 {fmt_metric(fw['null_q95'])}），p = {fmt_metric(fw['p_value'])}。单个模型的 p 值没有计入按 test 选最佳这一步，"
                    "判定以族校正 p 为准。"]
    if lg:
        out += ["", f"LightGBM 的观测值是同一 LightGBM 在同一子样本上用真实标签重新拟合的 test R²；"
                    f"{lightgbm_p_text(lg['p_value'], lg['n_permutations'], lg['min_p_value'])}。"]
    return out


def _boot_text(san, gate):
    boot = san["bootstrap"]
    rows = boot["test_r2_ci95"]
    out = [f"**Bootstrap**（测试集行有放回重抽样 {boot['n_resamples']} 次，所有模型使用同一组重抽样，"
           f"{_level(boot)} 百分位区间）:", "", "| 模型 | Test R² | 95% 区间 |", "|------|---------|----------|"]
    for name, r in rows.items():
        ci = r["ci95"]
        out.append(f"| {name} | {fmt_metric(r['test_r2'])} | [{fmt_metric(ci[0])}, {fmt_metric(ci[1])}] |")
    g = san["gate"]
    if g:
        sel = interval_text(g)
        out += ["", f"Gate-1 判定: 最佳模型 {g['best_model']}（L={fmt_level(g['best_noise_level'])}）"
                    f" → {'PASS' if gate['verdict'] == 'PASS' else 'FAIL'}"
                    + ("（选择校正区间跨过阈值，临界）" if gate["borderline"] else "（选择校正区间不跨过阈值）" if sel else "")
                    + "；选择校正区间、置换 p 值与判定规则见 §5.2。"]
    return out


def _variability_text(san):
    v = san["variability"]
    out = [f"**The \"40 positions\" question**（每条 error 除以自身中位数后，逐像素计算训练集上的相对离散度 std/mean；"
           f"阈值 {v['threshold']}）:",
           f"- 相对离散度超过阈值的像素: {v['n_above_threshold']} / {v['n_pixels']}（{fmt_pct(v['fraction_above_threshold'])}）；"
           f"相对离散度中位数 {fmt_metric(v['median_spread'])}，最大 {fmt_metric(v['max_spread'])}"]
    for name, o in v["overlap"].items():
        nul = optional(o, "null")
        ref = (f"；置换零分布 95% 分位 {nul['null_q95']:.1f} 个，p = {fmt_metric(nul['p_value'])}" if nul
               else "；没有零分布（主模型是 LightGBM 时见下一行）")
        out.append(f"- 最易变的 {v['top_k']} 个像素与 {name} 最重要的 {o['k']} 个像素重合 {o['count']} 个"
                   f"（Jaccard = {fmt_metric(o['jaccard'])}{ref}）")
    comp = v["composition"]["kinds"]
    if comp:
        out.append("- 所属波长特征（一个像素可同时属于两类）: " + "；".join(
            f"{_KIND_WORDS[k]} {c['count']} 个（随机期望 {c['expected']:.1f} 个）" for k, c in comp.items()))
    out += ["", "| Rank | Pixel | Wavelength (Å) | 相对离散度 | 目录特征 |", "|------|-------|----------------|------------|----------|"]
    for p in v["top_pixels"]:
        out.append(f"| {p['rank']} | {p['pixel']} | {fmt_wave(p['wavelength'])} | {fmt_metric(p['relative_spread'])} | "
                   f"{pixel_feature_names(p['wavelength'])} |")
    return out


def _snr_text(san):
    s = san["snr"]
    if "skipped" in s:
        return [f"**Leakage by SNR**: 未计算（{zh(s['skipped'])}）。"]
    out = [f"**Leakage by SNR**（最佳模型 {s['model']}，L={fmt_level(s['noise_level'])}，测试集）:", "",
           "| SNR 区间 | 行数 | Test R² |", "|----------|------|---------|"]
    for b in s["bins"]:
        out.append(f"| {b['bin']} | {b['n']} | {fmt_metric(b['test_r2']) if b['test_r2'] is not None else 'n/a（行数不足）'} |")
    out += ["", "| SNR 四分位 | 范围 | 行数 | Test R² |", "|------------|------|------|---------|"]
    for b in s["quartiles"]:
        lo = f"{b['lo']:.2f}" if b["lo"] is not None else "min"
        hi = f"{b['hi']:.2f}" if b["hi"] is not None else "max"
        out.append(f"| {b['bin']} | {lo} 至 {hi} | {b['n']} | {fmt_metric(b['test_r2']) if b['test_r2'] is not None else 'n/a'} |")
    return out


def render_sanity_sections(summary: dict) -> tuple[str, str]:
    """Fig 3 text and appendix 6.2 text from ``summary["sanity"]``.

    Returns
    -------
    fig3 : str        markdown under "Fig 3: Sanity Check Results"
    appendix : str    markdown under "6.2 Sanity Check Details"
    """
    san = summary["sanity"]
    if "skipped" in san:
        text = f"本次运行跳过了 sanity checks：{zh(san['skipped'])}。"
        return text, text
    parts = [_shuffle_text(san), _group_text(san), _mask_text(san), _agg_text(san), _perm_text(san),
             _boot_text(san, summary["gate"]), _variability_text(san), _snr_text(san)]
    appendix = "\n\n".join("\n".join(p) for p in parts if p)
    return _fig3(summary, san), appendix
