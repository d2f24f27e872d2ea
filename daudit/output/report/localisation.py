"""Report sentences about where the leak is, from the region refits (`daudit.checks.localise`).

Rules: a region is called a source of the leak only when ``sanity.localisation`` says so (its
alone R² reaches the gate, or dropping it lowers the R² materially beyond the bootstrap noise);
de-leak advice says "masking it removes the leak" only for a source whose dropped R² is below
the gate. Every number is a summary value in the report's formats.
"""

from __future__ import annotations

__all__ = ["localisation", "sources", "localisation_text", "localisation_decision", "source_names",
           "localisation_table"]

from daudit.core.schema_sanity import checks_of
from daudit.output.report.format import fmt_level, fmt_metric

_N_NAMED = 4  # sources named in the running text (the appendix lists every region)


def localisation(summary):
    """``summary["sanity"]["localisation"]`` (`daudit.core.schema_evidence.Localisation`), or None when
    the run has none."""
    checks = checks_of(summary)
    return checks["localisation"] if checks else None


def sources(summary) -> list[dict]:
    """The regions the refits name as sources, largest drop first."""
    loc = localisation(summary)
    return [u for u in loc["units"] if u["source"]] if loc else []


_N_LISTED = 5  # sources listed by name where the text names them all at once


def source_names(summary) -> str:
    """Chinese names of the first sources, joined, with how many there are ("" when none)."""
    src = sources(summary)
    names = "、".join(u["name_zh"] for u in src[:_N_LISTED])
    return names + (f" 等 {len(src)} 个（全部见 §6.3 的 Region refits 表）" if len(src) > _N_LISTED else "")


def _ci(pair) -> str:
    return f"[{fmt_metric(pair[0])}, {fmt_metric(pair[1])}]" if pair else "n/a"


def _one(u) -> str:
    kind = "目录以外" if u["kind"] in ("band", "bands") else "目录区域"
    why = ("" if "drop" in u["why"] else
           "；它单独就达到阈值，但删去它 R² 下降不足，它携带的信息其他像素也有")
    return (f"{u['name_zh']}（{kind}，{u['n_pixels']} 个像素）：删去后 R² = {fmt_metric(u['dropped_test_r2'])}，"
            f"下降 {fmt_metric(u['drop'])}（95% 区间 {_ci(u['drop_ci95'])}），单独拟合 R² = {fmt_metric(u['alone_test_r2'])}{why}")


def localisation_text(summary) -> str:
    """The paragraph: the full model's R², each source with its numbers, and what the rest shows."""
    loc = localisation(summary)
    if not loc:
        return ""
    head = (f"区域重拟合（{loc['model']}，L={fmt_level(loc['noise_level'])}，在 test 上评估，由同一训练 Gram 矩阵的子块得到）："
            f"完整模型 R² = {fmt_metric(loc['full_test_r2'])}（95% 区间 {_ci(loc['full_ci95'])}）")
    src = sources(summary)
    n_units = len(loc["units"])
    if not src:
        return (head + f"；{n_units} 个区域（目录区域与逐像素零分布的像素带）中，没有一个删去后使 R² 超出 bootstrap 噪声地"
                "显著下降，也没有一个单独拟合达到阈值：重拟合没有指认任何泄露来源。")
    named = "；".join(_one(u) for u in src[:_N_NAMED])
    more = "；其余来源见 §6.3" if len(src) > _N_NAMED else ""
    cat = [u for u in src if u["kind"] not in ("band", "bands")]
    off = ("；没有任何目录区域（恒星谱线、大气吸收带、天光发射区）是来源：泄露来源在目录特征以外" if not cat else "")
    return head + f"；{len(src)} 个区域被认定为泄露来源：" + named + more + off + "。"


def localisation_decision(summary) -> str | None:
    """De-leak advice from the refits (None when the run has none)."""
    loc = localisation(summary)
    if not loc:
        return None
    thr = fmt_level(loc["threshold"])
    src = sources(summary)
    removing = [u for u in src if u["removes"]]
    if removing:
        u = removing[0]
        return (f"屏蔽 {u['name_zh']} 后线性模型的 test R² 降到 {fmt_metric(u['dropped_test_r2'])}，低于阈值 {thr}："
                "屏蔽这一区域即可去除这一线性泄露；去泄露后仍需用同一审计（含非线性模型）复核")
    if src:
        best = min(src, key=lambda u: u["dropped_test_r2"] if u["dropped_test_r2"] is not None else 1e300)
        return (f"区域重拟合认定的 {len(src)} 个泄露来源中，屏蔽任何一个都不能让线性 R² 低于阈值 {thr}"
                f"（屏蔽 {best['name_zh']} 后仍为 {fmt_metric(best['dropped_test_r2'])}）：去泄露不能只靠屏蔽单个区域")
    if (loc["full_test_r2"] or 0.0) >= loc["threshold"]:
        return "重拟合没有指认任何区域为泄露来源：泄露分散在许多像素上，去泄露不能只靠屏蔽某些波长区域"
    return "重拟合没有指认任何区域为泄露来源"


def localisation_table(summary) -> list[str]:
    """The appendix table: every refitted region's numbers."""
    loc = localisation(summary)
    if not loc or not loc["units"]:
        return []
    units = loc["units"]
    out = ["", f"**Region refits**（{loc['model']}，L={fmt_level(loc['noise_level'])}，test；完整模型 R² = "
               f"{fmt_metric(loc['full_test_r2'])}）：", "",
           "| 区域 | 像素数 | 删去后 R² | 下降 (95% 区间) | 单独 R² | 来源 | 屏蔽即可去除 |",
           "|------|--------|-----------|------------------|---------|------|--------------|"]
    for u in units:
        out.append(f"| {u['name_zh']} | {u['n_pixels']} | {fmt_metric(u['dropped_test_r2'])} | {fmt_metric(u['drop'])} "
                   f"{_ci(u['drop_ci95'])} | {fmt_metric(u['alone_test_r2'])} | {'是' if u['source'] else '否'} | "
                   f"{'是' if u['removes'] else '否'} |")
    return out
