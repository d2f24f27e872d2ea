"""Layout of long report sentences: a sentence that lists many items becomes a list of short points.

Pure text: "head：a；b；c。" (the items separated by "；" outside parentheses) becomes the point
"head：" with one sub-point per item, so that no paragraph of the report runs to thousands of
characters. Shorter sentences stay as one point.
"""

from __future__ import annotations

__all__ = ["as_points", "POINT_LIMIT"]

POINT_LIMIT = 300  # characters: a longer sentence is split into its items
_OPEN, _CLOSE = "（([", "）)]"


def _split_top(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` where no parenthesis is open."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(depth - 1, 0)
        elif ch == sep and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return [x.strip() for x in out if x.strip()]


def as_points(text: str, *, indent: str = "") -> list[str]:
    """Markdown bullet lines for one sentence (or several, separated by "。")."""
    out = []
    for sentence in _split_top(text.strip(), "。"):
        items = _split_top(sentence, "；")
        if len(sentence) <= POINT_LIMIT or len(items) == 1:
            out.append(f"{indent}- {sentence}。")
            continue
        head, colon, first = items[0].partition("：")
        if colon and len(head) < 120:
            out.append(f"{indent}- {head}：")
            items[0] = first
        else:
            out.append(f"{indent}- {items.pop(0)}：")
        out += [f"{indent}  - {x}" for x in items]
    return out
