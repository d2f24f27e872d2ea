"""Report sentences about the Gate-1 statistic: how it was selected, its interval, its nulls.

The gate statistic is the best test R² over every model at every noise level > 0
(`daudit.models.selection.best_by_test`): a maximum chosen on the test set. The report therefore
quotes it with the interval of that maximum (the best model re-selected in every bootstrap
resample), the model an honest validation-set choice would have picked and its test R², the
family-wise permutation p-value of the best linear model, and LightGBM's own p-value with its
resolution (with K permutations no p-value is below 1 / (K + 1)).
"""

from __future__ import annotations

__all__ = ["GATE_REF", "short_interval", "gate_points", "interval_text", "lightgbm_p_text", "pvalue_text", "selection_text", "val_selected_text", "gate_phrase",
           "ridge_cell", "lgbm_cell", "verdict_words", "borderline_text", "rule_text", "blocked_texts", "status_badge",
           "untested_texts"]

from daudit.core.schema_sanity import checks_of, optional
from daudit.models.selection import SELECTION_WORDS
from daudit.output.report.format import best_text, is_number, fmt_level, fmt_metric, where_text


def _ci(ci) -> str:
    return f"[{fmt_metric(ci[0])}, {fmt_metric(ci[1])}]" if ci and is_number(ci[0]) and is_number(ci[1]) else ""


def selection_text(gate) -> str:
    """How the gate's model was chosen: "按 test R² 从 N 个模型中选出"."""
    n = gate.get("n_candidates")
    return f"{SELECTION_WORDS['test']}，从 {n} 个模型与噪声水平的组合中取最大" if n else SELECTION_WORDS["test"]


def interval_text(gate) -> str:
    """The selection-aware interval, and the narrower one of the winning model alone."""
    ci = _ci(gate.get("ci95"))
    if not ci:
        return ""
    if gate.get("n_candidates"):
        one = _ci(gate.get("ci95_best_model"))
        alone = f"；只看这一个模型的区间为 {one}，未计入选择" if one else ""
        return f"选择校正的置信区间 ci95 = {ci}（每次 bootstrap 重抽样都重新选出最佳模型）{alone}"
    return f"置信区间 ci95 = {ci}"


def val_selected_text(gate) -> str:
    """The model the validation set picks, and its test R² (an unbiased number for that model)."""
    vs = gate.get("val_selected")
    if not vs:
        return ""
    ci = _ci(vs.get("ci95"))
    return (f"{SELECTION_WORDS['val']}的模型为 {vs['model']}（L={fmt_level(vs['noise_level'])}），其 test R² = "
            f"{fmt_metric(vs['test_r2'])}" + (f" {ci}" if ci else ""))


def lightgbm_p_text(p, n, floor) -> str:
    """LightGBM's permutation p-value, never more precise than its resolution 1 / (n + 1)."""
    if not is_number(p):
        return ""
    if is_number(floor) and p <= floor:
        return f"p ≤ {fmt_metric(p)}（{n} 次置换所能给出的最小值：真实 p 可能更小，这个检验分辨不出）"
    return f"p = {fmt_metric(p)}（{n} 次置换，分辨率 {fmt_metric(floor)}）"


def pvalue_text(gate) -> str:
    """The family-wise p-value of the best linear model and LightGBM's own p-value."""
    out = []
    if is_number(gate.get("p_value_familywise")):
        out.append(f"线性模型族（{gate['familywise_n_models']} 个模型与噪声水平的组合）最佳 test R² 的族校正置换 "
                   f"p = {fmt_metric(gate['p_value_familywise'])}（{gate['familywise_n_permutations']} 次标签置换，每次取所有线性"
                   f"模型中的最大值；p 的下限 {fmt_metric(gate['familywise_min_p_value'])}）")
    lg = lightgbm_p_text(gate.get("lightgbm_p_value"), gate.get("lightgbm_n_permutations"),
                         gate.get("lightgbm_min_p_value"))
    if lg:
        out.append(f"LightGBM 在置换子样本上的置换检验 {lg}")
    return "；".join(out)


def lgbm_cell(summary, ctx):
    """LightGBM's key number: tied to one level only when the levels disagree."""
    rows = [r for L, rs in ctx["levels"].items() if L != ctx["zero"] for r in rs if r["model"] == "LightGBM"]
    rec = summary.get("best_lightgbm")
    if rec and len(rows) > 1 and len({fmt_metric(r["test_r2"]) for r in rows}) == 1:
        return f"{fmt_metric(rec['test_r2'])}（LightGBM，所有 L>{fmt_level(ctx['zero'])} 相同：同一次拟合）"
    return best_text(rec)


def ridge_cell(summary):
    """Ridge's key number: the test-selected best and, beside it, the validation-selected one."""
    rec = summary.get("best_ridge")
    if not rec:
        return best_text(rec)
    out = f"{fmt_metric(rec['test_r2'])}（{where_text(rec)}，按 test R² 选出）"
    vs = (summary.get("selected_by_val") or {}).get("ridge")
    if vs:
        out += f"；按验证集 R² 选出：{fmt_metric(vs['test_r2'])}（{where_text(vs)}）"
    return out


GATE_REF = "区间与 p 值见 §5.2"  # the gate's evidence is given once, in §5.2, and referred to elsewhere


def short_interval(gate) -> str:
    """The selection-aware interval in a few words ("选择校正 ci95 = [a, b]"), or ""."""
    ci = _ci(gate.get("ci95"))
    return f"{'选择校正 ' if gate.get('n_candidates') else ''}ci95 = {ci}" if ci else ""


def gate_points(gate) -> list[str]:
    """The gate statistic's evidence, one point each (the interval, the val-selected model, the nulls)."""
    nulls = pvalue_text(gate).split("；LightGBM ", 1)  # the linear family's p, then LightGBM's
    nulls[1:] = ["LightGBM " + x for x in nulls[1:]]
    return [x for x in (interval_text(gate), val_selected_text(gate), *nulls) if x]


def gate_phrase(gate):
    """The gate statistic's interval, the val-selected model and the nulls, as one clause list."""
    return "；".join(x for x in (interval_text(gate), val_selected_text(gate), pvalue_text(gate)) if x)


# ---------------------------------------------------------------- the verdict, its rule, borderline, blocks
_RULE_WORDS = {"point": "point 规则：最佳 test R² < {thr} 即通过（种子规则）",
               "strict": "strict 规则：最佳 test R² 的选择校正置信区间上端 < {thr} 才通过"}


def verdict_words(gate) -> str:
    """"通过" / "未通过", with "（临界）" when the selection-aware interval straddles the threshold."""
    words = "通过" if gate.get("verdict") == "PASS" else "未通过"
    return words + ("（临界）" if gate.get("borderline") else "")


def status_badge(gate) -> str:
    """The report header's status: ✅ PASS, ⚠️ PASS (borderline), ❌ FAIL (borderline), ❌ FAIL."""
    passed = gate.get("verdict") == "PASS"
    icon = ("⚠️" if gate.get("borderline") else "✅") if passed else "❌"
    return f"{icon} {gate.get('verdict')}" + (" (borderline)" if gate.get("borderline") else "")


def borderline_text(gate) -> str:
    """Why a borderline verdict is not a clean one (empty when the interval does not straddle)."""
    if not gate.get("borderline"):
        return ""
    thr = fmt_level(gate["threshold"])
    head = f"临界结果：最佳 test R² 的选择校正置信区间 {_ci(gate.get('ci95'))} 跨过阈值 {thr}"
    if gate.get("verdict") == "PASS":
        return head + "，这不是干净的通过：换一组测试集可能得到未通过（spec 设 `gate.rule: strict` 时判为未通过）"
    return head + "，点估计与区间上端落在阈值两侧"


def rule_text(gate) -> str:
    """Which rule decided the verdict (spec ``gate.rule``)."""
    rule = gate.get("rule") or "point"
    return f"判定规则（spec `gate.rule`）：{_RULE_WORDS[rule].format(thr=fmt_level(gate['threshold']))}"


def blocked_texts(summary) -> list[str]:
    """One sentence per input check that turned a PASS into a FAIL (`gate.blocked_by`)."""
    out = []
    splits = (summary.get("data") or {}).get("splits") or {}
    checks = checks_of(summary)
    mo = optional(checks, "mask_only") if checks else None
    for b in summary["gate"].get("blocked_by") or []:
        if b.get("check") == "label_shift":
            sh = (splits.get(b["where"]) or {}).get("label_shift") or {}
            out.append(f"{b['where']} 的标签分布与 train 不同（KS D = {fmt_metric(sh.get('ks_d'))}，标准差之比 = "
                       f"{fmt_metric(sh.get('std_ratio'))}），在这样的测试集上 R² 不能代表 train 的分布")
        elif b.get("check") == "bad_pixel_pattern":
            out.append(f"坏像素模式（mask、NaN 或非正 error 值）单独预测标签的 test R² = {fmt_metric(mo['best_test_r2'] if mo else None)}"
                       f" ≥ {fmt_level(summary['gate']['threshold'])}：最近像素填补抹去了这一信息，但存储的 error 携带它")
        else:
            out.append(b.get("text", ""))
    return out


def untested_texts(summary) -> list[str]:
    """One sentence per input the verdict did not test (`gate.untested`)."""
    return ["坏像素模式未检验：error 中有 NaN 值（已按最近像素填补），但 mask-only 检验没有运行"
            "（spec 的 sanity.enabled 或 sanity.mask_only 为 false），NaN 的位置是否携带标签不得而知"
            for u in summary["gate"].get("untested") or [] if u.get("check") == "bad_pixel_pattern"]
