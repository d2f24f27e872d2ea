"""docs/internals.md lists every module of the package, as generated from the tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "docs"))

import make_internals  # noqa: E402


def test_every_module_is_in_internals_md():
    text = (REPO / "docs" / "internals.md").read_text(encoding="utf-8")
    missing = [m for m, _ in make_internals.modules() if f"`{m}`" not in text]
    assert not missing, f"modules missing from docs/internals.md (run python docs/make_internals.py): {missing}"


def test_module_table_is_regenerated_from_the_tree():
    proc = subprocess.run([sys.executable, str(REPO / "docs" / "make_internals.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_every_module_has_a_docstring():
    assert [m for m, doc in make_internals.modules() if not doc] == []
