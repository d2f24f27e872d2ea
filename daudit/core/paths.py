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

import os
import sys
from pathlib import Path

__all__ = [
    "CACHE_ENV",
    "DEMO_ENV",
    "PACKAGE_DIR",
    "builtin_spec",
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
