"""Rendering of ``summary["sanity"]`` (issue 4 fills the checks in; this part is replaceable).

`_render_sanity` is the only function that reads ``summary["sanity"]``. Until the sanity checks
exist it states in place that they are not part of the run, and renders whatever keys it finds
generically.
"""

__all__ = ["_render_sanity", "SANITY_ABSENT"]

import math

from daudit.output.report.sanity_sections import render_sanity_sections

SANITY_ABSENT = "本次运行尚未包含 sanity checks（Shuffle Test 与 Mask-only Test 由后续模块提供，summary 中没有 `sanity` 字段）。"


def _fmt_value(value):
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.4f}"
    if value is None:
        return "n/a"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt_value(v) for v in value) + "]"
    return str(value)


def _flatten(obj, prefix=""):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _flatten(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, obj


def _render_sanity(summary):
    """The sanity-check results as markdown.

    Parameters
    ----------
    summary : dict
        The run summary; ``summary.get("sanity")`` may be absent.

    Returns
    -------
    fig3 : str
        The text under "Fig 3: Sanity Check Results".
    appendix : str
        The text under "6.2 Sanity Check Details".
    """
    sanity = summary.get("sanity")
    if not sanity:
        fig3 = SANITY_ABSENT
        appendix = "\n".join([
            SANITY_ABSENT,
            "",
            "**Shuffle Test**:",
            "- 原始 R²: 尚未执行",
            "- 打乱后 R²: 尚未执行",
            "- 结论: 待 sanity checks 完成后补充",
            "",
            "**Mask-only Test**:",
            "- Mask-only R²: 尚未执行",
            "- 结论: 待 sanity checks 完成后补充",
        ])
        return fig3, appendix
    if "original" in sanity or "skipped" in sanity:  # the structure daudit.checks writes

        return render_sanity_sections(summary)
    rows = [f"- `{key}`: {_fmt_value(value)}" for key, value in _flatten(sanity)]
    fig3 = "Sanity check 结果（summary 中 `sanity` 字段的原始内容，详见 §6.2）：\n\n" + "\n".join(rows)
    appendix = "\n".join(["| 检验项 | 值 |", "|--------|----|"] + [
        f"| `{key}` | {_fmt_value(value)} |" for key, value in _flatten(sanity)
    ])
    return fig3, appendix
