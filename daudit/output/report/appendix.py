"""Appendix 6.3 of the report: the top pixels, every importance measure, and the importance nulls.

Tables only, from the summary: the top-40 pixels of the primary model with their catalogue
features and whether each is above the per-pixel null; the top-40 share of every importance
measure with its null where the checks made one; every catalogue region on the grid against
its family-wise threshold; the pixel groups above the null.
"""

from __future__ import annotations

__all__ = ["importance_appendix"]

from daudit.data.catalogue import KIND_ZH
from daudit.output.report.format import fmt_importance, fmt_level, fmt_pct, primary_importance_of, fmt_metric, fmt_wave
from daudit.output.report.localisation import localisation_table
from daudit.output.report.importance import feature_names, importance_null, pixel_feature_names


def _top_pixels(rec, above) -> list[str]:
    out = ["| Rank | Pixel | Wavelength (Å) | Importance | 目录特征（只说明位置） | 高于逐像素零分布 |",
           "|------|-------|----------------|------------|------------------------|------------------|"]
    for p in (rec or {}).get("top_pixels") or []:
        flag = "-" if above is None else ("是" if int(p["pixel"]) in above else "否")
        out.append(f"| {int(p['rank'])} | {int(p['pixel'])} | {fmt_wave(p['wavelength'])} | {fmt_importance(p['importance'])} | "
                   f"{pixel_feature_names(p['wavelength'])} | {flag} |")
    return out


def _shares(summary, top_k) -> list[str]:
    null = importance_null(summary)
    lin, lg = (null["linear"], null["lightgbm"]) if null else (None, None)
    models = ((summary.get("importance") or {}).get("models")) or {}
    if not (lin or lg):
        out = [f"各重要性度量的 Top-{top_k} 占比（本次运行没有置换零分布）：", "",
               f"| 度量 | 类型 | Top-{top_k} 占比 |", "|------|------|------|"]
        return out + [f"| {n} | {m.get('kind', '-')} | {fmt_pct(m.get('top_k_share'))} |" for n, m in models.items()]
    out = [f"各重要性度量的 Top-{top_k} 占比（零分布：同一度量在标签置换拟合上的值）：", "",
           f"| 度量 | 类型 | Top-{top_k} 占比 | 零分布 95% 分位 | p 值 | 置换次数 |",
           "|------|------|------|------|------|------|"]
    for n, m in models.items():
        s = lin["top_k_share"] if lin and n == lin["model"] else None
        cells = f"{fmt_pct(s['null_q95'])} | {fmt_metric(s['p_value'])} | {s['n_permutations']}" if s else "- | - | -"
        out.append(f"| {n} | {m.get('kind', '-')} | {fmt_pct(m.get('top_k_share'))} | {cells} |")
    for kind in ("split", "gain"):
        s = lg[kind] if lg else None
        if s:
            out.append(f"| LightGBM（置换子样本上的真实标签拟合） | {kind} | {fmt_pct(s['observed'])} | "
                       f"{fmt_pct(s['null_q95'])} | {fmt_metric(s['p_value'])}（下限 {fmt_metric(s['min_p_value'])}） | "
                       f"{s['n_permutations']} |")
    return out


def _regions(lin) -> list[str]:
    if not lin or not lin["regions"]["regions"]:
        return []
    reg = lin["regions"]
    out = ["", f"目录区域的重要性占比与族校正阈值（阈值 = 零分布均值 + c × 零分布标准差，c = {fmt_metric(reg['threshold_t'])}："
               "置换零分布下所有区域标准化占比的最大值的 95% 分位）：", "",
           "| 区域 | 类型 | 像素数 | 占比 | 零分布均值 | 零分布 95% 分位 | 族校正阈值 | 高于零分布 |",
           "|------|------|--------|------|------------|-----------------|------------|------------|"]
    for r in reg["regions"]:
        out.append(f"| {r['name_zh']} | {KIND_ZH[r['kind']]} | {r['n_pixels']} | {fmt_pct(r['share'])} | "
                   f"{fmt_pct(r['null_mean'])} | {fmt_pct(r['null_q95'])} | {fmt_pct(r['threshold'])} | "
                   f"{'是' if r['above_null'] else '否'} |")
    return out


def _groups(lin) -> list[str]:
    if not lin:
        return []
    px = lin["pixels"]
    out = ["", f"逐像素零分布：族校正阈值 = 零分布均值 + c × 零分布标准差，c = {fmt_metric(px['threshold_t'])}（所有像素"
               f"标准化重要性的最大值的 95% 分位）；高于阈值的像素 {px['n_above']} 个。"]
    if px["groups"]:
        out += ["", "| 波长范围 (Å) | 高于阈值的像素 | 占总重要性 | 目录特征 |", "|------|------|------|------|"]
        for g in px["groups"]:
            where = feature_names(g["features"]) if g["features"] else "目录中无对应特征"
            out.append(f"| {fmt_wave(g['wave_lo'])}–{fmt_wave(g['wave_hi'])} | {g['n_above']} | {fmt_pct(g['share'])} | {where} |")
    return out


def importance_appendix(summary, top_k, ref) -> list[str]:
    """Lines of "6.3 Top-40 Pixels and Importance Null" (heading included)."""
    name, rec = primary_importance_of(summary)
    null = importance_null(summary)
    lin = null["linear"] if null else None
    above = set(lin["pixels"]["above"]) if lin else None
    head = (f"重要性度量: {name}（{(rec or {}).get('kind', '-')}，参考噪声水平 L={fmt_level(ref)}）。" if rec
            else "本次运行没有重要性结果（参考噪声水平的输入退化或未计算）。")
    out = [f"### 6.3 Top-{top_k} Pixels and Importance Null", "", head, "", *_top_pixels(rec, above), "",
           *_shares(summary, top_k), *_regions(lin), *_groups(lin), *localisation_table(summary)]
    return out
