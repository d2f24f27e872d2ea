"""Report text about the linear family's numerical resolution (reads summary["linear"] and
summary["linear_scale"] only; absent in older summaries, then every function returns nothing).

The scale of the input (median error, lambda_max, threshold) tells a reader what the absolute
alphas mean; the OLS sensitivity (test R2 at the threshold x0.1 and x10) decides whether the
report may interpret the OLS number at all (`ols_cutoff_driven`).
"""

__all__ = ["scale_lines", "ols_cutoff_driven", "ols_sensitivity_words", "ols_cutoff_consequence",
           "resolution_appendix"]

from daudit.output.report.format import _imp, _isnum, _lv, _r


def _scale(summary):
    return summary.get("linear_scale") or None


def _sens(summary):
    return (_scale(summary) or {}).get("ols_sensitivity") or None


def ols_cutoff_driven(summary):
    """True when the OLS test R2 moves by more than the tolerance at the threshold x0.1 or x10,
    False when it does not, None when the summary has no sensitivity."""
    sens = _sens(summary)
    if not sens or not isinstance(sens.get("stable"), bool):
        return None
    return not sens["stable"]


def ols_sensitivity_words(summary):
    """"阈值 ×0.1 时 test R² = a（分辨秩 r），×10 时 ..." or "" without a sensitivity."""
    sens = _sens(summary)
    if not sens:
        return ""
    parts = [f"阈值 ×{_lv(v['factor'])} 时 test R² = {_r(v['test_r2'])}（分辨秩 {int(v['resolved_rank'])}）"
             for v in (sens.get("factors") or {}).values()]
    return "，".join(parts)


def ols_cutoff_consequence(summary, ols_test_r2):
    """What a cut-off-driven OLS means for the leakage number, in words ("" when not driven).

    A lower threshold with a higher held-out R2 means the cut directions still carry leaked
    signal (held-out R2 is evidence of leakage whatever the fit's precision): the reported best
    number is then a conservative estimate. Otherwise the lower threshold only adds noise.
    """
    sens = _sens(summary)
    if not ols_cutoff_driven(summary) or not _isnum(ols_test_r2):
        return ""
    higher = [v for v in (sens.get("factors") or {}).values()
              if v["factor"] < 1 and v["test_r2"] > ols_test_r2 + sens["tolerance"]]
    if higher:
        v = max(higher, key=lambda r: r["test_r2"])
        return (f"阈值 ×{_lv(v['factor'])} 时 OLS 的 test R² 升至 {_r(v['test_r2'])}，被截去的方向中仍含泄露信号，"
                "因此本报告的最佳 test R² 是泄露程度的保守估计（这些方向的数值精度达不到分辨阈值的要求，不作为报告值）")
    return "更低的阈值没有提高 OLS 的 test R²，被截去的方向主要是数值噪声"


def scale_lines(summary):
    """Bullet lines of §2.2: the input's scale, the resolution threshold, what alphas mean."""
    sc = _scale(summary)
    if not sc or not _isnum(sc.get("lambda_max")):
        return []
    rank, p = int(sc["resolved_rank"]), int(sc["n_directions"])
    lines = [
        f"- 输入尺度（L={_lv(sc['noise_level'])}）：各像素平均 error 的中位数为 {_imp(sc['median_pixel_mean_error'])}，"
        f"中心化 Gram 矩阵 S = XᵀX 的最大特征值 λ_max = {_imp(sc['lambda_max'])}。"
        "Ridge 的 α 为绝对值（与 scikit-learn 相同），在水平 L 上与特征值 L²λ 比较：α 远小于 L²λ 的方向几乎不被收缩，"
        "α 远大于 L²λ 的方向被压到接近零。",
        f"- 数值分辨率：特征值不大于阈值 τ = {_imp(sc['threshold'])}（L={_lv(sc['noise_level'])}，随 L² 缩放）的特征方向视为未分辨，"
        f"OLS 与所有 Ridge 在这些方向上的系数为零，因此所有线性模型位于同一个已分辨子空间上（分辨秩 {rank} / {p}）。"
        f"τ 取两项中的较大者：输入按其存储精度（单位舍入 {_imp(sc['input_roundoff'])}）所能区分的最小特征值 "
        f"{_imp(sc['data_term'])}，以及 float64 Gram 矩阵能以相对精度 {_imp(sc['eigen_rel_accuracy'])} 确定的最小特征值 "
        f"{_imp(sc['gram_term'])}。",
    ]
    below = _below(summary)
    if below:
        lines.append("- 以下 Ridge 的 α 低于分辨阈值 τ：它的收缩只在特征值与 τ 相当或更小的方向上明显，而未分辨方向已被置零，"
                     "因此它接近已分辨子空间上的 OLS（每个已分辨方向的相对收缩小于 α/(τ+α)，有效自由度见附录 §6.4）："
                     + "、".join(below) + "。")
    return lines


def _below(summary):
    out = []
    for lv, rec in sorted((summary.get("linear") or {}).items(), key=lambda kv: float(kv[0])):
        for name, m in (rec.get("models") or {}).items():
            if m.get("below_resolution") is True:
                out.append(f"{name}（L={_lv(float(lv))}）")
    return out


def resolution_appendix(summary):
    """§6.4: per noise level the threshold and rank, per model the effective degrees of freedom,
    and the OLS sensitivity. [] when the summary has no resolution records."""
    lin = summary.get("linear") or {}
    rows = []
    for lv, rec in sorted(lin.items(), key=lambda kv: float(kv[0])):
        if rec.get("degenerate") or not _isnum(rec.get("threshold")):
            continue
        for name, m in (rec.get("models") or {}).items():
            flag = {True: "是（接近 OLS）", False: "否"}.get(m.get("below_resolution"), "-")
            rows.append(f"| {_lv(float(lv))} | {name} | {_imp(rec['lambda_max'])} | {_imp(rec['threshold'])} | "
                        f"{int(rec['resolved_rank'])} / {int(rec['n_directions'])} | {m['effective_dof']:.1f} | {flag} |")
    if not rows:
        return []
    out = ["### 6.4 Numerical Resolution of the Linear Models", "",
           "每个噪声水平的最大特征值、分辨阈值 τ 与分辨秩，以及每个模型的有效自由度 Σ λ/(λ+α)（只对已分辨方向求和；OLS 的有效自由度等于分辨秩）。", "",
           "| L | Model | λ_max | τ | 分辨秩 | 有效自由度 | α 低于 τ |",
           "|---|-------|-------|---|--------|------------|----------|", *rows]
    sens = _sens(summary)
    if sens:
        state = ("OLS 的数值由截断阈值决定，不能用来判断过拟合或正则化的作用" if ols_cutoff_driven(summary)
                 else "OLS 的数值对截断阈值不敏感")
        out += ["", f"OLS 截断敏感性：{ols_sensitivity_words(summary)}；与阈值 ×1 相比 test R² 的最大变化为 "
                    f"{_r(sens['max_abs_change_test_r2'])}（容差 {_r(sens['tolerance'])}），{state}。"]
    return out
