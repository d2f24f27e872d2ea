"""Where daudit keeps its files: shipped specs, caches, demo data; never inside the installed package.

Two ways to run daudit, one rule each:

- **A source checkout** (``make demo``, ``pip install -e .``, ``PYTHONPATH``): the example specs
  are ``pipelines/`` and everything daudit keeps goes to ``data_cache/`` beside it, as before.
- **An installed wheel** (``pip install .``): the example specs ship inside the package
  (``daudit/pipelines/``, read only) and everything daudit keeps goes to the user cache folder:
  ``$XDG_CACHE_HOME/daudit`` (default ``~/.cache/daudit``; ``~/Library/Caches/daudit`` on macOS,
  ``%LOCALAPPDATA%\\daudit\\Cache`` on Windows).

Environment variables override: ``DAUDIT_CACHE_DIR`` (zarr copies, sufficient statistics, the
run registry) and ``DAUDIT_DEMO_DIR`` (the simulated demo data). Results and logs go where the
user says (``--output-dir``, the spec's ``output_dir``, else ``results/<EXP>`` in the working
folder). Every function reads the environment when called, so a change takes effect at once.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from daudit.core.errors import DauditError

__all__ = [
    "CACHE_ENV",
    "CACHE_MARKER",
    "check_cache_dir",
    "file_in_the_way",
    "writable_dir",
    "DEMO_ENV",
    "PACKAGE_DIR",
    "builtin_spec",
    "is_marked_cache",
    "cache_dir",
    "demo_dir",
    "home_dir",
    "runs_dir",
    "source_checkout",
    "specs_dir",
    "user_cache_dir",
]

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the daudit package folder
CACHE_ENV = "DAUDIT_CACHE_DIR"
CACHE_MARKER = ".daudit-cache.json"  # in the cache root: daudit made this folder and may write in it
_CACHE_TAG = "daudit cache folder"
_VIRTUAL_ROOTS = ("/proc", "/sys", "/dev")
DEMO_ENV = "DAUDIT_DEMO_DIR"


def source_checkout() -> Path | None:
    """The source tree daudit runs from, or None when it is an installed package.

    A checkout is the package's parent folder holding ``pyproject.toml`` and ``pipelines/``, never
    a ``site-packages`` or ``dist-packages`` folder (stray files there do not make one).
    """
    root = PACKAGE_DIR.parent
    if {"site-packages", "dist-packages"} & set(root.parts):
        return None
    return root if (root / "pyproject.toml").is_file() and (root / "pipelines").is_dir() else None


def specs_dir() -> Path:
    """The shipped example specs: ``pipelines/`` of a checkout, else ``daudit/pipelines/`` of a wheel."""
    root = source_checkout()
    return root / "pipelines" if root is not None else PACKAGE_DIR / "pipelines"


def builtin_spec(name: str) -> Path:
    """Path of a shipped spec file, e.g. ``builtin_spec("logg_err_base_01.yaml")``."""
    return specs_dir() / name


def user_cache_dir() -> Path:
    """The per-user cache folder of daudit on this platform (not created here)."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "daudit"
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "daudit" / "Cache"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "daudit"


def home_dir() -> Path:
    """Where daudit keeps what it makes when no variable says otherwise.

    ``data_cache/`` in a source checkout, else `user_cache_dir`.
    """
    root = source_checkout()
    return root / "data_cache" if root is not None else user_cache_dir()


def cache_dir() -> Path:
    """Root of the zarr copies, the statistics cache and the run registry: ``$DAUDIT_CACHE_DIR`` or `home_dir`."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else home_dir()


def demo_dir() -> Path:
    """The simulated demo dataset: ``$DAUDIT_DEMO_DIR`` or ``<home_dir>/demo``."""
    env = os.environ.get(DEMO_ENV)
    return Path(env).expanduser() if env else home_dir() / "demo"


def runs_dir() -> Path:
    """The run registry (experiment id -> output folder of its newest run), under `cache_dir`."""
    return cache_dir() / "runs"


def file_in_the_way(path: str | os.PathLike) -> Path | None:
    """The first existing part of ``path``'s parents that is not a folder (a file), else None."""
    path = Path(os.path.abspath(path))
    for part in reversed(path.parents):
        if os.path.lexists(part) and not part.is_dir():
            return part
    return None


def writable_dir(path: str | os.PathLike, *, what: str, fix: str) -> Path:
    """Make folder ``path`` (parents too) and prove it writable, or refuse with one `DauditError` line.

    ``what`` names it in the message (e.g. ``"--logs-dir logs"``), ``fix`` says what to do. A probe
    file is written and removed: ``os.access`` says yes to root even on a read-only file system.
    """
    path = Path(os.path.abspath(path))
    blocker = path if os.path.lexists(path) and not path.is_dir() else file_in_the_way(path)
    if blocker is not None:
        raise DauditError(f"{what}: {blocker} is a file, not a folder; {fix}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".daudit-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise DauditError(f"{what}: {path} is not writable ({err.strerror or err}); {fix}") from err
    return path


def _in_virtual_fs(path: Path) -> str | None:
    """``/proc``, ``/sys`` or ``/dev`` when ``path`` lies in one (``/dev/shm``, a RAM disk, is a real one)."""
    real = os.path.realpath(path)
    for root in _VIRTUAL_ROOTS:
        if (real == root or real.startswith(root + "/")) and not real.startswith("/dev/shm/"):
            return root
    return None


def is_marked_cache(root: Path) -> bool:
    """Whether ``root`` holds the cache marker: a regular file daudit wrote, or that the user made
    (``touch``) to declare a cache of an older daudit, made before the marker, as daudit's."""
    marker = root / CACHE_MARKER
    return marker.is_file() and not marker.is_symlink()


def check_cache_dir() -> Path:
    """The cache root (`cache_dir`), made and marked as daudit's; refused with one line when daudit may not use it.

    The caches and the run registry write files under it, so a folder that is not daudit's is
    refused: ``$DAUDIT_CACHE_DIR`` naming a file, a path through a file, a virtual file system
    (``/proc``, ``/sys``, ``/dev``), an unwritable folder, or a non-empty folder without the
    `CACHE_MARKER` that daudit writes into every cache root it makes (a folder of the user's).
    The default roots (``data_cache/``, the user cache folder) are daudit's own by their name and
    are marked on first use.
    """
    root = cache_dir()
    from_env = bool(os.environ.get(CACHE_ENV))
    where = f"{CACHE_ENV}={root}" if from_env else f"the cache folder {root}"
    fix = f"set {CACHE_ENV} to a new or empty folder" if from_env else f"set {CACHE_ENV} to a writable folder"
    virtual = _in_virtual_fs(root)
    if virtual:
        raise DauditError(f"{where} lies in the virtual file system {virtual}, which holds no files to keep; {fix}")
    blocker = file_in_the_way(root)
    if blocker is not None:
        raise DauditError(f"{where}: {blocker} is a file, not a folder; {fix}")
    if os.path.lexists(root) and not root.is_dir():
        raise DauditError(f"{where} is a file, not a folder; {fix}")
    if is_marked_cache(root):
        return root
    if root.is_dir() and from_env and any(os.scandir(root)):
        raise DauditError(f"{where} is not empty and is not a daudit cache (no {CACHE_MARKER} in it): daudit "
                          f"writes its caches and run registry there and could overwrite your files; {fix} "
                          f"(nothing was changed; a cache an older daudit made there: touch {root / CACHE_MARKER})")
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{CACHE_MARKER}.", dir=root)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps({"written_by": _CACHE_TAG, "format": 1}) + "\n")
        os.replace(tmp, root / CACHE_MARKER)
    except OSError as err:
        raise DauditError(f"{where} cannot be written ({err.strerror or err}); {fix}") from err
    return root
