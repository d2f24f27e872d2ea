"""An installed daudit (not a checkout): specs from the package, caches in the user cache folder, nothing
written inside the package (issue 13). The real wheel is built and installed by .ci/run; this test
lays the package out as the wheel does (daudit/ with pipelines/ inside, byte-compiled) and runs the
command line from an unrelated folder.
"""

from __future__ import annotations

import compileall
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pfsspec_factory import write_spec, write_split_set

REPO = Path(__file__).resolve().parents[1]


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A site-packages with daudit laid out as the wheel installs it."""
    site = tmp_path_factory.mktemp("site-packages")
    shutil.copytree(REPO / "daudit", site / "daudit", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "pipelines", site / "daudit" / "pipelines")
    compileall.compile_dir(site / "daudit", quiet=1)  # as pip does at install time
    return site


def _run(site: Path, cwd: Path, home: Path, *args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DAUDIT_CACHE_DIR", "DAUDIT_DEMO_DIR", "PYTHONPATH")}
    env.update(PYTHONPATH=str(site), XDG_CACHE_HOME=str(home / "cache"), HOME=str(home))
    return subprocess.run([sys.executable, "-m", "daudit", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_installed_layout_runs_from_an_unrelated_folder(site, tmp_path):
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    before = _snapshot(site)
    where = _run(site, work, home, "init", "spec.yaml")  # the template, from the package
    assert where.returncode == 0, where.stderr
    paths = write_split_set(work / "data", n_train=300, n_val=100, n_test=100, p=16)
    spec = write_spec(work / "spec.yaml", paths, output_dir="results/TEST-RUN-01", lightgbm=False,
                      extra="sanity: {enabled: false}")
    spec.write_text(spec.read_text().replace(f"output_dir: {'results/TEST-RUN-01'!r}\n", ""))
    ran = _run(site, work, home, "run", "--config", "spec.yaml")
    assert ran.returncode == 0 and "Traceback" not in ran.stderr, ran.stderr
    assert (work / "results" / "TEST-RUN-01" / "summary.json").is_file()  # default: results/<EXP> here
    cache = home / "cache" / "daudit"
    assert list(cache.glob("zarr/*.zarr")) and list(cache.glob("stats/*")), sorted(cache.rglob("*"))
    assert (cache / "runs" / "TEST-RUN-01.json").is_file()
    st = _run(site, work, home, "status", "TEST-RUN-01")
    assert st.returncode == 0 and "finished" in st.stdout, st.stdout + st.stderr
    assert _snapshot(site) == before  # nothing written inside the installed package


def test_installed_paths_are_the_package_and_the_user_cache(site, tmp_path):
    code = ("from daudit.core import paths; print(paths.source_checkout()); print(paths.specs_dir()); "
            "print(paths.cache_dir()); print(paths.demo_dir())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                         env={**{k: v for k, v in os.environ.items() if not k.startswith("DAUDIT_")},
                              "PYTHONPATH": str(site), "XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert out.returncode == 0, out.stderr
    checkout, specs, cache, demo = out.stdout.split()
    assert checkout == "None" and Path(specs) == site / "daudit" / "pipelines"
    assert Path(cache) == tmp_path / "xdg" / "daudit" and Path(demo) == tmp_path / "xdg" / "daudit" / "demo"
    # the environment variables win
    env = {**os.environ, "PYTHONPATH": str(site), "DAUDIT_CACHE_DIR": str(tmp_path / "c"),
           "DAUDIT_DEMO_DIR": str(tmp_path / "d")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert out.stdout.split()[2:] == [str(tmp_path / "c"), str(tmp_path / "d")]


def test_a_checkout_keeps_data_cache(monkeypatch):
    from daudit.core import paths

    monkeypatch.delenv("DAUDIT_CACHE_DIR", raising=False)
    monkeypatch.delenv("DAUDIT_DEMO_DIR", raising=False)
    assert paths.source_checkout() == REPO
    assert paths.cache_dir() == REPO / "data_cache" and paths.demo_dir() == REPO / "data_cache" / "demo"
    assert paths.specs_dir() == REPO / "pipelines"


def test_setup_py_ships_every_package_and_the_specs(monkeypatch):
    """What setup.py hands setuptools: every package of the tree, and pipelines/ as daudit.pipelines."""
    import runpy

    import setuptools

    got = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kw: got.update(kw))
    monkeypatch.chdir(REPO)
    runpy.run_path(str(REPO / "setup.py"))
    tree = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "daudit").rglob("__init__.py")}
    assert set(got["packages"]) == tree | {"daudit.pipelines"}
    assert got["package_dir"] == {"daudit.pipelines": "pipelines"}
    assert {p.name for p in (REPO / "pipelines").glob("*.yaml")} >= {"LOGG-ERR-BASE-01.seed.yaml",
                                                                   "logg_err_base_01.yaml", "logg_err_repr_01.yaml"}
    assert '"daudit.pipelines" = ["*.yaml"]' in (REPO / "pyproject.toml").read_text()
