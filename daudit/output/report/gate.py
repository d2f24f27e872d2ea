"""Report sentences about the Gate-1 statistic: how it was selected, its interval, its nulls.

The gate statistic is the best test R² over every model at every noise level > 0
(`daudit.models.selection.best_by_test`): a maximum chosen on the test set. The report therefore
quotes it with the interval of that maximum (the best model re-selected in every bootstrap
resample), the model an honest validation-set choice would have picked and its test R², the
family-wise permutation p-value of the best linear model, and LightGBM's own p-value with its
resolution (with K permutations no p-value is below 1 / (K + 1)).
"""

from __future__ import annotations

__all__ = ["interval_text", "lightgbm_p_text", "pvalue_text", "selection_text", "val_selected_text", "gate_phrase",
           "ridge_cell", "lgbm_cell"]

from daudit.models.selection import SELECTION_WORDS
from daudit.output.report.format import _best_txt, _isnum, _lv, _r, _where


def _ci(ci) -> str:
    return f"[{_r(ci[0])}, {_r(ci[1])}]" if ci and _isnum(ci[0]) and _isnum(ci[1]) else ""


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
    return (f"{SELECTION_WORDS['val']}的模型为 {vs['model']}（L={_lv(vs['noise_level'])}），其 test R² = "
            f"{_r(vs['test_r2'])}" + (f" {ci}" if ci else ""))


def lightgbm_p_text(p, n, floor) -> str:
    """LightGBM's permutation p-value, never more precise than its resolution 1 / (n + 1)."""
    if not _isnum(p):
        return ""
    if _isnum(floor) and p <= floor:
        return f"p ≤ {_r(p)}（{n} 次置换所能给出的最小值：真实 p 可能更小，这个检验分辨不出）"
    return f"p = {_r(p)}（{n} 次置换，分辨率 {_r(floor)}）"


def pvalue_text(gate) -> str:
    """The family-wise p-value of the best linear model and LightGBM's own p-value."""
    out = []
    if _isnum(gate.get("p_value_familywise")):
        out.append(f"线性模型族（{gate['familywise_n_models']} 个模型与噪声水平的组合）最佳 test R² 的族校正置换 "
                   f"p = {_r(gate['p_value_familywise'])}（{gate['familywise_n_permutations']} 次标签置换，每次取所有线性"
                   f"模型中的最大值；p 的下限 {_r(gate['familywise_min_p_value'])}）")
    lg = lightgbm_p_text(gate.get("lightgbm_p_value"), gate.get("lightgbm_n_permutations"),
                         gate.get("lightgbm_min_p_value"))
    if lg:
        out.append(f"LightGBM 在置换子样本上的置换检验 {lg}")
    return "；".join(out)


def lgbm_cell(summary, ctx):
    """LightGBM's key number: tied to one level only when the levels disagree."""
    rows = [r for L, rs in ctx["levels"].items() if L != ctx["zero"] for r in rs if r["model"] == "LightGBM"]
    rec = summary.get("best_lightgbm")
    if rec and len(rows) > 1 and len({_r(r["test_r2"]) for r in rows}) == 1:
        return f"{_r(rec['test_r2'])}（LightGBM，所有 L>{_lv(ctx['zero'])} 相同：同一次拟合）"
    return _best_txt(rec)


def ridge_cell(summary):
    """Ridge's key number: the test-selected best and, beside it, the validation-selected one."""
    rec = summary.get("best_ridge")
    if not rec:
        return _best_txt(rec)
    out = f"{_r(rec['test_r2'])}（{_where(rec)}，按 test R² 选出）"
    vs = (summary.get("selected_by_val") or {}).get("ridge")
    if vs:
        out += f"；按验证集 R² 选出：{_r(vs['test_r2'])}（{_where(vs)}）"
    return out


def gate_phrase(gate):
    """The gate statistic's interval, the val-selected model and the nulls, as one clause list."""
    return "；".join(x for x in (interval_text(gate), val_selected_text(gate), pvalue_text(gate)) if x)
