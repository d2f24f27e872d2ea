"""``daudit cache`` (issue 28): list the cache folder with sizes; clear only what daudit can prove is its own.

The entries are made by daudit's own cache code (`ZarrCache`, `StatsCache`) on small files; the
sizes are checked against ``du --apparent-size``-style sums taken here; the user's files, links,
entries held by a running audit and folders without daudit's marker must survive every clear.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from pfsspec_factory import write_split_set

from daudit.data.layout import ERROR_KEY


def daudit(*args, cwd, env, stdin=subprocess.DEVNULL, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "daudit", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **env}, stdin=stdin)


def _du(path: Path) -> int:
    """Apparent bytes of the regular files under ``path`` (links not followed): the oracle."""
    out = subprocess.run(["du", "-s", "-b", "-P", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def _size_cell(n: int) -> str:
    from daudit.app.commands.cache import format_size

    return format_size(n)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache made by daudit's own code: 2 zarr copies, 2 statistics entries, plus the user's things."""
    from daudit.core.paths import check_cache_dir
    from daudit.data.cache import StatsCache, ZarrCache
    from daudit.data.cache_holds import release_all

    root = tmp_path / "cache"
    monkeypatch.setenv("DAUDIT_CACHE_DIR", str(root))
    check_cache_dir()  # made and marked as a run makes it
    data = write_split_set(tmp_path / "data", n_train=300, n_val=100, n_test=100, p=64)
    zc = ZarrCache(root)
    for split in ("train", "test"):
        zc.get(str(data[split]), ERROR_KEY, chunk_rows=64)
    sc = StatsCache(root)
    sc.save({"name": "gram-error", "x": 1}, {"g": np.ones((64, 64))})
    sc.save({"name": "empty-rows", "x": 2}, {"r": np.zeros(10)})
    release_all()  # as at the end of a run: this process holds nothing
    outside = tmp_path / "outside"  # a sealed-looking folder elsewhere, linked into stats/
    outside.mkdir()
    (outside / "daudit-manifest.json").write_text(json.dumps({"key": {"name": "gram"}, "files": {}}))
    (outside / "precious.npz").write_bytes(b"x" * 1000)
    (root / "stats" / "linked").symlink_to(outside)
    (root / "zarr" / "mine.zarr").mkdir()  # the user's, no manifest
    (root / "zarr" / "mine.zarr" / "data").write_bytes(b"y" * 500)
    (root / "notes.txt").write_text("my notes\n")
    return {"root": root, "outside": outside, "env": {"DAUDIT_CACHE_DIR": str(root)}, "cwd": tmp_path}


def _entries(root: Path, kind: str) -> list[Path]:
    return sorted(p for p in (root / kind).iterdir() if not p.name.startswith(".") and not p.is_symlink()
                  and (p / "daudit-manifest.json").is_file())


def test_cache_list_shows_every_entry_with_its_size_and_the_total(cache):
    root = cache["root"]
    proc = daudit("cache", cwd=cache["cwd"], env=cache["env"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == daudit("cache", "list", cwd=cache["cwd"], env=cache["env"]).stdout
    lines = proc.stdout.splitlines()
    zarr, stats = _entries(root, "zarr"), _entries(root, "stats")
    assert len(zarr) == 2 and len(stats) == 2
    for entry, kind in [(e, "zarr") for e in zarr] + [(e, "stats") for e in stats]:
        row = next(ln for ln in lines if f"{entry.name}/" in ln)
        assert row.split()[0] == kind and _size_cell(_du(entry)) in row, row
    assert "never removed" in next(ln for ln in lines if "mine.zarr" in ln)
    assert "never removed" in next(ln for ln in lines if "notes.txt" in ln)
    assert "never removed" in next(ln for ln in lines if "linked" in ln)  # a link, not followed
    total = next(ln for ln in lines if ln.startswith("total"))
    assert total.split()[1:3] == _size_cell(_du(root)).split(), (total, _du(root))


def test_cache_clear_removes_only_daudits_entries(cache):
    root, outside = cache["root"], cache["outside"]
    proc = daudit("cache", "clear", "--zarr", "--yes", cwd=cache["cwd"], env=cache["env"])
    assert proc.returncode == 0, proc.stderr
    assert _entries(root, "zarr") == [] and len(_entries(root, "stats")) == 2  # --zarr: the copies only
    assert "removed 2 entries" in proc.stdout
    proc = daudit("cache", "clear", "--all", "--yes", cwd=cache["cwd"], env=cache["env"])
    assert proc.returncode == 0, proc.stderr
    assert _entries(root, "stats") == []
    # the user's things, the link and what it points to, the marker: all still there
    assert (root / "zarr" / "mine.zarr" / "data").read_bytes() == b"y" * 500
    assert (root / "notes.txt").is_file() and (root / ".daudit-cache.json").is_file()
    assert (root / "stats" / "linked").is_symlink() and (outside / "precious.npz").stat().st_size == 1000


def test_cache_clear_keeps_an_entry_a_running_audit_holds(cache):
    root = cache["root"]
    held = _entries(root, "zarr")[0]
    code = ("import sys, time; from pathlib import Path; from daudit.data.cache_holds import hold; "
            "hold(Path(sys.argv[1])); print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(held)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        listed = daudit("cache", cwd=cache["cwd"], env=cache["env"]).stdout
        assert "held by a running audit" in next(ln for ln in listed.splitlines() if held.name in ln)
        proc = daudit("cache", "clear", "--yes", cwd=cache["cwd"], env=cache["env"])
        assert proc.returncode == 0, proc.stderr
        assert _entries(root, "zarr") == [held] and _entries(root, "stats") == []
        assert "removed 3 entries" in proc.stdout
    finally:
        holder.kill()
        holder.wait()


def test_cache_clear_refuses_without_a_terminal_or_the_marker(cache, tmp_path):
    root = cache["root"]
    before = sorted(str(p) for p in root.rglob("*"))
    proc = daudit("cache", "clear", cwd=cache["cwd"], env=cache["env"])  # stdin is not a terminal
    assert proc.returncode == 2 and proc.stderr.strip().startswith("daudit: error:") and "--yes" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    (root / ".daudit-cache.json").unlink()  # not proven daudit's any more
    proc = daudit("cache", "clear", "--yes", cwd=cache["cwd"], env=cache["env"])
    assert proc.returncode == 2 and ".daudit-cache.json" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert daudit("cache", cwd=cache["cwd"], env=cache["env"]).returncode == 2
    assert sorted(str(p) for p in root.rglob("*")) == [p for p in before if not p.endswith(".daudit-cache.json")]


@pytest.mark.parametrize("answer, removed", [("n", False), ("y", True)])
def test_cache_clear_asks_on_a_terminal(cache, answer, removed):
    root = cache["root"]
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "daudit", "cache", "clear", "--stats"], cwd=cache["cwd"],
                                stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **cache["env"]})
        time.sleep(0.5)
        os.write(master, f"{answer}\n".encode())
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0, err
    assert "[y/N]" in out
    assert (_entries(root, "stats") == []) is removed
    assert len(_entries(root, "zarr")) == 2


@pytest.fixture
def with_demo(cache):
    """The demo data simulated by daudit into the cache folder (its default place)."""
    from daudit.simulate import simulate_dataset

    demo = cache["root"] / "demo"
    simulate_dataset(demo, n_train=40, n_val=10, n_test=10, progress=False)
    return {**cache, "demo": demo, "env": {**cache["env"], "DAUDIT_DEMO_DIR": str(demo)}}


def test_cache_list_shows_the_demo_data_and_clear_keeps_it_without_all(with_demo):
    demo = with_demo["demo"]
    listed = daudit("cache", cwd=with_demo["cwd"], env=with_demo["env"]).stdout
    row = next(ln for ln in listed.splitlines() if ln.startswith("demo"))
    assert _size_cell(_du(demo)) in row, row
    proc = daudit("cache", "clear", "--yes", cwd=with_demo["cwd"], env=with_demo["env"])
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in demo.rglob("*.h5")) == ["dataset.h5"] * 3  # kept


def test_cache_clear_all_removes_the_simulated_demo_data(with_demo):
    demo, root = with_demo["demo"], with_demo["root"]
    proc = daudit("cache", "clear", "--all", "--yes", cwd=with_demo["cwd"], env=with_demo["env"])
    assert proc.returncode == 0, proc.stderr
    assert not demo.exists() and _entries(root, "zarr") == [] and _entries(root, "stats") == []
    assert (root / "notes.txt").is_file() and (root / "zarr" / "mine.zarr" / "data").is_file()


def test_cache_clear_all_keeps_demo_data_holding_the_users_file_or_read_by_a_live_run(with_demo):
    from daudit.core.runlog import RunRecorder

    demo, root = with_demo["demo"], with_demo["root"]
    (demo / "train" / "my_notes.txt").write_text("mine\n")
    proc = daudit("cache", "clear", "--all", "--yes", cwd=with_demo["cwd"], env=with_demo["env"])
    assert proc.returncode == 0 and "demo data kept" in proc.stdout and "my_notes.txt" in proc.stdout, proc.stdout
    assert len(list(demo.rglob("*.h5"))) == 3 and (demo / "train" / "my_notes.txt").is_file()
    assert _entries(root, "stats") == []  # the rest is cleared all the same
    (demo / "train" / "my_notes.txt").unlink()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        os.environ["DAUDIT_CACHE_DIR"] = str(root)  # monkeypatched by the fixture: the registry goes there
        RunRecorder(with_demo["cwd"] / "results" / "LIVE-01", experiment_id="LIVE-01", pid=sleeper.pid).begin()
        proc = daudit("cache", "clear", "--all", "--yes", cwd=with_demo["cwd"], env=with_demo["env"])
        assert proc.returncode == 0 and "LIVE-01" in proc.stdout, proc.stdout
        assert len(list(demo.rglob("*.h5"))) == 3
    finally:
        sleeper.kill()
        sleeper.wait()
    proc = daudit("cache", "clear", "--all", "--yes", cwd=with_demo["cwd"], env=with_demo["env"])
    assert proc.returncode == 0 and not demo.exists(), proc.stdout  # the run is gone: now it goes
