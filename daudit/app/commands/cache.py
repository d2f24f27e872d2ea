"""``python -m daudit cache [list]`` / ``cache clear [--all|--zarr|--stats] [--yes]``: the cache folder.

``list`` (the default) shows each entry of the cache folder (`daudit.core.paths.cache_dir`) with
its size and the total; ``clear`` removes the zarr copies and/or the statistics that daudit can
prove are its own and that no running audit holds (`daudit.data.cache_admin`), after asking on a
terminal (``--yes`` skips the question; without a terminal ``--yes`` is needed).
"""

from __future__ import annotations

import sys

from daudit.core.errors import DauditError

__all__ = ["configure_parser", "main", "format_size"]


def configure_parser(p) -> None:
    """Add the ``cache`` arguments to `p`."""
    p.add_argument("action", nargs="?", choices=("list", "clear"), default="list",
                   help="list (default): entries and sizes; clear: remove daudit's zarr copies and statistics")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="clear: the zarr copies and the statistics (the default)")
    which.add_argument("--zarr", action="store_true", help="clear: only the zarr copies of the error arrays")
    which.add_argument("--stats", action="store_true", help="clear: only the cached sufficient statistics")
    p.add_argument("--yes", action="store_true", help="clear without asking")


def format_size(n_bytes: int) -> str:
    """``"512 B"``, ``"3.4 MiB"``, ``"1.20 GiB"``."""
    if n_bytes < 1024:
        return f"{n_bytes} B"
    for unit, scale in (("KiB", 2**10), ("MiB", 2**20), ("GiB", 2**30), ("TiB", 2**40)):
        if n_bytes < scale * 1024 or unit == "TiB":
            return f"{n_bytes / scale:.3g} {unit}" if unit != "GiB" else f"{n_bytes / scale:.2f} {unit}"
    return f"{n_bytes} B"


def _table(entries, total: int | None = None) -> str:
    """The entries, one row each, and the total (``total``: the whole folder's; default the entries' sum)."""
    from daudit.app.history_text import text_table  # lazy: keeps --help fast

    rows = [[e.kind, e.path.name + ("/" if e.path.is_dir() and not e.path.is_symlink() else ""),
             format_size(e.n_bytes), e.note + (" [held by a running audit]" if e.held else "")] for e in entries]
    rows.append(["total", "", format_size(sum(e.n_bytes for e in entries) if total is None else total),
                 "" if total is None else "the whole cache folder"])
    return text_table(["KIND", "ENTRY", "SIZE", "WHAT"], rows, right={2})


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise DauditError("cache clear asks before removing anything, and there is no terminal to ask on; "
                          "pass --yes to clear without asking")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def main(args) -> int:
    """List or clear; one line (exit 2) when the cache folder is not daudit's."""
    # lazy: keeps --help fast
    from daudit.core.paths import cache_dir, demo_dir
    from daudit.data.cache_admin import CLEARABLE, cache_entries, clear_entries, tree_bytes

    root = cache_dir()
    if args.action == "list" and (args.zarr or args.stats or args.all or args.yes):
        raise DauditError("--all, --zarr, --stats and --yes go with cache clear; cache list takes none")
    if not root.exists():
        print(f"no cache folder yet at {root} (a run makes it)")
        return 0
    entries = cache_entries(root, demo=demo_dir())
    if args.action == "list":
        print(f"cache folder: {root}")
        print(_table(entries, tree_bytes(root)))
        demo = demo_dir()
        if demo.exists() and demo.parent.absolute() != root.absolute():
            print(f"demo data: {demo} (outside the cache folder)")
        return 0
    kinds = ("zarr",) if args.zarr else ("stats",) if args.stats else CLEARABLE
    chosen = [e for e in entries if e.kind in kinds and e.owned]
    free = [e for e in chosen if not e.held]
    if not chosen:
        print(f"nothing to clear in {root} ({' and '.join(kinds)})")
        return 0
    size = format_size(sum(e.n_bytes for e in free))
    print(_table(chosen))
    if not free:
        print(f"all {len(chosen)} entries are held by a running audit: nothing removed")
        return 0
    if not _confirm(f"remove {len(free)} entries ({size}) from {root}?", args.yes):
        print("nothing removed")
        return 0
    removed, kept = clear_entries(chosen, kinds)
    print(f"removed {len(removed)} entries ({format_size(sum(e.n_bytes for e in removed))}) from {root}"
          + (f"; kept {len(kept)} held by a running audit" if kept else ""))
    return 0
