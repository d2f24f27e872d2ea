"""Report text about the linear family's numerical resolution and the OLS truncation path (reads
summary["linear"] and summary["linear_scale"] only; absent in older summaries, then every function
returns nothing).

Every sentence states numbers the run computed: the floor and its two terms, the ranks, the test
R2 along the path. Nothing cut is called noise: directions below the floor are those the stored
values cannot resolve (a stated bound), and the path's higher cuts are models of their own, each a
candidate of the gate.
"""

__all__ = ["scale_lines", "ols_cutoff_driven", "ols_path_words", "ols_cutoff_consequence", "resolution_appendix"]

from daudit.output.report.format import fmt_importance, is_number, fmt_level, fmt_metric


def _scale(summary):
    return summary.get("linear_scale") or None


def _path(summary):
    return (_scale(summary) or {}).get("ols_path") or None


def ols_cutoff_driven(summary):
    """True when the OLS test R2 moves by more than the tolerance along its truncation path,
    False when it does not, None when the summary has no path."""
    path = _path(summary)
    if not path or not isinstance(path.get("stable"), bool):
        return None
    return not path["stable"]


def ols_path_words(summary):
    """"截断阈值 ×1（秩 r）时 test R² = a，×10（秩 r）时 ..." or "" without a path."""
    path = _path(summary)
    if not path:
        return ""
    return "，".join(f"阈值 ×{fmt_level(v['factor'])}（秩 {int(v['resolved_rank'])}）时 test R² = {fmt_metric(v['test_r2'])}"
                     for v in path.get("models") or [])


def ols_cutoff_consequence(summary, ols_test_r2):
    """What a path whose test R2 moves means, in numbers ("" when it does not move).

    Every step of the path is a gate candidate, so the gate already holds the highest of them;
    the words say which step that is and how many directions lie between the floor and the top.
    """
    path = _path(summary)
    if not ols_cutoff_driven(summary) or not is_number(ols_test_r2):
        return ""
    steps = path.get("models") or []
    top = max(steps, key=lambda v: v["test_r2"])
    return (f"截断路径上 test R² 最高的是 {top['model']}（{fmt_metric(top['test_r2'])}，保留 {int(top['resolved_rank'])} 个方向）；"
            f"路径的下限与上限之间相差 {int(path['n_dropped_directions'])} 个方向，路径上的每一步都是 Gate-1 的候选模型，"
            "门限统计量、置换零分布与选择校正区间都覆盖整条路径")


def scale_lines(summary):
    """Bullet lines of §2.2: the input's scale, the OLS floor and path, what Ridge's alphas mean."""
    sc = _scale(summary)
    if not sc or not is_number(sc.get("lambda_max")):
        return []
    rank, p = int(sc["resolved_rank"]), int(sc["n_directions"])
    path = sc.get("path") or []
    lines = [
        f"- 输入尺度（L={fmt_level(sc['noise_level'])}）：各像素平均 error 的中位数为 {fmt_importance(sc['median_pixel_mean_error'])}，"
        f"中心化 Gram 矩阵 S = XᵀX 的最大特征值 λ_max = {fmt_importance(sc['ridge_lambda_max'])}。"
        "Ridge 的 α 为绝对值（与 scikit-learn 相同），在水平 L 上与特征值 L²λ 比较：α 远小于 L²λ 的方向几乎不被收缩，"
        "α 远大于 L²λ 的方向被压到接近零。Ridge 在原始单位的 S 上使用全部方向求解（与 scikit-learn 的 "
        "Ridge(solver=\"svd\") 相同），不做截断。",
        f"- OLS 的数值分辨率：OLS 不受像素单位影响，因此在列均衡后的 C = DSD 上求解（D 为每个像素取 2 的幂次的缩放，"
        f"C 的最大特征值 μ_max = {fmt_importance(sc['lambda_max'])}），保留特征值高于下限 τ = {fmt_importance(sc['threshold'])} 的全部方向"
        f"（分辨秩 {rank} / {p}）。τ 是 float64 Gram 矩阵与特征分解自身的误差 {fmt_importance(sc['gram_term'])}："
        "float64 运算能分辨的方向全部保留。输入按其存储精度（单位舍入 "
        f"{fmt_importance(sc['input_roundoff'])}）舍入误差的期望谱范数平方为 {fmt_importance(sc['data_term'])}，特征值高于它的方向有 "
        f"{int(sc['rounding_rank'])} 个" + ("；其余保留的方向与存储值的舍入无法区分，但被审计的模型读到的正是这些存储值，"
                                            "所以不截去，路径上更高的截断见下。"
                                            if int(sc["rounding_rank"]) < rank else "。"),
    ]
    if path:
        lines.append(f"- OLS 截断路径：阈值从 τ 起每步 ×10，直到早期版本使用的阈值 {fmt_importance(sc['previous_threshold'])}"
                     f"（秩 {int(sc['previous_rank'])}），每一步都是一个 OLS 候选模型（"
                     + "、".join(f"{v['model']} 秩 {int(v['resolved_rank'])}" for v in path)
                     + "），全部参加 Gate-1、置换检验与 bootstrap 区间。")
    below = _below(summary)
    if below:
        lines.append(f"- 以下 Ridge 的 α 低于 {fmt_importance(sc['ridge_accuracy_alpha'])}（float64 Gram 的特征值在此以下达不到相对精度 "
                     f"{fmt_importance(sc['eigen_rel_accuracy'])}），其系数与精确 Ridge 的相对差异可达 16·ε·λ_max/α："
                     + "、".join(below) + "。")
    return lines


def _below(summary):
    out = []
    for lv, rec in sorted((summary.get("linear") or {}).items(), key=lambda kv: float(kv[0])):
        for name, m in (rec.get("models") or {}).items():
            if m.get("below_resolution") is True:
                out.append(f"{name}（L={fmt_level(float(lv))}）")
    return out


def resolution_appendix(summary):
    """§6.4: per noise level and model the directions used and the effective degrees of freedom,
    then the OLS truncation path with its R2. [] when the summary has no resolution records."""
    lin = summary.get("linear") or {}
    rows = []
    for lv, rec in sorted(lin.items(), key=lambda kv: float(kv[0])):
        if rec.get("degenerate") or not is_number(rec.get("threshold")):
            continue
        for name, m in (rec.get("models") or {}).items():
            flag = {True: "是", False: "否"}.get(m.get("below_resolution"), "-")
            used = m.get("resolved_rank")
            rows.append(f"| {fmt_level(float(lv))} | {name} | {'-' if used is None else int(used)} / "
                        f"{int(rec['n_directions'])} | {m['effective_dof']:.1f} | {flag} |")
    if not rows:
        return []
    out = ["### 6.4 Numerical Resolution of the Linear Models", "",
           "每个模型使用的方向数与有效自由度（Ridge 为 Σ λ/(λ+α)，对全部方向求和；OLS 为其保留的方向数），"
           "以及 Ridge 的 α 是否低于 float64 Gram 的精度界。", "",
           "| L | Model | 使用的方向 | 有效自由度 | α 低于精度界 |",
           "|---|-------|------------|------------|--------------|", *rows]
    path = _path(summary)
    if path:
        out += ["", "OLS 截断路径（每一步都是 Gate-1 的候选模型）：", "",
                "| Model | 阈值 | 秩 | train R² | val R² | test R² |", "|---|---|---|---|---|---|"]
        out += [f"| {v['model']} | {fmt_importance(v['threshold'])} | {int(v['resolved_rank'])} | {fmt_metric(v['train_r2'])} | "
                f"{fmt_metric(v['val_r2'])} | {fmt_metric(v['test_r2'])} |" for v in path.get("models") or []]
        state = ("OLS 的 test R² 随截断阈值变化" if ols_cutoff_driven(summary)
                 else "OLS 的 test R² 在整条路径上变化不超过容差")
        out += ["", f"与路径下限相比 test R² 的最大变化为 {fmt_metric(path['max_abs_change_test_r2'])}（容差 "
                    f"{fmt_metric(path['tolerance'])}）：{state}。"]
    return out
