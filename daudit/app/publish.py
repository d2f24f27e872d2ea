"""Copy a finished run into the user's knowledge-center repository, exactly and idempotently.

The knowledge center is a git work tree laid out like the user's ``Physics_Informed_AI`` repo
(the topic folder ``logg/moe`` and the file names are a setting: `daudit.app.knowledge_center`)::

    logg/moe/exp/exp_<exp_id>_<YYYYMMDD>.md   the report (image links rewritten to ../img/, its Hub
                                              and Roadmap rows linked to the files below)
    logg/moe/img/<file>.png                   the figures
    logg/moe/moe_snr_hub.md                   §DG1: one row per experiment in its table
    logg/moe/moe_snr_roadmap.md               MVP-0.1: one marked block per experiment, and its status

Inside the hub daudit owns its experiments' rows of the §DG1 table (marked by a comment in the
row, `daudit.app.kc_table`); inside the roadmap the text between its marker comments
(``<!-- daudit:<EXP-ID>:begin -->`` ... ``<!-- daudit:<EXP-ID>:end -->``, none when the MVP is
only a table row), a section heading or table it creates when missing, and the MVP's status,
which follows the verdict (`daudit.app.knowledge_center.set_status`); every other byte is left as
it was. A rerun with the same results changes nothing. Every file that is changed is first copied
under ``<knowledge_center>/.daudit-backup/<UTC timestamp>/``, a folder listed in the
repository's own ``.git/info/exclude`` so that backups never show up as untracked files.

The pure text functions (`daudit.app.kc_text`, `daudit.app.kc_table`) do no I/O; `publish_run`
reads, checks and writes.
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from daudit.app.history import load_summary
from daudit.app.kc_git import dirty_paths, exclude_from_git, is_git_work_tree, is_git_work_tree_quietly
from daudit.app.kc_table import render_hub_block, row_marker_ids, upsert_hub_row
from daudit.app.kc_text import (
    image_links,
    marker_lines,
    render_roadmap_block,
    report_filename,
    rewrite_image_links,
    rewrite_upstream_links,
    section_start,
    slug,
    upsert_block,
)
from daudit.app.knowledge_center import KCLayout, has_table_row, layout_for, set_status, status_text
from daudit.app.publish_result import PublishResult, format_publish_result
from daudit.core.artifacts import atomic_write_bytes
from daudit.core.errors import DauditError
from daudit.core.files import file_kind
from daudit.core.paths import file_in_the_way
from daudit.core.schema import quick_run

__all__ = [
    "PublishResult",
    "publish_run",
    "format_publish_result",
    "report_filename",
    "rewrite_image_links",
    "image_links",
    "upsert_block",
    "render_hub_block",
    "render_roadmap_block",
    "marker_lines",
    "EXP_DIR",
    "IMG_DIR",
    "HUB_PATH",
    "ROADMAP_PATH",
    "BACKUP_DIR",
]

# The default knowledge-center layout (POSIX paths relative to its root), as in the user's prompt.
EXP_DIR = KCLayout().exp_dir
IMG_DIR = KCLayout().img_dir
HUB_PATH = KCLayout().hub_path
ROADMAP_PATH = KCLayout().roadmap_path
BACKUP_DIR = ".daudit-backup"

_MARKER_ID_RE = re.compile(r"<!-- daudit:(.+?):begin -->")
_REPORT_NAME_RE = re.compile(r"exp_(.+)_\d{8}\.md")
_EXP_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


# --------------------------------------------------------------------------------------------
# I/O


def _read_summary(result_dir: Path, *, force: bool = False) -> dict:
    """The finished run's summary; a --quick run is refused unless ``force`` (issue 28: a first
    look's verdict is not the hub's or the roadmap's)."""
    path = result_dir / "summary.json"
    if not result_dir.is_dir():
        raise DauditError(f"{result_dir}: no such result directory; pass the run's output folder")
    if not path.is_file():
        runs = sorted(p.parent.name for p in result_dir.glob("*/summary.json"))
        if (result_dir / "run.log").exists():
            hint = " (run.log is there: the run is unfinished or failed)"
        elif runs:
            hint = f" (this looks like a results folder: pass one run, e.g. {result_dir / runs[0]})"
        else:
            hint = ""
        raise DauditError(
            f"{path}: missing{hint}; only a finished run can be published, check it with "
            "`python -m daudit status` and publish after it finishes"
        )
    summary = load_summary(result_dir)
    if summary.get("status") != "finished":
        raise DauditError(
            f"{path}: status is {summary.get('status')!r}, not 'finished'; "
            "publish only a run that finished"
        )
    if not summary.get("experiment_id"):
        raise DauditError(f"{path}: no experiment_id; rerun the audit with this daudit version")
    if not _EXP_ID_RE.fullmatch(summary["experiment_id"]):
        raise DauditError(f"{path}: experiment_id {summary['experiment_id'][:60]!r} is not letters, digits, '.', "
                          "'_' or '-'; it would name files and markers in the knowledge center: rerun the audit")
    if quick_run(summary) and not force:
        raise DauditError(f"{result_dir} is a --quick run (lighter nulls, a first look): not published into the hub "
                          "and roadmap; rerun without --quick, or pass --force to publish it anyway")
    return summary


def _atomic_write(path: Path, data: bytes) -> None:
    atomic_write_bytes(path, data)

def _check_backup_dir(kc: Path) -> None:
    """The backup folder is daudit's to write in: a folder inside the knowledge center, or missing."""
    backup = kc / BACKUP_DIR
    if backup.is_symlink() or not _inside(kc, backup):
        raise DauditError(f"{backup}: is a symbolic link; publish keeps its backups inside the knowledge "
                          "center: remove the link and publish again")
    if os.path.lexists(backup) and not backup.is_dir():
        raise DauditError(f"{backup}: is a file, not the folder publish keeps its backups in; move it away, then "
                          "publish again (nothing was written)")


def _new_backup_root(kc: Path) -> Path:
    _check_backup_dir(kc)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    root = kc / BACKUP_DIR / stamp
    n = 1
    while root.exists():
        root = kc / BACKUP_DIR / f"{stamp}-{n}"
        n += 1
    return root


def _safe_img_relpath(rel: str, result_dir: Path) -> PurePosixPath:
    path = PurePosixPath(rel.split("#")[0].split("?")[0])
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise DauditError(
            f"{result_dir / 'report.md'}: image link img/{rel} leaves img/; "
            "link figures as img/<file>.png"
        )
    return path


def _inside(root: Path, path: Path) -> bool:
    """Whether ``path`` (symlinks resolved) lies inside ``root`` (resolved)."""
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(root))
    except ValueError:
        return False
    return True


def _run_file(result_dir: Path, rel: str, what: str) -> Path:
    """A file the summary names, refused unless it is a regular file inside the run folder.

    A summary could name any path (``../../.ssh/id_rsa``, or a symlink in img/ pointing out):
    publish copies nothing from outside the run it publishes.
    """
    if not isinstance(rel, str) or not rel or "\0" in rel or PurePosixPath(rel).is_absolute():
        raise DauditError(f"{result_dir / 'summary.json'}: the {what} is named {rel!r}, not a file of the run; "
                          "rerun the audit to rewrite its summary")
    src = result_dir / rel
    if not _inside(result_dir, src):
        raise DauditError(f"{src}: the run's {what} lies outside the run folder {result_dir} (a '..' or a symbolic "
                          "link); publish copies only files of the run itself")
    kind = file_kind(src)
    if kind != "regular file":
        state = "missing" if kind == "missing" else f"a {kind}, not a regular file"
        raise DauditError(f"{src}: {state}, but the run lists it as its {what}; rerun the audit (or its figures) "
                          "so that every file it names exists")
    return src


def _check_targets(kc: Path, rels) -> None:
    """Every file publish would write lies inside the knowledge center (symlinks resolved) and is
    a regular file or new; refused with one line otherwise, before anything is written."""
    for rel in rels:
        target = kc / rel
        if not _inside(kc, target):
            raise DauditError(f"{target}: resolves to {os.path.realpath(target)}, outside the knowledge center "
                              f"{os.path.realpath(kc)} (a symbolic link on the way); publish writes only inside it")
        blocker = file_in_the_way(target)
        if blocker is not None and _inside(kc, blocker):
            raise DauditError(f"{blocker}: is a file where publish needs a folder (to write {target}); move it "
                              "away or rename it, then publish again (nothing was written)")
        if target.is_symlink() or file_kind(target) not in ("missing", "regular file"):
            raise DauditError(f"{target}: is a symbolic link or not a regular file; publish replaces only regular "
                              "files: remove it or publish elsewhere")


def _check_collisions(kc: Path, plan: dict, exp_id: str, layout: KCLayout) -> None:
    """Refuse publishing over another experiment's files.

    Two ids that differ only in case or punctuation (``LOGG-ERR-BASE-01``, ``logg_err_base_01``)
    share a report name and figure names; the hub and roadmap markers tell whose they are. A
    figure name another experiment's published report links to is not overwritten either.
    """
    mine = slug(exp_id)
    for doc in (layout.hub_path, layout.roadmap_path):
        path = kc / doc
        text = path.read_bytes().decode("utf-8", "replace") if file_kind(path) == "regular file" else ""
        for other in dict.fromkeys(_MARKER_ID_RE.findall(text) + row_marker_ids(text)):
            if other != exp_id and slug(other) == mine:
                raise DauditError(f"{kc}: experiment id {exp_id!r} and the published {other!r} differ only in case "
                                  f"or punctuation and would publish to the same files (exp_{mine}_*.md); give the "
                                  "run a distinct experiment_id")
    figures = {PurePosixPath(rel).relative_to(layout.img_dir).as_posix(): rel for rel in plan
               if rel.startswith(layout.img_dir + "/")}
    exp_dir = kc / layout.exp_dir
    reports = sorted(exp_dir.glob("exp_*.md")) if exp_dir.is_dir() else []
    for report in reports:
        m = _REPORT_NAME_RE.fullmatch(report.name)
        if m is None or m.group(1) == mine or file_kind(report) != "regular file":
            continue
        linked = set(image_links(report.read_bytes().decode("utf-8", "replace").replace("../img/", "img/")))
        for name in sorted(linked & set(figures)):
            target = kc / figures[name]
            if target.is_file() and target.read_bytes() != plan[figures[name]]:
                raise DauditError(f"{target}: the published report {report.name} of another experiment shows this "
                                  f"figure; publishing {exp_id} would replace it: give the run's figures distinct "
                                  "names (plots[].save)")


def _plan(result_dir: Path, kc: Path, summary: dict, *, layout: KCLayout, hub_section: str,
          roadmap_section: str) -> dict[str, bytes]:
    """Map every knowledge-center file (POSIX path relative to `kc`) to its new content."""
    report_src = _run_file(result_dir, (summary.get("outputs") or {}).get("report", "report.md"), "report")
    try:
        # Bytes, not read_text: universal newlines would silently turn CRLF into LF.
        report_text = report_src.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise DauditError(f"{report_src}: not UTF-8 text; rerun the audit's report") from err

    figures = [f.removeprefix("./").removeprefix("img/")
               for f in ((summary.get("outputs") or {}).get("figures") or {}).values()
               if isinstance(f, str) and f.removeprefix("./").startswith("img/")]
    plan: dict[str, bytes] = {}
    for rel in dict.fromkeys(figures + image_links(report_text)):
        rel_path = _safe_img_relpath(rel, result_dir)
        src = _run_file(result_dir, str(PurePosixPath("img", rel_path)), "figure")
        plan[f"{layout.img_dir}/{rel_path}"] = src.read_bytes()

    exp_id = summary["experiment_id"]
    report_rel = f"{layout.exp_dir}/{report_filename(exp_id, summary.get('date'))}"
    img_prefix = _link(layout.img_dir, layout.exp_dir) + "/"
    report_text = rewrite_upstream_links(report_text, hub=_link(layout.hub_path, layout.exp_dir),
                                         roadmap=_link(layout.roadmap_path, layout.exp_dir))
    plan[report_rel] = rewrite_image_links(report_text, prefix=img_prefix).encode("utf-8")
    plan.update(_plan_hub_and_roadmap(kc, summary, report_rel, layout=layout, hub_section=hub_section,
                                      roadmap_section=roadmap_section))
    return plan


def _link(target: str, folder: str) -> str:
    """The POSIX link from ``folder`` to ``target`` (both relative to the knowledge center)."""
    return os.path.relpath(target, folder).replace(os.sep, "/")


def _read_doc(doc: Path) -> str:
    try:
        return doc.read_bytes().decode("utf-8") if doc.exists() else ""
    except UnicodeDecodeError as err:
        raise DauditError(f"{doc}: not UTF-8 text; fix its encoding and publish again") from err


def _plan_hub_and_roadmap(kc: Path, summary: dict, report_rel: str, *, layout: KCLayout, hub_section: str,
                          roadmap_section: str) -> dict[str, bytes]:
    """The hub with the run's row in its §DG1 table, the roadmap with the run's marked block and the MVP's status
    (links from the topic folder, where both files are).

    A roadmap whose MVP is a table row and not a heading gets no block (nor a new section): its
    row's status cell is the run's entry there.
    """
    exp_id = summary["experiment_id"]
    hub = kc / layout.hub_path
    hub_text = upsert_hub_row(_read_doc(hub), summary, report_link=_link(report_rel, layout.topic),
                              section=hub_section, heading=f"## §{hub_section}", where=str(hub))
    roadmap = kc / layout.roadmap_path
    text = _read_doc(roadmap)
    table_only = (marker_lines(exp_id)[0] not in text and section_start(text, roadmap_section) is None
                  and has_table_row(text, roadmap_section))
    if not table_only:
        block = render_roadmap_block(summary, report_link=_link(report_rel, layout.topic))
        text = upsert_block(text, block, experiment_id=exp_id, section=roadmap_section, where=str(roadmap),
                            heading=f"## {roadmap_section}")
    text = set_status(text, roadmap_section, status_text(summary))
    return {layout.hub_path: hub_text.encode("utf-8"), layout.roadmap_path: text.encode("utf-8")}


def publish_run(
    result_dir,
    knowledge_center,
    *,
    force: bool = False,
    dry_run: bool = False,
    hub_section: str = "DG1",
    roadmap_section: str = "MVP-0.1",
    layout: KCLayout | None = None,
) -> PublishResult:
    """Publish a finished run into a knowledge-center git repository.

    Parameters
    ----------
    result_dir : path-like
        The run's output folder (holds summary.json, report.md and img/).
    knowledge_center : path-like
        Root of the knowledge-center work tree (the user's ``$KNOWLEDGE_CENTER``).
    force : bool, default=False
        Publish even when `knowledge_center` is not a git work tree, or when a file daudit is
        about to change has uncommitted changes (the old content is still backed up).
    dry_run : bool, default=False
        Check and plan only; nothing is written.
    hub_section, roadmap_section : str
        Heading tokens of the sections the blocks go in (``"MVP-0.2"`` for a deleak run); the
        roadmap status of `roadmap_section` follows the verdict.
    layout : KCLayout, optional
        Topic folder and file names (default: `daudit.app.knowledge_center.layout_for`).

    Returns
    -------
    PublishResult
        Files whose content would not change are not written (a rerun is a no-op); a file is
        refused as dirty only when daudit would change it.

    Raises
    ------
    DauditError
        No finished run in `result_dir`; a linked figure is missing; `knowledge_center` is not a
        git work tree or a file to change is dirty (both unless `force`); broken markers.
    """
    result_dir, kc = Path(result_dir), Path(knowledge_center)
    summary = _read_summary(result_dir, force=force)
    is_git = _check_knowledge_center(kc, force=force)
    layout = layout or layout_for(kc)
    plan = _checked_plan(result_dir, kc, summary, layout=layout, hub_section=hub_section,
                         roadmap_section=roadmap_section)
    to_change = [rel for rel, data in plan.items() if not (kc / rel).is_file() or (kc / rel).read_bytes() != data]
    if is_git and not force:
        _refuse_dirty(kc, to_change)
    _check_backup_dir(kc)  # before anything is written
    backups, root = _write(kc, plan, to_change, is_git=is_git) if to_change and not dry_run else ([], None)
    return PublishResult(
        report=kc / next(r for r in plan if r.startswith(layout.exp_dir + "/")),
        figures=tuple(kc / r for r in plan if r.startswith(layout.img_dir + "/")),
        hub=kc / layout.hub_path, roadmap=kc / layout.roadmap_path,
        changed=tuple(kc / r for r in to_change), backups=tuple(backups),
        backup_dir=root, dry_run=dry_run,
    )


def _check_knowledge_center(kc: Path, *, force: bool) -> bool:
    """Whether `kc` is a git work tree; refuse a missing folder, and a non-git one unless `force`."""
    if not kc.is_dir():
        raise DauditError(
            f"{kc}: knowledge center not found; pass --knowledge-center with the root of your "
            "knowledge-center git repository"
        )
    is_git = is_git_work_tree(kc) if not force else is_git_work_tree_quietly(kc)
    if not is_git and not force:
        raise DauditError(
            f"{kc}: not a git work tree, so published changes could not be reviewed or undone; "
            "pass the repository root (or --force to publish anyway)"
        )
    return is_git


def _checked_plan(result_dir: Path, kc: Path, summary: dict, *, layout: KCLayout, **sections) -> dict[str, bytes]:
    """`_plan`, with every target inside the knowledge center and no other experiment's file overwritten."""
    _check_targets(kc, [layout.hub_path, layout.roadmap_path])  # read by the plan: checked first
    plan = _plan(result_dir, kc, summary, layout=layout, **sections)
    _check_targets(kc, plan)
    _check_collisions(kc, plan, summary["experiment_id"], layout)
    return plan


def _refuse_dirty(kc: Path, to_change: list[str]) -> None:
    dirty = dirty_paths(kc, [rel for rel in to_change if (kc / rel).exists()])
    if dirty:
        raise DauditError(
            f"{kc}: uncommitted changes in {', '.join(dirty)}; commit or stash them and "
            "publish again (or pass --force; the old files are backed up)"
        )


def _write(kc: Path, plan: dict[str, bytes], to_change: list[str], *, is_git: bool):
    """Back up the files about to change, then write them: ``(backups, backup folder or None)``."""
    backups, root = [], None
    existing = [rel for rel in to_change if (kc / rel).exists()]
    if existing:
        if is_git:
            exclude_from_git(kc, BACKUP_DIR)
        root = _new_backup_root(kc)
        try:
            for rel in existing:
                dest = root / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(kc / rel, dest)
                backups.append(dest)
        except OSError as err:
            raise DauditError(f"cannot back up {kc / rel} into {root} ({err.strerror or err}); nothing was "
                              "published: fix the backup folder and publish again") from err
    # Figures, then the report, then hub and roadmap: a link is written after its target.
    done = []
    try:
        for rel in to_change:
            _atomic_write(kc / rel, plan[rel])
            done.append(rel)
    except BaseException:
        _undo(kc, done, root)  # nothing half-published: the files written so far go back as they were
        raise
    return backups, root


def _undo(kc: Path, written: list[str], backup_root: Path | None) -> None:
    """Put back the files of ``written`` from their backups; remove those that were new."""
    for rel in reversed(written):
        saved = backup_root / rel if backup_root is not None else None
        try:
            if saved is not None and saved.is_file():
                _atomic_write(kc / rel, saved.read_bytes())
            else:
                (kc / rel).unlink(missing_ok=True)
        except (OSError, DauditError):
            pass  # the first error is the one the user sees; the backup folder still holds the old file
