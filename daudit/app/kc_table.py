"""The hub's §DG1 table: one row per experiment in the table that is already there.

A published experiment is one row of the section's experiment table (the first table under the
section's heading whose header has an ``Exp`` column), marked by an HTML comment in its last cell
(``<!-- daudit:<EXP-ID> -->``, invisible when rendered; a comment line between rows would end
the table). The row's cells follow that table's own header (`hub_row`): a column daudit knows
(experiment, date, gate, R², model, report, leakage) gets its value, any other column stays empty.
A rerun replaces the marked row in place; a new experiment adds its row after the table's last
row; without such a table the section gets one (`render_hub_block`), and without the section
the document ends with the heading and the table. Pure functions on strings (no I/O).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from daudit.app.kc_text import gate_facts, marker_lines, section_end, section_start, upsert_block
from daudit.core.errors import DauditError

__all__ = ["HUB_HEADER", "row_marker", "hub_row", "render_hub_block", "upsert_hub_row", "row_marker_ids"]

HUB_HEADER = ("Exp", "Date", "{gate}", "Best test R²", "Best model", "Report")

_ROW_MARKER_RE = re.compile(r"<!-- daudit:([A-Za-z0-9._-]+) -->")
_FENCE_RE = re.compile(r"^ {0,3}(```|~~~)")
# (pattern on a header cell, lower case) -> the fact that goes in that column; first match wins
_COLUMNS = ((r"\bexp|experiment|实验", "exp"), (r"date|日期", "date"), (r"r²|r2|r\^2", "r2"),
            (r"gate|verdict|status|结论|状态", "verdict"), (r"model|模型", "model"),
            (r"report|link|报告|链接", "report"), (r"leak|泄露", "leakage"))


def row_marker(experiment_id: str) -> str:
    """The comment that marks an experiment's row: ``<!-- daudit:<EXP-ID> -->``."""
    return f"<!-- daudit:{experiment_id} -->"


def row_marker_ids(text: str) -> list[str]:
    """The experiment ids of the marked rows of a document, in order."""
    return _ROW_MARKER_RE.findall(text)


def _cells(line: str) -> list[str]:
    return line.strip().strip("|").split("|")


def _column(cell: str) -> str | None:
    name = cell.strip(" *_`").lower()
    return next((fact for pattern, fact in _COLUMNS if re.search(pattern, name)), None)


def _facts(summary: dict, report_link: str) -> dict:
    f = gate_facts(summary)
    return {"exp": str(summary.get("experiment_id", "?")), "date": str(summary.get("date", "?")),
            "verdict": f["verdict"], "r2": f["r2"], "model": f["model"], "leakage": f["leakage"],
            "report": f"[{PurePosixPath(report_link).name}]({report_link})"}


def hub_row(summary: dict, *, report_link: str, header: list[str]) -> str:
    """The experiment's row for a table with ``header`` (its cells), the marker in the last cell."""
    facts = _facts(summary, report_link)
    cells = [facts.get(_column(c) or "", "").replace("|", r"\|") for c in header]
    cells[-1] = f"{cells[-1]} {row_marker(summary['experiment_id'])}".strip()
    return "| " + " | ".join(cells) + " |"


def render_hub_block(summary: dict, *, report_link: str) -> str:
    """A new §DG1 table holding the run's row: header, rule and one row."""
    header = [h.format(gate=(summary.get("gate") or {}).get("name") or "Gate") for h in HUB_HEADER]
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                      hub_row(summary, report_link=report_link, header=header)])


def _tables(lines: list[str], start: int, stop: int):
    """(header index, last row index) of each Markdown table in ``lines[start:stop]``, outside fences."""
    fence, i = None, start
    while i < stop:
        opener = _FENCE_RE.match(lines[i])
        if opener:
            fence = None if fence == opener.group(1) else (fence or opener.group(1))
        elif fence is None and lines[i].lstrip().startswith("|") and i + 1 < stop \
                and re.fullmatch(r"\s*\|?[\s:|-]*-[\s:|-]*", lines[i + 1].rstrip("\r\n")):
            j = i + 1
            while j + 1 < stop and lines[j + 1].lstrip().startswith("|"):
                j += 1
            yield i, j
            i = j
        i += 1


def _without_block(text: str, experiment_id: str) -> str:
    """``text`` without the experiment's marked block of an older daudit (a table of its own)."""
    begin, end = marker_lines(experiment_id)
    if begin not in text and end not in text:
        return text
    new = upsert_block(text, "", experiment_id=experiment_id)  # checks the markers are whole
    i = new.index(begin)
    j = new.index(end, i) + len(end)
    before, after = new[:i], new[j:].lstrip("\r\n")
    return before + after if before.endswith(("\n\n", "\r\n\r\n")) or not before else before + "\n" + after


def upsert_hub_row(text: str, summary: dict, *, report_link: str, section: str, heading: str,
                   where: str = "hub") -> str:
    """``text`` with the experiment's row in the section's experiment table (see the module docstring).

    Raises
    ------
    DauditError
        The experiment's row marker appears more than once, or on a line that is not a table row.
    """
    exp_id = summary["experiment_id"]
    text = _without_block(text, exp_id)
    nl = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    marked = [i for i, line in enumerate(lines) if row_marker(exp_id) in line]
    if len(marked) > 1 or (marked and not lines[marked[0]].lstrip().startswith("|")):
        raise DauditError(f"{where}: the daudit row marker {row_marker(exp_id)} appears {len(marked)} time(s) or "
                          "outside a table row; keep it once, in the experiment's row of the §DG1 table (or "
                          "delete that row) and publish again")
    for head, last in _tables(lines, 0, len(lines)):
        if marked and head < marked[0] <= last:
            row = hub_row(summary, report_link=report_link, header=_cells(lines[head]))
            lines[marked[0]] = row + lines[marked[0]][len(lines[marked[0]].rstrip("\r\n")):]
            return "".join(lines)
    start = section_start(text, section)
    if start is not None:
        first, end = text.count("\n", 0, start), section_end(text, section)
        stop = len(lines) if end >= len(text) else text.count("\n", 0, end)
        for head, last in _tables(lines, first, stop):
            if "exp" in (_column(c) for c in _cells(lines[head])):
                row = hub_row(summary, report_link=report_link, header=_cells(lines[head]))
                if not lines[last].endswith(("\n", "\r")):
                    lines[last] += nl
                lines.insert(last + 1, row + nl)
                return "".join(lines)
    body = render_hub_block(summary, report_link=report_link)
    # a new table at the end of the section (or a new section), through the block inserter
    placeholder = upsert_block(text, body, experiment_id=exp_id, section=section, heading=heading)
    begin, end = marker_lines(exp_id)
    return placeholder.replace(begin + nl, "", 1).replace(nl + end, "", 1)
