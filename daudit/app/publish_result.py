"""What `daudit.app.publish.publish_run` wrote, and its few lines for the terminal."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PublishResult", "format_publish_result"]


@dataclass(frozen=True)
class PublishResult:
    """What `publish_run` wrote (or, with ``dry_run=True``, would write).

    Attributes
    ----------
    report : Path
        The published report, ``<kc>/logg/moe/exp/exp_<id>_<YYYYMMDD>.md``.
    figures : tuple of Path
        Every figure the report links to, under ``<kc>/logg/moe/img/``.
    hub, roadmap : Path
        The hub (the run's row in its §DG1 table) and the roadmap (its entry and the MVP's status)
        actually used.
    changed : tuple of Path
        Files whose content was created or changed; empty on an idempotent rerun.
    backups : tuple of Path
        Copies of the previous content of every changed file that already existed.
    backup_dir : Path or None
        ``<kc>/.daudit-backup/<UTC timestamp>/`` holding `backups`; None when none were made.
    dry_run : bool
        True when nothing was written.
    """

    report: Path
    figures: tuple[Path, ...]
    hub: Path
    roadmap: Path
    changed: tuple[Path, ...] = field(default_factory=tuple)
    backups: tuple[Path, ...] = field(default_factory=tuple)
    backup_dir: Path | None = None
    dry_run: bool = False


def format_publish_result(result: PublishResult) -> str:
    """A few lines for the terminal: where the report went, which files changed, the backups."""
    lines = [f"report:  {result.report}", f"figures: {len(result.figures)} in "
             f"{result.report.parent.parent / 'img'}"]
    if not result.changed:
        lines.append("nothing to change: already published")
    else:
        verb = "would change" if result.dry_run else "changed"
        lines.append(f"{verb} {len(result.changed)} file(s):")
        lines += [f"  {path}" for path in result.changed]
    if result.backup_dir is not None:
        lines.append(f"backups: {result.backup_dir}")
    return "\n".join(lines)
