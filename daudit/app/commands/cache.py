"""``python -m daudit cache [list]`` / ``cache clear [--all|--zarr|--stats] [--yes]``: the cache folder.

``list`` (the default) shows each entry of the cache folder (`daudit.core.paths.cache_dir`) with
its size and the total; ``clear`` removes the zarr copies and/or the statistics that daudit can
prove are its own and that no running audit holds (`daudit.data.cache_admin`), and with ``--all``
the demo data in the cache folder too when every file there is the simulator's
(`daudit.simulate.simulated_files`) and no run is going on; it asks first on a terminal
(``--yes`` skips the question; without a terminal ``--yes`` is needed).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from daudit.core.errors import DauditError

__all__ = ["configure_parser", "main", "format_size"]


def configure_parser(p) -> None:
    """Add the ``cache`` arguments to `p`."""
    p.add_argument("action", nargs="?", choices=("list", "clear"), default="list",
                   help="list (default): entries and sizes; clear: remove daudit's zarr copies and statistics")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="clear: the zarr copies, the statistics and the demo data "
                       "in the cache folder (without a flag: the copies and the statistics)")
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


def _running_runs() -> list[str]:
    """Experiment ids of the runs going on now, foreground or detached (the run registry's output
    folders and their state, `daudit.core.runlog.run_status`)."""
    # lazy: keeps --help fast
    from daudit.core import runlog
    from daudit.core.paths import runs_dir

    busy, folder = [], runs_dir()
    if not folder.is_dir() or folder.is_symlink():
        return busy
    for entry in sorted(folder.glob("*.json")):
        try:
            meta = json.loads(entry.read_text(encoding="utf-8")) if entry.stat().st_size < 2**20 else None
            out = meta.get("output_dir") if isinstance(meta, dict) else None
            status = runlog.run_status(Path(out)) if isinstance(out, str) and out and "\0" not in out else None
        except (OSError, ValueError, DauditError):
            continue
        if status is not None and status.state == "running":
            busy.append(status.experiment_id)
    return busy


def _demo_files(entry) -> list[Path] | None:
    """The demo data's files when they may all go (the simulator's, no run going on), else None (said why)."""
    from daudit.simulate import simulated_files  # lazy: h5py and numpy come with the simulator

    busy = _running_runs()
    if busy:
        print(f"demo data kept: {len(busy)} run(s) going on ({', '.join(busy)}) may read it")
        return None
    try:
        return simulated_files(entry.path)
    except DauditError as err:
        print(f"demo data kept: {err}")
        return None


def _remove_demo(folder: Path, files: list[Path]) -> None:
    """Unlink the simulator's files (never a link's target), then the folders left empty."""
    for path in files:
        if path.is_symlink() or not path.is_file():
            continue
        path.unlink()
    for root, _dirs, _files in os.walk(folder, topdown=False):  # the deepest first
        try:
            os.rmdir(root)  # only an empty folder goes
        except OSError:
            pass


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
    demo = next((e for e in entries if e.kind == "demo"), None) if args.all else None
    demo_files = _demo_files(demo) if demo is not None else None
    chosen += [demo] if demo_files is not None else []
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
    if demo_files is not None:
        _remove_demo(demo.path, demo_files)
        removed.append(demo)
    print(f"removed {len(removed)} entries ({format_size(sum(e.n_bytes for e in removed))}) from {root}"
          + (f"; kept {len(kept)} held by a running audit" if kept else ""))
    return 0
