"""The git questions `daudit.app.publish` asks of a knowledge-center work tree (``git -C``).

Every failure to run git is one `DauditError` line; nothing here writes outside the repository's
own ``info/exclude``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from daudit.core.artifacts import atomic_write_bytes
from daudit.core.errors import DauditError

__all__ = ["git", "is_git_work_tree", "is_git_work_tree_quietly", "dirty_paths", "exclude_from_git"]


def git(kc: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            ["git", "-C", str(kc), *args], capture_output=True, text=True, check=False
        )
    except FileNotFoundError as err:
        raise DauditError(
            "git: not found on PATH; install git, or pass --force to publish without the "
            "work-tree checks"
        ) from err


def is_git_work_tree(kc: Path) -> bool:
    proc = git(kc, "rev-parse", "--is-inside-work-tree")
    return proc.returncode == 0 and proc.stdout.strip() == "true"


def dirty_paths(kc: Path, relpaths: list[str]) -> list[str]:
    """Which of `relpaths` have uncommitted changes (modified, staged or untracked)."""
    if not relpaths:
        return []
    proc = git(kc, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *relpaths)
    if proc.returncode != 0:
        raise DauditError(f"{kc}: `git status` failed ({proc.stderr.strip()}); fix the repo")
    # `git status` paths are relative to the repo root; compare in that frame.
    prefix = git(kc, "rev-parse", "--show-prefix").stdout.strip()
    wanted = {prefix + p: p for p in relpaths}
    dirty = []
    entries = iter(proc.stdout.split("\0"))
    for entry in entries:
        if len(entry) < 4:
            continue
        if entry[0] in "RC":
            next(entries, None)  # -z puts a rename's source path in the next field
        if entry[3:] in wanted:
            dirty.append(wanted[entry[3:]])
    return sorted(dirty)


def exclude_from_git(kc: Path, folder: str) -> None:
    """List ``folder`` (relative to ``kc``) in the repo's own info/exclude (never in a tracked
    .gitignore), so that it never shows up as untracked."""
    proc = git(kc, "rev-parse", "--git-path", "info/exclude")
    if proc.returncode != 0:
        return
    exclude = Path(proc.stdout.strip())
    if not exclude.is_absolute():
        exclude = kc / exclude
    prefix = git(kc, "rev-parse", "--show-prefix").stdout.strip()
    pattern = f"/{prefix}{folder}/".encode()
    try:  # bytes, as git reads it: the file may hold paths in any encoding (not UTF-8)
        current = exclude.read_bytes() if exclude.is_file() else b""
        if pattern in current.splitlines():
            return
        exclude.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DauditError(f"{exclude}: cannot be read or made ({err.strerror or err}); publish lists its backup "
                          "folder there: fix that file, then publish again (nothing was written)") from err
    sep = b"" if not current or current.endswith(b"\n") else b"\n"
    atomic_write_bytes(exclude, current + sep + b"# daudit publish backups\n" + pattern + b"\n")


def is_git_work_tree_quietly(kc: Path) -> bool:
    """Whether ``kc`` is a git work tree; False also when git is missing."""
    try:
        return is_git_work_tree(kc)
    except DauditError:
        return False
