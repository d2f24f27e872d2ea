"""What the cache folder holds, and clearing the entries daudit can prove are its own.

`cache_entries` lists the cache root (`daudit.core.paths.cache_dir`): the zarr copies
(``zarr/*.zarr``), the statistics (``stats/*``), the run registry (``runs/``), the demo data when
it lies there, and anything else, each with its size on disk (links are counted as links, never
followed). `clear_entries` removes only entries proven daudit's: the root carries daudit's cache
marker and the entry is a real folder (not a link) in ``zarr/`` or ``stats/`` holding the
manifest daudit seals every entry with (`daudit.data.cache`); an entry a running audit holds
(`daudit.data.cache_holds`) is kept. Nothing else is deleted here (the demo data is cleared by
``daudit cache clear --all`` through the simulator's own ownership check); nothing is written by
listing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from daudit.core.errors import DauditError
from daudit.core.paths import CACHE_MARKER, is_marked_cache
from daudit.data.cache_holds import held_elsewhere, remove_unless_held

__all__ = ["CacheEntry", "CLEARABLE", "cache_entries", "clear_entries", "tree_bytes", "check_daudit_cache"]

CLEARABLE = ("zarr", "stats")  # the kinds `clear_entries` may remove (a new run makes them again)
_MANIFEST = "daudit-manifest.json"  # written into every sealed entry by daudit.data.cache


@dataclass(frozen=True)
class CacheEntry:
    """One entry of the cache folder.

    ``kind``: ``zarr``, ``stats``, ``registry``, ``demo`` or ``other``; ``owned``: proven daudit's
    (only such ``zarr`` and ``stats`` entries are cleared); ``held``: a running audit holds it;
    ``n_bytes``: its size on disk (files and links, links not followed); ``note``: what it is.
    """

    kind: str
    path: Path
    n_bytes: int
    owned: bool
    held: bool = False
    note: str = ""


def tree_bytes(path: Path) -> int:
    """Apparent bytes of ``path`` and everything under it, folders included, as ``du -s -b -P``
    counts them (``lstat``: a link counts as itself, its target is not visited)."""
    try:
        total = os.lstat(path).st_size
    except OSError:
        return 0
    if not os.path.isdir(path) or os.path.islink(path):
        return total
    for root, dirs, files in os.walk(path, followlinks=False):
        for name in files + dirs:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _manifest_key(entry: Path) -> dict | None:
    """The ``key`` of the manifest daudit sealed ``entry`` with, or None when it is not such an entry."""
    manifest = entry / _MANIFEST
    if entry.is_symlink() or not entry.is_dir() or manifest.is_symlink() or not manifest.is_file():
        return None
    try:
        if manifest.stat().st_size > 64 * 2**20:
            return None
        meta = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    key = meta.get("key") if isinstance(meta, dict) else None
    return key if isinstance(key, dict) else None


def check_daudit_cache(root: Path) -> None:
    """Refuse (one line) a cache root without daudit's marker: nothing there is proven daudit's."""
    if os.path.lexists(root) and not root.is_dir():
        raise DauditError(f"cache folder {root} is not a folder; set DAUDIT_CACHE_DIR to daudit's cache folder")
    if not is_marked_cache(root):
        raise DauditError(f"{root} is not a daudit cache folder (no {CACHE_MARKER} in it): nothing there is listed "
                          "or removed; set DAUDIT_CACHE_DIR to daudit's cache folder")


def _kind_entries(root: Path, kind: str) -> list[CacheEntry]:
    folder = root / kind
    if folder.is_symlink():
        return [CacheEntry("other", folder, tree_bytes(folder), False, note="a link: not followed, never removed")]
    if not folder.is_dir():
        return []
    out = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):  # .holds, temporary folders of runs that are writing
            continue
        key = None if kind == "zarr" and entry.suffix != ".zarr" else _manifest_key(entry)
        if key is None:
            out.append(CacheEntry("other", entry, tree_bytes(entry), False, note=f"in {kind}/ but not sealed by "
                                  "daudit: never removed"))
            continue
        note = f"copy of {key.get('path')}" if kind == "zarr" else str(key.get("name") or "statistics")
        out.append(CacheEntry(kind, entry, tree_bytes(entry), True, held_elsewhere(entry), note))
    return out


def cache_entries(root: Path, *, demo: Path | None = None) -> list[CacheEntry]:
    """Every entry of cache root ``root`` (`check_daudit_cache` first): zarr copies, statistics, the
    run registry, the demo data (``demo``, when inside ``root``) and anything else, in that order."""
    check_daudit_cache(root)
    out = _kind_entries(root, "zarr") + _kind_entries(root, "stats")
    runs = root / "runs"
    if runs.is_dir() and not runs.is_symlink():
        n = sum(1 for p in runs.iterdir() if p.suffix == ".json")
        out.append(CacheEntry("registry", runs, tree_bytes(runs), True, note=f"run registry ({n} runs; kept)"))
    known = {root / "zarr", root / "stats", runs, root / CACHE_MARKER}
    demo_here = demo is not None and Path(os.path.abspath(demo)).parent == Path(os.path.abspath(root))
    for entry in sorted(root.iterdir()):
        if entry in known:
            continue
        if demo_here and entry.name == Path(demo).name and entry.is_dir() and not entry.is_symlink():
            out.append(CacheEntry("demo", entry, tree_bytes(entry), True, note="the built-in demo data "
                                  "(cache clear --all removes it; run --demo simulates it again)"))
        else:
            out.append(CacheEntry("other", entry, tree_bytes(entry), False, note="not a cache entry: never removed"))
    return out


def clear_entries(entries: list[CacheEntry], kinds=CLEARABLE) -> tuple[list[CacheEntry], list[CacheEntry]]:
    """Remove the owned entries of ``kinds`` (a subset of `CLEARABLE`) that no run holds.

    Returns ``(removed, kept_held)``; an entry a run took meanwhile is kept (`remove_unless_held`).
    """
    bad = set(kinds) - set(CLEARABLE)
    if bad:
        raise ValueError(f"not clearable: {sorted(bad)}")
    removed, kept = [], []
    for e in entries:
        if e.kind not in kinds or not e.owned:
            continue
        if e.path.is_symlink() or _manifest_key(e.path) is None:  # changed since it was listed: leave it
            continue
        (removed if remove_unless_held(e.path) else kept).append(e)
    return removed, kept
