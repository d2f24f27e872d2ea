"""The report's language rule: Chinese sentences carry no run of three or more English words.

Code spans, image links, markdown headings and the bold English labels that open a paragraph
(the template's "**Shuffle Test**:") are English by the template and are not checked; names
(model names, catalogue labels, the template's test names) count as names, not words; a token
with a digit, an underscore, "=" or a symbol is not a word. What is left of each Chinese line
(or table cell with a Chinese character) is split on white space, and any run of three or more
consecutive English words is reported.
"""

from __future__ import annotations

import re

from daudit.data.catalogue import feature_labels

__all__ = ["english_runs"]

_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"^[(\"'“]?[A-Za-z][A-Za-z'’-]*[)\"'”,.;:!?]*$")
# names and fixed terms of the user's template (English by the template, e.g. "error vector")
_TEMPLATE_NAMES = ("Shuffle Test", "Mask-only Test", "Group Shuffle Test", "Aggregate Statistics Test",
                   "Label-permutation null", "Sanity Checks", "Sanity Check", "error vector", "Bootstrap",
                   "scikit-learn", "MVP-0.2", "Gate-2", "Gate-1", "LightGBM", "LinearRegression", "OLS", "Ridge")


def _names(summary) -> list[str]:
    names = set(_TEMPLATE_NAMES) | feature_labels()
    for row in summary.get("metrics") or []:
        names.add(str(row.get("model")))
    for name in ((summary.get("importance") or {}).get("models") or {}):
        names.add(str(name))
    return sorted(names, key=len, reverse=True)


def _chunks(text: str):
    """(line number, chunk) for every piece of the body that holds a Chinese character."""
    for no, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s.startswith("#") or not _CJK.search(s):
            continue
        s = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", s)  # images
        s = re.sub(r"`[^`]*`", " ", s)  # code
        s = re.sub(r"^(- )?\*\*[^*]+\*\*", " ", s)  # a bold label opening the line
        for cell in (s.strip("|").split("|") if s.startswith("|") else [s]):
            if _CJK.search(cell):
                yield no, cell


def english_runs(text: str, summary: dict, *, min_words: int = 3) -> list[str]:
    """Runs of ``min_words`` or more English words inside the report's Chinese lines and cells."""
    names = _names(summary)
    out = []
    for no, chunk in _chunks(text):
        for name in names:
            chunk = chunk.replace(name, " ")
        run = []
        for tok in chunk.split() + [""]:
            if tok and _WORD.match(tok):
                run.append(tok)
                continue
            if len(run) >= min_words:
                out.append(f"line {no}: {' '.join(run)}")
            run = []
    return out
