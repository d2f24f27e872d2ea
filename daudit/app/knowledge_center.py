"""The knowledge center's layout (a setting) and the one status edit daudit makes outside its marked blocks.

Layout: `KCLayout` names the topic folder and its hub and roadmap files. The default is the
user's (``logg/moe``, ``moe_snr_hub.md``, ``moe_snr_roadmap.md``); ``$DAUDIT_KC_TOPIC`` or
``publish --topic`` choose another topic folder, ``--hub`` / ``--roadmap`` other file names
(default: the one ``*_hub.md`` / ``*_roadmap.md`` in the topic folder when the user's names are
not there).

Status: after a run, its MVP's status in the roadmap follows the verdict: `set_status` rewrites
the ``Status:`` line of the MVP's section and the status cell of a table row naming the MVP
(``⏳ planned`` -> ``❌ done: Gate-1 FAIL (2025-12-26)``); nothing else outside the marked
blocks changes. Pure text functions; no I/O except `layout_for`, which looks at the folder.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from daudit.core.errors import DauditError
from daudit.core.gate_rule import verdict_label

__all__ = ["DEFAULT_TOPIC", "TOPIC_ENV", "KCLayout", "layout_for", "set_status", "status_text", "has_table_row"]

DEFAULT_TOPIC = "logg/moe"
DEFAULT_HUB = "moe_snr_hub.md"
DEFAULT_ROADMAP = "moe_snr_roadmap.md"
TOPIC_ENV = "DAUDIT_KC_TOPIC"
STATUS_ICONS = ("⏳", "🔄", "🚧", "✅", "❌", "⚪", "🟡", "🟢", "🔴", "⏸")

_FENCE_RE = re.compile(r"^ {0,3}(```|~~~)")
_HEADING_RE = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t#]*$")
_STATUS_LINE_RE = re.compile(r"^(\s*(?:[-*+]\s+)?(?:\*\*|__)?(?:Status|状态)(?:\*\*|__)?\s*[:：]\s*(?:\*\*|__)?[ \t]*)(.*?)(\s*)$",
                             re.IGNORECASE)
_MARKER_RE = re.compile(r"<!-- daudit:[^:]+:(begin|end) -->")


@dataclass(frozen=True)
class KCLayout:
    """Where a run goes in the knowledge center (POSIX paths relative to its root)."""

    topic: str = DEFAULT_TOPIC
    hub: str = DEFAULT_HUB
    roadmap: str = DEFAULT_ROADMAP

    @property
    def exp_dir(self) -> str:
        return f"{self.topic}/exp"

    @property
    def img_dir(self) -> str:
        return f"{self.topic}/img"

    @property
    def hub_path(self) -> str:
        return f"{self.topic}/{self.hub}"

    @property
    def roadmap_path(self) -> str:
        return f"{self.topic}/{self.roadmap}"


def _relative(value: str, what: str) -> str:
    path = PurePosixPath(str(value).replace("\\", "/").strip("/"))
    if not str(value).strip() or path.is_absolute() or ".." in path.parts or str(value).startswith(("/", "~")):
        raise DauditError(f"{what} {value!r} must be a folder inside the knowledge center, like {DEFAULT_TOPIC}")
    return str(path)


def _pick(folder: Path, given: str | None, default: str, pattern: str, what: str) -> str:
    if given:
        if "/" in given or "\\" in given or given in (".", ".."):
            raise DauditError(f"--{what} {given!r} must be a file name inside the topic folder, like {default}")
        return given
    if (folder / default).exists():
        return default
    found = sorted(p.name for p in folder.glob(pattern)) if folder.is_dir() else []
    return found[0] if len(found) == 1 else default


def layout_for(kc, *, topic: str | None = None, hub: str | None = None, roadmap: str | None = None) -> KCLayout:
    """The layout to publish into: the given names, else ``$DAUDIT_KC_TOPIC`` and the user's defaults.

    Raises
    ------
    DauditError
        A topic that leaves the knowledge center, or a hub / roadmap name with a folder in it.
    """
    topic = _relative(topic or os.environ.get(TOPIC_ENV) or DEFAULT_TOPIC, "topic folder")
    folder = Path(kc) / topic
    return KCLayout(topic=topic, hub=_pick(folder, hub, DEFAULT_HUB, "*_hub.md", "hub"),
                    roadmap=_pick(folder, roadmap, DEFAULT_ROADMAP, "*_roadmap.md", "roadmap"))


def status_text(summary: dict) -> str:
    """The roadmap status of a finished run: ``"✅ done: Gate-1 PASS (2025-12-26)"``."""
    gate = summary["gate"]
    icon = "❌" if gate["verdict"] == "FAIL" else "⚠️" if gate["borderline"] else "✅"
    return f"{icon} done: {gate['name']} {verdict_label(gate)} ({summary['date']})"


def _token(section: str) -> re.Pattern:
    return re.compile(rf"(?<![0-9A-Za-z]){re.escape(section)}(?![0-9A-Za-z]|\.[0-9])")


def _cells(line: str) -> list[str]:
    return line.strip().strip("|").split("|")


def _status_column(header: str) -> int | None:
    for i, cell in enumerate(_cells(header)):
        if re.search(r"status|状态", cell, re.IGNORECASE):
            return i
    return None


def _set_row(line: str, column: int | None, status: str) -> str:
    """The table row with its status cell (``column``, else the first cell starting with a status icon) set."""
    body = line.rstrip("\r\n")
    end = line[len(body):]
    lead = body[: len(body) - len(body.lstrip())]
    cells = _cells(body)
    if column is None:
        column = next((i for i, c in enumerate(cells) if c.strip().startswith(STATUS_ICONS)), None)
    if column is None or column >= len(cells):
        return line
    cells[column] = f" {status} "
    return lead + "|" + "|".join(cells) + "|" + end


def _mvp_lines(lines: list[str], section: str):
    """``(index, kind, table header)`` of the lines naming ``section``'s status: kind ``"row"`` for a
    table row whose first cell names it, ``"status"`` for the ``Status:`` line of the first heading's
    section naming it; code fences and daudit's marked blocks are skipped."""
    token = _token(section)
    fence = None
    in_block = False
    level = None  # heading level of the section, while inside it
    line_done = False
    header = None  # header row of the current table
    for i, line in enumerate(lines):
        stripped = line.rstrip("\r\n")
        opener = _FENCE_RE.match(stripped)
        if opener:
            fence = None if fence == opener.group(1) else (fence or opener.group(1))
            continue
        marker = _MARKER_RE.search(stripped)
        if marker:
            in_block = marker.group(1) == "begin"
            continue
        if fence or in_block:
            continue
        heading = _HEADING_RE.match(stripped)
        if heading:
            this = len(heading.group(1))
            if level is not None and this <= level:
                level = None
            if level is None and not line_done and token.search(heading.group(2) or ""):
                level = this
            continue
        if stripped.lstrip().startswith("|"):
            if header is None:
                header = stripped
            elif token.match(_cells(stripped)[0].strip(" *_`")):  # the row of the MVP: its first cell
                yield i, "row", header
            continue
        header = None
        if level is not None and not line_done and _STATUS_LINE_RE.match(stripped):
            line_done = True
            yield i, "status", None


def has_table_row(text: str, section: str) -> bool:
    """Whether a table row (outside fences and marked blocks) names ``section`` in its first cell."""
    return any(kind == "row" for _, kind, _ in _mvp_lines(text.splitlines(keepends=True), section))


def set_status(text: str, section: str, status: str) -> str:
    """``text`` (a roadmap) with the status of ``section`` (e.g. ``MVP-0.1``) set to ``status``.

    Sets the ``Status:`` line of the first heading's section naming ``section`` and the status
    cell (the column headed Status / 状态, else the cell starting with a status icon) of every
    table row whose first cell names it; code fences and daudit's marked blocks are skipped; every other byte is
    kept. Idempotent. A roadmap with neither comes back unchanged.
    """
    lines = text.splitlines(keepends=True)
    for i, kind, header in list(_mvp_lines(lines, section)):
        line = lines[i]
        if kind == "row":
            lines[i] = _set_row(line, _status_column(header), status)
        else:
            stripped = line.rstrip("\r\n")
            m = _STATUS_LINE_RE.match(stripped)
            lines[i] = m.group(1) + status + m.group(3) + line[len(stripped):]
    return "".join(lines)
