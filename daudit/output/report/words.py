"""Chinese words for facts the summary stores in English or as keys (the report's body is Chinese).

The summary keeps machine-readable English strings (a plan's reason, a mask's source, why a check
was skipped); the report never pastes them into a Chinese sentence. It rebuilds the sentence
from the numbers (`lightgbm_rows_text`), maps a known value to its Chinese words (`zh`), or,
for a value it does not know, quotes it as code.
"""

from __future__ import annotations

from daudit.checks.table import CHECKS
from daudit.core.schema_sanity import optional

__all__ = ["checks_that_ran", "lightgbm_rows_text", "zh"]

_ZH = {
    "the file's mask array or non-finite or non-positive error": "文件中的 mask 数组，或非有限、非正的 error 值（二者取并）",
    "derived: non-finite or non-positive error": "由 error 推出（非有限或非正的 error 记为被 mask）",
    "the params table has no mag and snr columns": "参数表中没有 mag 与 snr 列",
    "no snr column in the params table": "参数表中没有 snr 列",
    "no predictions": "没有最佳模型的预测",
    "every noise level is degenerate (identically zero input): nothing to check": "所有噪声水平都退化（输入恒为零），没有可检验的内容",
}


def zh(text) -> str:
    """Chinese words for a stored English fact; an unknown one is quoted as code."""
    if text is None:
        return "n/a"
    return _ZH.get(str(text), f"`{text}`")


def lightgbm_rows_text(lgb: dict) -> str:
    """Which train rows LightGBM used and why, from the plan's numbers (``summary["lightgbm"]``)."""
    used, total = lgb.get("n_train_rows_used"), lgb.get("n_train_rows")
    sample = lgb.get("bin_construct_sample_cnt")
    if used is None or total is None:
        return "训练行数未记录"
    if lgb.get("subsampled"):
        return (f"内存预算只容得下部分训练行：在按种子抽取的整块子样本上训练（{used} / {total} 行），"
                f"分箱边界取自 {sample} 行")
    if sample is not None and sample < min(total, 200_000):
        return f"训练使用全部 {total} 行；为满足内存预算，分箱边界只取自 {sample} 个抽样行"
    return f"训练使用全部 {total} 行（内存预算足够，分箱按 LightGBM 的默认抽样）"


def _ran(chk, block) -> bool:
    """A shuffle check ran when its effect is not "not_run"; a capture check is listed when present."""
    return block is not None and (chk.effect == "capture" or block["effect"] != "not_run")


def checks_that_ran(summary) -> list[str]:
    """The list of §2.3: every sanity check of this run, with what it tests."""
    san = optional(summary, "sanity")
    if san is None:
        return ["- 本次运行没有执行 sanity checks（spec 中 sanity.enabled 为 false）。"]
    if "skipped" in san:
        return [f"- 本次运行跳过了 sanity checks：{zh(san['skipped'])}。"]
    out = [chk.ran_zh.format(**optional(san, chk.key)) for chk in CHECKS
           if chk.ran_zh is not None and _ran(chk, optional(san, chk.key))]
    lin, lg = san["permutation"]["linear"], optional(san["permutation"], "lightgbm")
    if lin["n_permutations"]:
        lg_txt = f"、LightGBM {lg['n_permutations']} 次" if lg else ""
        out.append(f"- 标签置换零分布: 线性模型 {lin['n_permutations']} 次{lg_txt}，给出每个模型与最佳模型（族校正）的 p 值")
    boot = san["bootstrap"]
    if boot["n_resamples"]:
        out.append(f"- Bootstrap: 测试集 {boot['n_resamples']} 次重抽样，给出每个模型及选择校正后最佳 R² 的 95% 区间")
    if san["importance_null"]["linear"] or san["importance_null"]["lightgbm"]:
        out.append("- 重要性的置换零分布: Top-40 占比、每个目录区域和每个像素的重要性与标签置换拟合比较")
    if san["variability"]:
        out.append("- \"40 个位置\": 按中位数归一化后最易变的像素、它们属于哪类波长特征、与重要像素的重合")
    if optional(san["snr"], "bins"):
        out.append("- 按 SNR 分组: 最佳模型在各 SNR 区间与四分位上的 test R²")
    return out
