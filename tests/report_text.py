"""Measures of the report's text (issue 28): English headings, Chinese paragraphs, nothing said twice,
no wall of text, one interval per model.

A "paragraph" is a non-table line of running text (a bullet counts as one), or one table cell;
a passage "said twice" is any run of `MIN_REPEATED` characters found in two places of the body.
"""

from __future__ import annotations

import re
from collections import Counter

__all__ = ["cjk_headings", "paragraphs_without_chinese", "repeated_sentences", "long_paragraphs", "model_intervals",
           "MAX_PARAGRAPH", "MIN_REPEATED"]

_CJK = re.compile(r"[\u3400-\u9fff]")
MAX_PARAGRAPH = 600  # characters
MIN_REPEATED = 80  # characters: a sentence this long is said once


def _body(text: str):
    """(line, is_table) of the body: no headings, quotes (the template's header), images, rules."""
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith(("#", ">", "![", "---")) or set(s) <= set("|-: "):
            continue
        yield s, s.startswith("|")


def cjk_headings(text: str) -> list[str]:
    """Headings (lines starting with '#') that hold a Chinese character."""
    return [line for line in text.splitlines() if line.startswith("#") and _CJK.search(line)]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def paragraphs(text: str) -> list[str]:
    """Running-text lines and table cells of the body."""
    out = []
    for s, table in _body(text):
        out += _cells(s) if table else [s]
    return out


_WORD = re.compile(r"^[(\"'“]?[A-Za-z][A-Za-z'’-]*[)\"'”,.;:!?]*$")  # as in report_language: no digits, no "="


def paragraphs_without_chinese(text: str, min_words: int = 3) -> list[str]:
    """Running-text lines (not tables) of ``min_words`` or more English words and no Chinese character.

    Bold labels that open a line and code spans are the template's; a line of names and numbers
    ("- LinearRegression (OLS)", "- OLS: test R² = 0.0941 [..]") is data, not a paragraph.
    """
    out = []
    for s, table in _body(text):
        if table:
            continue
        rest = re.sub(r"^(- )?\*\*[^*]+\*\*:?", " ", re.sub(r"`[^`]*`", " ", s))
        words = [t for t in rest.split() if _WORD.match(t)]
        if len(words) >= min_words and not _CJK.search(rest):
            out.append(s)
    return out


def repeated_sentences(text: str, min_len: int = MIN_REPEATED) -> list[tuple[str, int]]:
    """(text, count) of every run of ``min_len`` characters said more than once in the body.

    Stricter than whole sentences (a long sentence quoted inside two different ones is found
    too): every ``min_len``-character window of every paragraph is counted; overlapping windows
    of one repeated passage are reported once, by the passage's first window.
    """
    seen: Counter = Counter()
    for p in paragraphs(text):
        windows = {p[i:i + min_len] for i in range(len(p) - min_len + 1)}
        seen.update(windows)
    repeated = {w for w, n in seen.items() if n > 1}
    out, covered = [], set()
    for p in paragraphs(text):
        for i in range(len(p) - min_len + 1):
            w = p[i:i + min_len]
            if w in repeated and w not in covered:
                out.append((w, seen[w]))
                j = i
                while j < len(p) - min_len + 1 and p[j:j + min_len] in repeated:
                    covered.add(p[j:j + min_len])
                    j += 1
    return out


def long_paragraphs(text: str, max_len: int = MAX_PARAGRAPH) -> list[str]:
    """Paragraphs (running-text lines, table cells) longer than ``max_len`` characters."""
    return [p for p in paragraphs(text) if len(p) > max_len]


_NUM = r"-?\d+\.\d{4}"
# "0.9816 [0.9776, 0.9846]" or "0.9643 [..]（Ridge_0.001）"; a drop ("下降 0.0098（95% 区间 [..]）") is not an R²
_AFTER = re.compile(rf"(?<!下降 )({_NUM})(（[^（）]*）)? ?\[({_NUM}), ({_NUM})\](（[^（）]*）)?")
_ROW = re.compile(rf"^\|([^|]+)\| ({_NUM}) \| \[({_NUM}), ({_NUM})\] \|$")  # "| L=1 OLS | 0.9816 | [lo, hi] |"


def _named(piece: str, names: list[str], default: str | None) -> list[tuple[tuple, tuple]]:
    """((model, R²), (lo, hi)) of every "R² [lo, hi]" in ``piece``; the model is the name in the
    parentheses beside the number, else the last name written before it, else ``default``."""
    out, start, current = [], 0, default
    for m in _AFTER.finditer(piece):
        before = piece[start:m.start()]
        hits = [(before.rfind(n), n) for n in names if n in before]
        if hits:
            current = max(hits)[1]
        beside = [n for n in names for g in (m.group(2), m.group(5)) if g and n in g]
        model = beside[0] if beside else current
        out.append(((model, m.group(1)), (m.group(3), m.group(4))))
        start = m.end()
    return out


def model_intervals(text: str, names) -> dict[tuple, set[tuple[str, str]]]:
    """{(model, test R² as printed): the set of 95 % intervals printed for it} over the whole report.

    One model has one test R² and must have one interval: every "R² [lo, hi]" in the text and
    in table cells, and every row of the bootstrap table. ``names``: the models' names (the
    summary's); a number is the model's named beside it, before it on its line, or its table
    column's. Drops of R² (the region refits' column "下降 (95% 区间)", "下降 x（95% 区间 [..]）")
    are other quantities, and so is the selection-aware interval, written "ci95 = [lo, hi]".
    """
    names = sorted(set(names), key=len, reverse=True)
    out: dict[tuple, set] = {}
    header: list[str] = []
    for line in text.splitlines():
        s = line.strip()
        found = []
        if s.startswith("|"):
            cells = [c.strip() for c in s.strip("|").split("|")]
            if set(s) <= set("|-: "):
                continue
            if not any(re.search(_NUM, c) for c in cells):
                header = cells
                continue
            m = _ROW.match(s)
            if m:
                model = next((n for n in names if m.group(1).strip().endswith(" " + n)), m.group(1).strip())
                found.append(((model, m.group(2)), (m.group(3), m.group(4))))
            else:
                for col, cell in zip(header + [""] * len(cells), cells):
                    if not col.startswith("下降"):
                        found += _named(cell, names, col if col in names else None)
        else:
            header = []
            found = _named(s, names, None)
        for key, ci in found:
            out.setdefault(key, set()).add(ci)
    return out
