"""Rendering of ``summary["sanity"]``: Fig 3 and appendix 6.2, or in place a statement that the run
has no sanity checks (``sanity.enabled`` false).

The summary is a validated one of the current schema (`daudit.core.schema_sanity`): the checks'
records are rendered by `daudit.output.report.sanity_sections`.
"""

__all__ = ["render_sanity", "SANITY_ABSENT"]

from daudit.output.report.sanity_sections import render_sanity_sections

SANITY_ABSENT = "本次运行尚未包含 sanity checks（Shuffle Test 与 Mask-only Test 由后续模块提供，summary 中没有 `sanity` 字段）。"


def render_sanity(summary):
    """The sanity-check results as markdown.

    Parameters
    ----------
    summary : dict
        The run summary; ``summary["sanity"]`` may be absent (the checks were switched off).

    Returns
    -------
    fig3 : str
        The text under "Fig 3: Sanity Check Results".
    appendix : str
        The text under "6.2 Sanity Check Details".
    """
    if "sanity" not in summary:
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
    return render_sanity_sections(summary)
