"""Report sentences about where the importance sits, each tied to its permutation null.

Rules (the only places where the report says "concentrated", names a region, or says what the
"40 positions" are):

- importance is "concentrated" only when the top-40 share is above the 95th percentile of the
  same share under permuted labels (and never from fewer than 19 permutations); otherwise the
  report says the share does not show it, never that the data are consistent with no leak: where
  the leak is comes from the region refits (`daudit.output.report.localisation`), and so does
  the de-leak advice;
- a catalogue region (stellar line, telluric band, sky emission range) or a pixel group is named
  as important only when it is above its family-wise permutation threshold
  (`daudit.checks.importance_null`); every named group names its catalogue feature (or says it
  has none);
- the "40 positions" sentence counts what the 40 most variable pixels are (lines, telluric, sky,
  none) against what 40 random pixels would give, and tests their overlap with the important
  pixels against the null.

Everything is read from the summary; every number is a summary value in the report's formats.
"""

from __future__ import annotations

__all__ = ["importance_null", "concentration_text", "concentration_short", "region_text", "group_text", "positions_text", "peak_text",
           "lightgbm_share_text", "regions_above", "feature_names", "pixel_feature_names", "importance_decision"]

from daudit.core.schema_sanity import checks_of, optional
from daudit.data.catalogue import KIND_ZH, by_key, pixel_features
from daudit.output.report.format import fmt_pct, fmt_metric, fmt_wave
from daudit.output.report.localisation import localisation_decision
from daudit.output.report.format import primary_importance_of as _primary_of

_N_GROUPS = 6  # pixel groups named in the running text (the appendix lists them all)
_N_PEAKS = 3  # tallest pixels whose place the running text gives


def importance_null(summary):
    """``summary["sanity"]["importance_null"]`` (`daudit.core.schema_evidence.ImportanceNull`), or None
    when the run has no sanity checks."""
    checks = checks_of(summary)
    return checks["importance_null"] if checks else None


def _lin(summary):
    """The linear model's importance null (`LinearImportanceNull`), or None when the run has none."""
    null = importance_null(summary)
    return null["linear"] if null else None


def feature_names(keys) -> str:
    """Chinese labels of catalogue features, joined (``"O2 A 吸收带（7594–7700 Å）、K I 7664.9"``)."""
    return "、".join(by_key(k).name_zh for k in keys)


def pixel_feature_names(wavelength) -> str:
    """The catalogue features at one pixel, or "-" when it is in none."""
    return "、".join(f.name_zh for f in pixel_features(wavelength)) or "-"


def regions_above(summary) -> list[dict]:
    """Catalogue regions whose importance share is above the family-wise permutation threshold."""
    lin = _lin(summary)
    return [r for r in lin["regions"]["regions"] if r["above_null"]] if lin else []


def concentration_text(summary) -> tuple[str, bool | None]:
    """(the answer to "concentrated in 40 positions?", whether it is above the null or None)."""
    lin = _lin(summary)
    s = lin["top_k_share"] if lin else None
    n_pix, top_k = summary["data"]["n_pixels"], summary["importance"]["top_k"] if summary["importance"] else None
    if n_pix and top_k and top_k >= n_pix:
        return f"无法判断：Top-{top_k} 已覆盖全部 {n_pix} 个像素，集中度无从判断", None
    if not s:
        return ("无法判断：本次运行没有标签置换零分布，Top-40 占比不作解读", None)
    head = (f"{lin['model']} 的 Top-{s['k']} 像素占总重要性的 {fmt_pct(s['observed'])}，置换零分布"
            f"（{s['n_permutations']} 次标签置换的同一模型）的 95% 分位为 {fmt_pct(s['null_q95'])}，p = {fmt_metric(s['p_value'])}")
    if not s["resolvable"]:
        return (f"无法判断：{head}；{s['n_permutations']} 次置换能给出的最小 p 为 {fmt_metric(s['min_p_value'])}，"
                "不足以在 95% 水平上判断", None)
    if s["above_null"]:
        return f"是：{head}；重要性比无泄露时更集中", True
    if (summary.get("gate") or {}).get("verdict") == "FAIL":
        return (f"否：{head}；这与 Gate-1 未通过并不矛盾：泄露分散在许多像素上时（每个像素只带一小部分信息，"
                f"合起来 R² 仍然很高），最重要的 {s['k']} 个像素所占的份额并不比无泄露时高，所以 Top-{s['k']} 占比"
                "看不出集中，也不能据此排除泄露（泄露在哪里以区域重拟合为准）"), False
    return (f"否：{head}；单凭 Top-{s['k']} 占比看不出集中，不能据此说重要性集中在特定 {s['k']} 个位置，"
            "也不能据此排除泄露（泄露在哪里以区域重拟合为准）"), False


def concentration_short(summary) -> str:
    """The answer to "concentrated?" in a few words; its numbers are in Fig 2's observations."""
    _, above = concentration_text(summary)
    return {True: "是", False: "否", None: "无法判断"}[above] + "（数字与理由见 Fig 2 的关键观察）"


def _feature(r) -> str:
    """The catalogue key of a region unit (a band without its line windows is its band's)."""
    return r["feature"]


def _overlaps(region, others) -> list[str]:
    """Catalogue keys of the other units whose range overlaps ``region`` (lines only for a whole band)."""
    out = []
    for o in others:
        f = _feature(o)
        if (f != _feature(region) and f not in out and not o["without_lines"] and o["lo"] < region["hi"]
                and region["lo"] < o["hi"] and not (region["without_lines"] and o["kind"] == "stellar")):
            out.append(f)
    return out


def region_text(summary) -> str:
    """Which catalogue regions carry more importance than under the null (each with its numbers)."""
    lin = _lin(summary)
    reg = lin["regions"] if lin else None
    if not reg or not reg["regions"]:
        return "没有目录区域的零分布（本次运行没有标签置换）。"
    above = regions_above(summary)
    if not above:
        return ("没有任何目录区域（恒星谱线、大气吸收带、天光发射区）的重要性占比高于族校正的置换零分布阈值；"
                "占比检验只看权重放在哪里，区域是否为泄露来源以区域重拟合为准。")
    parts = []
    for r in above:
        also = _overlaps(r, reg["regions"])
        extra = f"，与 {feature_names(also)} 重叠" if also else ""
        parts.append(f"{r['name_zh']}（{KIND_ZH[r['kind']]}{extra}）：占比 {fmt_pct(r['share'])}，阈值 "
                     f"{fmt_pct(r['threshold'])}（零分布均值 {fmt_pct(r['null_mean'])}）")
    return ("重要性占比高于族校正置换零分布阈值的目录区域：" + "；".join(parts)
            + "（占比高于零分布不等于泄露来源，来源以区域重拟合为准）。")


def group_text(summary, n: int = _N_GROUPS) -> str:
    """The pixel groups above the family-wise per-pixel null, named by their catalogue features."""
    lin = _lin(summary)
    if lin is None:
        return ""
    px = lin["pixels"]
    groups = px["groups"]
    if not groups:
        if regions_above(summary) or lin["top_k_share"]["above_null"]:
            return ("没有单个像素的重要性高于逐像素的族校正置换零分布阈值：逐像素检验要求每个像素单独显著，"
                    "证据分散在多个像素时只有 Top-40 与区域检验能看出来。")
        return "没有任何像素的重要性高于逐像素的族校正置换零分布阈值：逐像素检验看不出集中。"
    named = []
    for g in groups[:n]:
        where = feature_names(g["features"]) if g["features"] else "目录中无对应特征"
        span = f"{fmt_wave(g['wave_lo'])} Å" if g["pixel_lo"] == g["pixel_hi"] else f"{fmt_wave(g['wave_lo'])}–{fmt_wave(g['wave_hi'])} Å"
        named.append(f"{span}（{g['n_above']} 个像素，{where}，占总重要性 {fmt_pct(g['share'])}）")
    more = "；其余各组见 §6.3" if len(groups) > n else ""
    return (f"{px['n_above']} 个像素的重要性高于逐像素的族校正置换零分布阈值，连成 {px['n_groups']} 组，"
            f"按重要性占比排序：" + "、".join(named) + more + "。")


def peak_text(summary, n: int = _N_PEAKS) -> str:
    """Where the tallest importance peaks sit, and whether their region and pixels beat the null.

    A tall peak is not evidence by itself: pixels whose error varies a lot between spectra get
    large importance from a fit to permuted labels too. Each catalogue region holding one of the
    ``n`` tallest pixels is given with its share against its null; pixels outside the catalogue
    with their per-pixel verdict.
    """
    lin = _lin(summary)
    name, rec = _primary_of(summary)
    if lin is None or not rec or name != lin["model"]:
        return ""
    peaks = rec["top_pixels"][:n]
    regions = {r["key"]: r for r in lin["regions"]["regions"]}
    above_px = set(lin["pixels"]["above"])
    seen, parts = [], []
    for p in peaks:
        keys = [f.key for f in pixel_features(p["wavelength"]) if f.key in regions]
        for key in keys:
            if key not in seen:
                seen.append(key)
        if not keys:
            flag = "高于" if int(p["pixel"]) in above_px else "不高于"
            parts.append(f"{fmt_wave(p['wavelength'])} Å 不在任何目录特征内，其重要性{flag}逐像素的族校正零分布阈值")
    for key in seen:
        r = regions[key]
        at = "、".join(f"{fmt_wave(p['wavelength'])} Å" for p in peaks
                      if key in {f.key for f in pixel_features(p["wavelength"])})
        if r["above_null"]:
            verdict = f"高于族校正阈值 {fmt_pct(r['threshold'])}（零分布均值 {fmt_pct(r['null_mean'])}）"
        else:
            below = "，甚至低于零分布均值" if r["share"] <= r["null_mean"] else "，零分布均值"
            verdict = (f"不高于阈值 {fmt_pct(r['threshold'])}{below} {fmt_pct(r['null_mean'])}：标签置换后的拟合在这里"
                       "同样给出这样的峰，不能据此把它当作泄露位置")
        parts.append(f"{at} 位于 {r['name_zh']}，该区域占总重要性的 {fmt_pct(r['share'])}，{verdict}")
    return (f"重要性最高的 {len(peaks)} 个像素：" + "；".join(parts) + "。") if parts else ""


def lightgbm_share_text(summary) -> str:
    """LightGBM's top-40 shares (split count and gain) against its coarse 20-permutation null."""
    null = importance_null(summary)
    lg = null["lightgbm"] if null else None
    if not lg:
        return ""
    parts = []
    for kind, word in (("split", "分裂次数（`feature_importances_` 的默认口径）"), ("gain", "增益")):
        s = lg[kind]
        if s["observed"] >= 1.0 - 1e-9 and s["null_q95"] >= 1.0 - 1e-9:
            parts.append(f"按{word}的 Top-{s['k']} 占比 {fmt_pct(s['observed'])}：这些树用到的像素不超过 {s['k']} 个，"
                         "占比在零分布中也是如此，不能据此判断集中度")
            continue
        p = (f"p ≤ {fmt_metric(s['p_value'])}，{s['n_permutations']} 次置换能给出的最小值" if s["p_value"] <= s["min_p_value"]
             else f"p = {fmt_metric(s['p_value'])}")
        if not s["resolvable"]:
            parts.append(f"按{word}的 Top-{s['k']} 占比 {fmt_pct(s['observed'])}（{p}）：{s['n_permutations']} 次置换"
                         f"能给出的最小 p 为 {fmt_metric(s['min_p_value'])}，不足以判断是否高于零分布的 95% 分位")
            continue
        verdict = "高于" if s["above_null"] else "不高于"
        parts.append(f"按{word}的 Top-{s['k']} 占比 {fmt_pct(s['observed'])}，{verdict}零分布 95% 分位 {fmt_pct(s['null_q95'])}（{p}）")
    return (f"LightGBM（在 {lg['n_train_rows']} 行置换子样本上用真实标签重新拟合，与 {lg['n_permutations']} 次置换比较）："
            + "；".join(parts) + "。")


def positions_text(summary) -> str:
    """The "40 positions" sentence: what the most variable pixels are, and whether models read them."""
    checks = checks_of(summary)
    if checks is None:
        return ""
    v = checks["variability"]
    comp = v["composition"]
    kinds = comp["kinds"]
    parts = []
    for kind in ("telluric", "sky", "stellar"):
        k = kinds[kind]
        if not k["count"]:
            continue
        top = "、".join(f"{by_key(key).name_zh} {c} 个" for key, c in list(k["features"].items())[:3])
        parts.append(f"{k['count']} 个在{KIND_ZH[kind]}（随机 {comp['n']} 个像素的期望 {k['expected']:.1f} 个；{top}）")
    none = kinds["none"]
    if none["count"]:
        parts.append(f"{none['count']} 个不在任何目录特征内（期望 {none['expected']:.1f} 个）")
    over = [k for k in ("telluric", "sky", "stellar", "none") if _over_chance(kinds[k])]
    story = (f"最易变的位置集中在{'、'.join(_KIND_WORDS[k] for k in over)}（计数明显超过随机期望）" if over
             else "最易变的像素在各类波长特征中的分布与随机选取相近")
    out = f"最易变的 {comp['n']} 个像素中，" + "，".join(parts) + f"。{story}；易变本身不等于泄露，模型是否读取它们见下面的重合检验。"
    for name, o in v["overlap"].items():
        nul = optional(o, "null")
        if nul:
            rel = "高于" if nul["above_null"] else "不高于"
            out += (f" 它们与 {name} 最重要的 {o['k']} 个像素重合 {o['count']} 个，{rel}置换零分布的 95% 分位 "
                    f"{nul['null_q95']:.1f} 个（p = {fmt_metric(nul['p_value'])}）。")
    lg = optional(v, "overlap_lightgbm_null")
    if lg and not lg["resolvable"]:
        out += (f" 与 LightGBM（置换子样本上的真实标签拟合，按增益）最重要的像素重合 {lg['count']} 个；"
                f"{lg['n_permutations']} 次置换不足以判断它是否高于零分布的 95% 分位。")
    elif lg:
        rel = "高于" if lg["above_null"] else "不高于"
        out += (f" 与 LightGBM（置换子样本上的真实标签拟合，按增益）最重要的像素重合 {lg['count']} 个，{rel}"
                f" {lg['n_permutations']} 次置换的 95% 分位 {lg['null_q95']:.1f} 个。")
    return out


_OVER_CHANCE = 1.5  # a kind of feature "holds" the most variable pixels above this multiple of chance
_KIND_WORDS = {**KIND_ZH, "none": "目录特征以外"}


def _over_chance(k: dict) -> bool:
    """More of the pixels in this kind than a random set would have (and at least five)."""
    return k["count"] >= 5 and k["count"] > _OVER_CHANCE * k["expected"]


def importance_decision(summary) -> str:
    """What the importance implies for de-leaking: from the region refits when the run has them
    (`daudit.output.report.localisation`), else from the regions above the null."""
    refits = localisation_decision(summary)
    if refits is not None:
        return refits
    above = regions_above(summary)
    passed = summary["gate"]["verdict"] == "PASS"
    lin = _lin(summary)
    if lin is None:
        return "本次运行没有重要性的零分布，不据此选择去泄露的波长区域"
    if not above:
        return ("重要性在谱线、大气吸收带和天光区域都与无泄露一致" if passed else
                "没有哪个谱线、大气吸收带或天光区域的重要性占比高于零分布，而 Gate-1 未通过：泄露分散在许多像素上，"
                "不集中在某类波长区域，所以去泄露不能只靠屏蔽某些波长区域")
    kinds = _evidence_kinds(above, lin["regions"]["regions"])
    out = []
    if "stellar" in kinds:
        out.append("恒星谱线处的 σ 反映谱线深度（光子噪声随 flux 变化），泄露至少部分经由这些谱线；去泄露时优先处理它们")
    if "telluric" in kinds:
        out.append("大气吸收带在去掉其中的恒星谱线窗口后仍高于零分布：该带内的 σ 与标签相关，去泄露时需检查这些吸收带")
    if "sky" in kinds:
        out.append("天光发射区在去掉其中的恒星谱线窗口后仍高于零分布：天光强弱与标签相关，需检查观测条件与标签的关联")
    if not out:
        out.append("高于零分布的大气吸收带或天光区域在去掉其中的恒星谱线窗口后不再高于零分布：它们的超出来自其中的谱线")
    return "；".join(out)


def _evidence_kinds(above, regions) -> set[str]:
    """Kinds of feature the excess can be attributed to: a band counts only without its line windows."""
    split = {r["feature"] for r in regions if r["without_lines"]}
    kinds = set()
    for r in above:
        if r["kind"] == "stellar" or r["without_lines"] or _feature(r) not in split:
            kinds.add(r["kind"])
    return kinds

