"""The knowledge center's text: report names, image links, marked blocks in the hub and roadmap.

Pure functions on strings (no I/O); `daudit.app.publish` reads, checks and writes the files.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from daudit.core.errors import DauditError
from daudit.core.spec import slug
from daudit.core.typecheck import optional

__all__ = ["report_filename", "rewrite_image_links", "image_links", "upsert_block", "render_roadmap_block",
           "marker_lines", "slug", "gate_facts", "section_start", "section_end", "rewrite_upstream_links"]

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MD_IMG_LINK_RE = re.compile(r"\]\((?:\./)?img/([^)\s]+)")
_HTML_IMG_LINK_RE = re.compile(r"""(src=["'])(?:\./)?img/([^"']+)""")
_HEADING_RE = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t#]*$")
_FENCE_RE = re.compile(r"^ {0,3}(```|~~~)")


def report_filename(experiment_id: str, date: str) -> str:
    """File name of the published report: ``exp_<id lower, underscores>_<YYYYMMDD>.md``.

    Parameters
    ----------
    experiment_id : str
        For example ``"LOGG-ERR-BASE-01"``.
    date : str
        ``"YYYY-MM-DD"``, the ``date`` of summary.json.

    Returns
    -------
    str
        For example ``"exp_logg_err_base_01_20251226.md"``.
    """
    name = slug(experiment_id)
    if not name:
        raise DauditError(
            f"summary.json: experiment_id {experiment_id!r} has no letters or digits; "
            "set experiment_id in the spec and rerun"
        )
    if not isinstance(date, str) or not _DATE_RE.match(date):
        raise DauditError(
            f"summary.json: date {date!r} is not YYYY-MM-DD; the run wrote a malformed summary, "
            "rerun it with this daudit version"
        )
    return f"exp_{name}_{date.replace('-', '')}.md"


def image_links(text: str) -> list[str]:
    """Paths under ``img/`` that a report links to, in order of first appearance.

    Returns
    -------
    list of str
        POSIX paths relative to ``img/``, e.g. ``["r2_models.png"]``.
    """
    found = [m.group(1) for m in _MD_IMG_LINK_RE.finditer(text)]
    found += [m.group(2) for m in _HTML_IMG_LINK_RE.finditer(text)]
    return list(dict.fromkeys(found))


def rewrite_image_links(text: str, *, prefix: str = "../img/") -> str:
    """Point a report's ``img/...`` links at ``prefix``; nothing else is changed.

    A report in ``results/<id>/`` links its figures as ``img/<file>``; once published to
    ``logg/moe/exp/`` the figures live in ``logg/moe/img/``, i.e. ``../img/<file>``.
    """
    text = _MD_IMG_LINK_RE.sub(lambda m: f"]({prefix}{m.group(1)}", text)
    return _HTML_IMG_LINK_RE.sub(lambda m: f"{m.group(1)}{prefix}{m.group(2)}", text)


_UPSTREAM_ROW_RE = re.compile(r"^(\s*\|\s*(Hub|Roadmap)\s*\|)([^|\n]*)(\|.*)$", re.MULTILINE)
_DOC_REF_RE = re.compile(r"`[^`\n]+\.md`|\[[^\]\n]*\]\([^)\s]+\.md\)|[\w.-]+\.md")


def rewrite_upstream_links(text: str, *, hub: str, roadmap: str) -> str:
    """Point the report's ``| Hub |`` and ``| Roadmap |`` rows at the files actually published to.

    The first ``*.md`` reference of each row's second cell (`` `moe_snr_hub.md` ``, a link, a bare
    name) becomes ``[<name>](<link>)``; the rest of the cell (e.g. `` §DG1``) is kept. ``hub`` and
    ``roadmap`` are POSIX links relative to the report's folder, e.g. ``"../moe_snr_hub.md"``.
    """
    links = {"Hub": hub, "Roadmap": roadmap}

    def row(m):
        link = links[m.group(2)]
        cell = _DOC_REF_RE.sub(lambda _: f"[{PurePosixPath(link).name}]({link})", m.group(3), count=1)
        return m.group(1) + cell + m.group(4)

    return _UPSTREAM_ROW_RE.sub(row, text)


def marker_lines(experiment_id: str) -> tuple[str, str]:
    """The begin and end marker comments of an experiment's block."""
    return (
        f"<!-- daudit:{experiment_id}:begin -->",
        f"<!-- daudit:{experiment_id}:end -->",
    )


def upsert_block(
    text: str,
    body: str,
    *,
    experiment_id: str,
    section: str | None = None,
    where: str = "document",
    heading: str | None = None,
) -> str:
    """Replace, or insert, the marked block of `experiment_id` in a Markdown document.

    Parameters
    ----------
    text : str
        The whole document ("" for a file that does not exist yet).
    body : str
        The block's content without markers; its trailing newlines are normalised.
    experiment_id : str
        Names the markers ``<!-- daudit:<id>:begin -->`` / ``<!-- daudit:<id>:end -->``.
    section : str, optional
        Where a new block goes: at the end of the first heading's section whose title contains
        this token (``"DG1"`` matches ``## §DG1 ...``). Without a match, or without `section`,
        the block is appended to the document.
    where : str
        Names the document in error messages.
    heading : str, optional
        Written before an appended block when `section` has no heading (e.g. ``"## §DG1"``).

    Returns
    -------
    str
        The new document. Every byte outside the markers is kept; idempotent.
    """
    begin, end = marker_lines(experiment_id)
    nl = "\r\n" if "\r\n" in text else "\n"
    block = nl.join([begin, *body.rstrip("\r\n").splitlines(), end])

    n_begin, n_end = text.count(begin), text.count(end)
    if n_begin or n_end:
        i, j = text.find(begin), text.find(end)
        if n_begin != 1 or n_end != 1 or j < i:
            raise DauditError(
                f"{where}: the daudit markers for {experiment_id} are broken "
                f"({n_begin} begin, {n_end} end); keep exactly one '{begin}' followed by one "
                f"'{end}' (or delete both) and publish again"
            )
        return text[:i] + block + text[j + len(end):]

    at = section_end(text, section) if section else None
    if at is None and section and heading:
        block = heading + nl + nl + block
    return _insert(text, len(text) if at is None else at, block, nl)


def _insert(text: str, at: int, block: str, nl: str) -> str:
    """``block`` inserted at offset ``at``, with one blank line before and after it."""
    before, after = text[:at], text[at:]
    lead = "" if not before or before.endswith(nl + nl) else (nl if before.endswith(nl) else nl + nl)
    return before + lead + block + nl + (nl if after else "") + after


def section_start(text: str, section: str) -> int | None:
    """Offset of the first heading (outside code fences) mentioning `section`; None without one."""
    return _section_bounds(text, section)[0]


def section_end(text: str, section: str) -> int | None:
    """Offset where the section of the first heading mentioning `section` ends; None without one.

    The section ends at the next heading of the same or a higher level (outside code fences).
    """
    return _section_bounds(text, section)[1]


def _section_bounds(text: str, section: str) -> tuple[int | None, int | None]:
    token = re.compile(rf"(?<![0-9A-Za-z]){re.escape(section)}(?![0-9A-Za-z]|\.[0-9])")
    offset, in_fence, level, start = 0, None, None, None
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\r\n")
        fence = _FENCE_RE.match(stripped)
        if fence:
            in_fence = None if in_fence == fence.group(1) else (in_fence or fence.group(1))
        elif in_fence is None:
            heading = _HEADING_RE.match(stripped)
            if heading:
                this_level = len(heading.group(1))
                if level is not None and this_level <= level:
                    return start, offset
                if level is None and token.search(heading.group(2) or ""):
                    level, start = this_level, offset
        offset += len(line)
    return (start, len(text)) if level is not None else (None, None)


def _fmt_r2(value) -> str:
    try:
        return f"{float(value):.4f}"
    except (TypeError, ValueError):
        return "n/a"


def _fmt_noise(value) -> str:
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return "?"


def gate_facts(summary: dict) -> dict:
    """Verdict, key R2, CI and model of a run (a validated summary: `daudit.core.schema.Gate`)."""
    gate = summary["gate"]
    best = summary["best"]
    verdict = gate["verdict"]
    ci = gate["ci95"]
    ci_text = f" [95% CI {_fmt_r2(ci[0])}, {_fmt_r2(ci[1])}]" if ci and len(ci) == 2 else ""
    model = gate["best_model"] or best.get("model") or "?"
    if best.get("noise_level") is not None:
        model = f"{model} @ noise {_fmt_noise(best['noise_level'])}"
    rule = f" (R² {'<' if verdict == 'PASS' else '≥'} {gate['threshold']:g})"
    icon = "❌" if verdict == "FAIL" else "⚠️" if gate["borderline"] else "✅"
    borderline = " (borderline: the 95% interval straddles the threshold)" if gate["borderline"] else ""
    return {
        "gate": gate["name"],
        "verdict": f"{icon} {verdict}{rule}{borderline}",
        "r2": _fmt_r2(gate["best_test_r2"]) + ci_text,
        "model": model,
        "leakage": optional(gate, "leakage_degree") or "",
    }


def render_roadmap_block(summary: dict, *, report_link: str) -> str:
    """The roadmap's MVP status line of a run: gate verdict, key R2 and the report link."""
    f = gate_facts(summary)
    link = f"[{PurePosixPath(report_link).name}]({report_link})"
    leakage = f"; leakage: {f['leakage']}" if f["leakage"] else ""
    return (
        f"**Status ({summary.get('experiment_id', '?')}, {summary.get('date', '?')}):** "
        f"done: {f['gate']} {f['verdict']}; best test R² = {f['r2']} ({f['model']}){leakage}; "
        f"report: {link}"
    )
