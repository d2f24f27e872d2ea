"""Inputs and cache entries that change under a run, cache tampering, HDF5 links into other files.

A run reads its error arrays lazily, long after it opened them: from zarr copies in the cache or
from the HDF5 files. Whatever changes under it (a second run making a copy of a changed file, a
cache folder deleted, a copy edited outside the rows compared with the source, the source file
rewritten) must stop it with one line, or leave what it reads intact; never give a verdict on
zeros or on other data. Oracles: the arrays written by the test itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
import zarr
from pfsspec_factory import ERROR_KEY, write_pfsspec

from daudit.core.errors import DauditError, InputChangedError
from daudit.data.cache import ZarrCache
from daudit.data.pfsspec import load_pfsspec

REPO = Path(__file__).resolve().parents[1]
N, P, CHUNK = 96, 16, 16


def _file(path: Path, seed: int = 0) -> tuple[Path, np.ndarray]:
    err = np.random.default_rng(seed).uniform(0.5, 1.5, (N, P)).astype(np.float32)
    return write_pfsspec(path, err, {"log_g": np.linspace(1, 5, N)}, chunk_rows=CHUNK), err


def _open(path: Path, cache: Path | None):
    zc = ZarrCache(cache) if cache is not None else None
    return load_pfsspec([str(path)], n_rows=None, param="log_g", chunk_rows=CHUNK, zarr_cache=zc)


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "zarr").glob("*.zarr"))


def _rewrite(path: Path, values: np.ndarray):
    with h5py.File(path, "r+") as f:
        f[ERROR_KEY][...] = values


def test_a_second_process_copying_a_changed_file_leaves_the_first_runs_copy(tmp_path):
    """Run A holds the copy of the file as it was; the file changes and another process makes the
    copy of its new state: A's copy stays as it was, and A, whose input changed, stops with one
    line (before: A's copy was deleted and A read zeros, the fill value of missing zarr chunks)."""
    path, before = _file(tmp_path / "f.h5")
    cache = tmp_path / "cache"
    split = _open(path, cache)
    (held,) = _entries(cache)
    after = before + 1.0
    _rewrite(path, after)
    code = ("import sys; from daudit.data.cache import ZarrCache; "
            f"print(ZarrCache({str(cache)!r}).get({str(path)!r}, {ERROR_KEY!r}, chunk_rows={CHUNK}))")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert other.returncode == 0, other.stderr
    new = Path(other.stdout.strip())
    assert new != held and held.is_dir(), _entries(cache)
    np.testing.assert_array_equal(zarr.open_array(str(held), mode="r")[:], before)
    np.testing.assert_array_equal(zarr.open_array(str(new), mode="r")[:], after)
    with pytest.raises(InputChangedError, match="f.h5 changed or vanished while this run used it"):
        split.error_raw.compute()


def test_a_cache_deleted_under_a_run_stops_it_with_one_line(tmp_path):
    path, _ = _file(tmp_path / "f.h5")
    cache = tmp_path / "cache"
    split = _open(path, cache)
    shutil.rmtree(cache / "zarr")
    with pytest.raises(InputChangedError, match=r"zarr cache .* cannot be (read|opened).*remove that folder and rerun"):
        split.error_raw.compute()


@pytest.mark.parametrize("row", [0, N // 2 - 3, N - 1])
def test_a_copy_rewritten_under_a_run_stops_it(tmp_path, row):
    """Another process rewrites rows of the copy in place while the run reads it."""
    path, _ = _file(tmp_path / "f.h5")
    cache = tmp_path / "cache"
    split = _open(path, cache)
    (entry,) = _entries(cache)
    z = zarr.open_array(str(entry), mode="r+")
    z[row] = 0.0
    with pytest.raises(InputChangedError, match=f"rows {row // CHUNK * CHUNK}-{row // CHUNK * CHUNK + CHUNK} are "
                                                "not the bytes copied from the source"):
        split.error_raw.compute()


def _forge_manifest(entry: Path):
    """Bring the copy's file sizes and CRC32s in its manifest up to date with its files, as a
    careless tool would after editing them (the checks of sizes and CRCs then pass)."""
    man = entry / "daudit-manifest.json"
    meta = json.loads(man.read_text())
    meta["files"] = {str(p.relative_to(entry)): [p.stat().st_size, zlib.crc32(p.read_bytes())]
                     for p in sorted(entry.rglob("*")) if p.is_file() and p.name != man.name}
    man.write_text(json.dumps(meta, indent=1))


def test_a_copy_tampered_outside_the_sampled_rows_is_never_read_as_the_source(tmp_path):
    """Rows of the copy that the comparison with the source does not sample are edited and the
    manifest's CRCs updated: the next run must not read them as data (before: it did, silently)."""
    path, before = _file(tmp_path / "f.h5")
    cache = tmp_path / "cache"
    _open(path, cache).error_raw.compute()
    (entry,) = _entries(cache)
    sampled = {int(i) for i in np.linspace(0, N - 1, 5)}
    row = next(r for r in range(N // 2, N) if r not in sampled)
    z = zarr.open_array(str(entry), mode="r+")
    z[row] = z[row] * 100.0
    _forge_manifest(entry)
    try:
        got = _open(path, cache).error_raw.compute()
    except InputChangedError as err:
        assert "not the bytes copied from the source" in str(err)
    else:
        np.testing.assert_array_equal(got, before)


def test_the_source_file_changed_under_a_run_stops_it(tmp_path):
    """No zarr copy: the HDF5 file is rewritten after the run opened it (same shape); the error,
    and the flux a deleak run reads from the same file."""
    from daudit.deleak.passes import flux_array

    path, before = _file(tmp_path / "f.h5")
    split = _open(path, None)
    flux = flux_array(split, CHUNK)
    _rewrite(path, before * 2.0)
    with pytest.raises(InputChangedError, match="changed or vanished while this run used it"):
        split.error_raw.compute()
    with pytest.raises(InputChangedError, match="changed or vanished while this run used it"):
        flux.compute()
    path.unlink()
    with pytest.raises(InputChangedError):
        split.error_raw.compute()


def test_the_source_file_changed_before_its_copy_is_made_is_refused(tmp_path):
    """The file changes between the run's reading its labels and its zarr copy: refused, not copied."""
    from daudit.core.files import file_state

    path, before = _file(tmp_path / "f.h5")
    opened = file_state(path)
    _rewrite(path, before * 2.0)
    with pytest.raises(InputChangedError, match="changed or vanished while this run used it"):
        ZarrCache(tmp_path / "cache").get(str(path), ERROR_KEY, chunk_rows=CHUNK, expect_state=opened)
    assert not _entries(tmp_path / "cache")


def test_statistics_entries_are_write_once_and_checked_in_memory(tmp_path):
    from daudit.data.cache import StatsCache

    sc = StatsCache(tmp_path / "cache")
    key = {"name": "t", "x": 1}
    d = sc.save(key, {"a": np.arange(5.0)})
    np.testing.assert_array_equal(sc.load(key)["a"], np.arange(5.0))
    inode = (d / "stats.npz").stat().st_ino
    again = sc.save(key, {"a": np.arange(5.0)})  # the same entry again (another run): kept, not rewritten in place
    assert again == d and (d / "stats.npz").stat().st_ino == inode and sc.load(key) is not None
    raw = bytearray((d / "stats.npz").read_bytes())
    raw[-30] ^= 0xFF
    (d / "stats.npz").write_bytes(bytes(raw))
    assert sc.load(key) is None


# ------------------------------------------------------------------------------ HDF5 links


def _linked(tmp_path: Path, how: str) -> Path:
    target, _ = _file(tmp_path / "target.h5", seed=1)
    path, _ = _file(tmp_path / "linked.h5")
    with h5py.File(path, "a") as f:
        del f[ERROR_KEY]
        if how == "soft link to an external link":
            f["elsewhere"] = h5py.ExternalLink(str(target), ERROR_KEY)
            f[ERROR_KEY] = h5py.SoftLink("/elsewhere")
        elif how == "group soft-linked to another file's group":
            del f["dataset/arrays/error"]
            f["ext_group"] = h5py.ExternalLink(str(target), "dataset/arrays/error")
            f["dataset/arrays/error"] = h5py.SoftLink("/ext_group")
        else:  # raw values in an external file
            raw = tmp_path / "values.bin"
            np.ones((N, P), np.float32).tofile(raw)
            f.create_dataset(ERROR_KEY, shape=(N, P), dtype=np.float32, external=[(str(raw), 0, N * P * 4)])
    return path


@pytest.mark.parametrize("how", ["soft link to an external link", "group soft-linked to another file's group",
                                 "external raw storage"])
def test_arrays_reached_in_another_file_are_refused(tmp_path, how):
    path = _linked(tmp_path, how)
    with pytest.raises(DauditError, match="another file|external raw files"):
        _open(path, None)
    with pytest.raises(DauditError, match="another file|external raw files"):
        _open(path, tmp_path / "cache")
    assert not _entries(tmp_path / "cache")
    inside, err = _file(tmp_path / "inside.h5")  # a soft link within the file itself is read as usual
    with h5py.File(inside, "a") as f:
        f.move(ERROR_KEY, "/real_error")
        f[ERROR_KEY] = h5py.SoftLink("/real_error")
    np.testing.assert_array_equal(_open(inside, tmp_path / "cache").error_raw.compute(), err)


# ------------------------------------------------------------------------------ the CLI, a run paused mid-way


@pytest.fixture(scope="module")
def leaky(tmp_path_factory):
    """A planted linear leak (Gate-1 FAIL), big enough that a run can be paused before its prediction pass."""
    from pfsspec_factory import write_split_set

    return write_split_set(tmp_path_factory.mktemp("leaky"), n_train=12000, n_val=2000, n_test=2000, p=64)


def _paused_run(tmp_path: Path, data: dict, name: str):
    """Start ``daudit run`` on ``data`` (cache in tmp_path/cache), stop it once its data are open and
    copied and before its prediction pass; returns (process, spec, env)."""
    import signal

    from pfsspec_factory import write_spec
    from polling import wait_for

    spec = write_spec(tmp_path / f"{name}.yaml", data, output_dir=tmp_path / name, lightgbm=False, levels=(1.0,),
                      chunk_rows=512, extra="sanity: {enabled: false}")
    env = {**os.environ, "PYTHONPATH": str(REPO), "DAUDIT_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "daudit", "run", "--config", str(spec)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    live = tmp_path / f"{name}.log"
    wait_for(lambda: proc.poll() is not None or (live.exists() and "stage statistics pass: start" in live.read_text()),
             timeout=240, step=0.01)
    os.killpg(proc.pid, signal.SIGSTOP)
    assert proc.poll() is None and "stage prediction pass" not in live.read_text(), live.read_text()
    return proc, spec, env


def _resume(proc) -> tuple[int, str, str]:
    import signal

    os.killpg(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def test_a_second_run_on_changed_files_never_turns_the_first_runs_fail_into_a_pass(tmp_path, leaky):
    """Run A is paused; the val and test files change; run B audits them to the end with the same
    cache; A, resumed, stops with one line: its inputs changed (before: B deleted A's copies and A
    predicted on zeros: Gate-1 PASS on a planted leak)."""
    data = {k: shutil.copy(v, tmp_path / f"{k}.h5") for k, v in leaky.items()}
    first, _, env = _paused_run(tmp_path, data, "a")
    try:
        for name in ("val", "test"):
            with h5py.File(data[name], "r+") as f:
                f[ERROR_KEY][...] = np.random.default_rng(5).uniform(0.5, 1.5, f[ERROR_KEY].shape).astype(np.float32)
        second = subprocess.run([sys.executable, "-m", "daudit", "run", "--config", str(tmp_path / "a.yaml"),
                                 "--output-dir", str(tmp_path / "b")], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=300)
        assert second.returncode == 0, second.stderr
    finally:
        rc, out, err = _resume(first)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and "Gate-1 PASS" not in out and "Traceback" not in out + err, out + err
    assert len(lines) == 1 and lines[0].startswith("daudit: error: ") and "h5 changed or vanished" in lines[0], err
    assert not (tmp_path / "a" / "summary.json").exists()
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["data"]["splits"]["test"]["n_rows"] == 2000


def test_a_cache_deleted_under_a_cli_run_ends_it_with_one_line(tmp_path, leaky):
    proc, _, _ = _paused_run(tmp_path, leaky, "a")
    try:
        shutil.rmtree(tmp_path / "cache" / "zarr")
    finally:
        rc, out, err = _resume(proc)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and "Traceback" not in out + err, out + err
    assert len(lines) == 1 and lines[0].startswith("daudit: error: zarr cache "), err
    assert "remove that folder and rerun" in lines[0] and not (tmp_path / "a" / "summary.json").exists()
