"""One table of the sanity checks that refit models: their key in ``summary["sanity"]``, the records
the figure draws and the report tabulates (with their labels), the words for their effects, and the
model columns every check reports.

Read by the sanity figure (`daudit.output.sanity_figure`), the report's text
(`daudit.output.report.sanity_sections`), its list of the checks that ran
(`daudit.output.report.words.checks_that_ran`) and `daudit.checks.assemble` (the model columns
a check's best R² is taken over). Labels in the figure are English; the report's are Chinese.
Text in a label may name a value of the check's record in braces (``{n_features}``) or the
reference noise level (``{ref}``), filled in by the report.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ModelColumn", "Drawn", "Check", "MODEL_COLUMNS", "MODEL_KEYS", "CHECKS", "EFFECT_WORDS", "check"]


@dataclass(frozen=True)
class ModelColumn:
    """A model every check reports: its key in a check's record, its label in the figure and the report."""

    key: str
    label: str
    label_zh: str


MODEL_COLUMNS = (
    ModelColumn("OLS", "OLS", "OLS"),
    ModelColumn("best_ridge", "Ridge (val-selected)", "Ridge（按验证集选出）"),
    ModelColumn("LightGBM", "LightGBM", "LightGBM"),
)
MODEL_KEYS = tuple(m.key for m in MODEL_COLUMNS)


@dataclass(frozen=True)
class Drawn:
    """One record of a check drawn in the figure and tabulated in the report.

    sub : the record inside the check's block (None: the block itself); label : the figure's tick
    label; label_zh : the report table's row; note_zh : the row's fixed conclusion (None: the
    check's effect words).
    """

    sub: str | None
    label: str
    label_zh: str
    note_zh: str | None = None


@dataclass(frozen=True)
class Check:
    """One sanity check that refits the models: its key in ``summary["sanity"]``, the records drawn,
    the family of `EFFECT_WORDS` that judges it (None: no conclusion of its own), its name in the
    report's key observations (None: its effect words stand alone) and its line in the list of the
    checks that ran (None: not listed)."""

    key: str
    drawn: tuple[Drawn, ...]
    effect: str | None
    name_zh: str | None
    ran_zh: str | None


CHECKS = (
    Check("original", (Drawn(None, "Original", "原始模型（L={ref}）", "审计本身的结果"),), None, None, None),
    Check("wavelength_shuffle",
          (Drawn("refit", "Wavelength shuffle\n(refitted)", "波长打乱，重新拟合"),
           Drawn("unrefitted", "Shuffled input,\nNOT refitted", "打乱输入、未重新拟合（仅作对照）",
                 "不是 shuffle test 的结论，见 §6.2")),
          "wavelength_shuffle", None,
          "- Shuffle Test: 打乱波长对齐（每条光谱的像素各自打乱）后重新拟合，检验是否依赖位置信息"),
    Check("group_shuffle", (Drawn(None, "Group shuffle\n(mag x SNR labels)", "mag × SNR 组内打乱标签"),),
          "group_shuffle", None,
          "- Group Shuffle Test: 在 mag × SNR 组内打乱训练标签后重新拟合，检验是否只用到噪声尺度"),
    Check("mask_only", (Drawn(None, "Mask only", "Mask-only"),), "capture", "Mask-only",
          "- Mask-only Test: 只用 mask 位置，检验是否是泄露源"),
    Check("aggregate_stats", (Drawn(None, "10 aggregate\nstatistics", "{n_features} 个聚合统计量"),), "capture",
          "聚合统计量", "- Aggregate Statistics Test: 只用每条光谱的 {n_features} 个聚合统计量"),
)

# What each effect a check records (`daudit.core.schema_sanity`: ShuffleEffect, GroupEffect,
# CaptureEffect) means, in the report's words.
EFFECT_WORDS = {
    "wavelength_shuffle": {
        "collapsed": "打乱波长后重新拟合，R² 跌到阈值以下：泄露依赖于与波长对齐的 error 形状（特定像素位置），而不是整体尺度",
        "survived": "打乱波长后重新拟合，R² 几乎不变：泄露由每条光谱 error 的整体尺度/数值分布携带，与像素位置无关",
        "reduced": "打乱波长后重新拟合，R² 明显下降但仍高于阈值：泄露一部分来自像素位置，一部分来自整体尺度/分布",
        "no_leak_to_explain": "原始 R² 已低于阈值，没有需要解释的泄露；打乱后的结果只作对照",
        "not_run": "未运行",
    },
    "group_shuffle": {
        "retained": "组内打乱标签后 R² 基本保留：模型只用到同组（相近 mag 与 SNR）光谱共有的信息，即噪声尺度",
        "collapsed": "组内打乱标签后 R² 几乎全部消失（低于阈值或保留不到两成）：模型依赖于每颗星自身的细节，而不是 mag/SNR 组共有的噪声尺度",
        "reduced": "组内打乱标签后 R² 部分保留：泄露一部分来自 mag/SNR 组共有的噪声尺度，一部分来自星自身的细节",
        "no_leak_to_explain": "原始 R² 已低于阈值，没有需要解释的泄露；组内打乱的结果只作对照",
        "not_run": "未运行（参数表中没有 mag 与 snr 列）",
    },
    "capture": {
        "captured": "该输入单独就能达到与原始 error 相当的 R²：它足以解释泄露",
        "partly_captured": "该输入单独的 R² 高于阈值但低于原始 R²：它解释了一部分泄露",
        "no_leak": "该输入单独的 R² 低于阈值：单靠它不足以越过阈值",
        "no_varying_mask": "训练集中没有任何像素被 mask（或 mask 处处相同），mask 不可能携带信息",
        "not_run": "未运行",
    },
}


def check(key: str) -> Check:
    """The row of `CHECKS` whose key is ``key``."""
    return next(c for c in CHECKS if c.key == key)
