"""Hostile and careless inputs beyond a refused spec (issue 16), each through the real CLI.

Ownership before deletion (a folder of the user's files given as --output-dir, twice; a
``.previous`` holding the user's notes), one cleanup path for SIGINT and SIGTERM, every reader of
run files on damaged files (list, show, status, publish, inspect), publish kept inside the run
and the knowledge center, the dashboard on loopback, and caches that a changed file can never
serve stale. Refusals are one line on stderr, exit 2, and change nothing.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np
import pytest
from pfsspec_factory import ERROR_KEY, WAVE_KEY, write_pfsspec, write_spec, write_split_set
from test_publish import PNG, fixture_kc, git, make_run, make_summary, needs_git

from daudit.core.paths import cache_dir
from daudit.core.schema import write_summary
from daudit.output.staging import MARKER, check_output_dir

REPO = Path(__file__).resolve().parents[1]


def cli(*args, cwd, timeout=300, env=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           **(env or {})}
    return subprocess.run([sys.executable, "-m", "daudit", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=env)


def assert_one_line_error(proc, *needles, rc=2):
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text, text
    assert proc.returncode == rc, text
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("daudit: error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def snapshot(root: Path) -> dict:
    """Every entry below ``root`` (and ``root`` itself): kind, mode and bytes of files, link targets."""
    out = {}
    for path in [root, *sorted(root.rglob("*"))]:
        rel = str(path.relative_to(root))
        st = path.lstat()
        if path.is_symlink():
            out[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            out[rel] = ("dir", st.st_mode)
        else:
            out[rel] = ("file", st.st_mode, st.st_mtime_ns, path.read_bytes())
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_split_set(tmp_path_factory.mktemp("hostile-data"), n_train=600, n_val=200, n_test=200, p=32)


@pytest.fixture(scope="module")
def big_data(tmp_path_factory):
    """Enough rows that a run is still going when a test looks at it or signals it."""
    return write_split_set(tmp_path_factory.mktemp("hostile-big"), n_train=20000, n_val=2000, n_test=2000, p=128)


def _spec(root: Path, data, **kw) -> Path:
    kw.setdefault("lightgbm", False)
    kw.setdefault("levels", (1.0,))
    kw.setdefault("extra", "sanity: {enabled: false}")
    return write_spec(root / "spec.yaml", data, output_dir=root / "out", **kw)


# ------------------------------------------------------------------------------ ownership


def test_folder_of_user_files_as_output_dir_is_refused_twice_and_stays_byte_for_byte(data, tmp_path):
    notes = tmp_path / "notes"
    (notes / "old").mkdir(parents=True)
    for name in ("metrics.csv", "summary.json", "run.log", "notes.md", "old/fig.png"):
        (notes / name).write_text(f"the user's {name}\n")
    spec = _spec(tmp_path, data)
    before, parent = snapshot(notes), sorted(os.listdir(tmp_path))
    for _ in range(2):
        proc = cli("run", "--config", spec, "--output-dir", notes, cwd=tmp_path)
        assert_one_line_error(proc, "not empty and holds no daudit results", "nothing was changed")
        assert snapshot(notes) == before
        assert sorted(os.listdir(tmp_path)) == parent  # no .previous, staging folder or lock beside it


def test_output_dir_dot_in_a_project_is_refused_twice(data, tmp_path):
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "metrics.csv").write_text("epoch,loss\n1,0.5\n")
    (project / "src" / "model.py").write_text("print('hi')\n")
    spec = _spec(tmp_path, data)
    before = snapshot(project)
    for _ in range(2):
        assert_one_line_error(cli("run", "--config", spec, "--output-dir", ".", cwd=project),
                              f"output directory {project} is not empty")
        assert snapshot(project) == before


def test_user_files_in_a_previous_results_folder_are_never_deleted(data, tmp_path):
    spec = _spec(tmp_path, data)
    out, prev = tmp_path / "out", tmp_path / "out.previous"
    assert cli("run", "--config", spec, cwd=tmp_path).returncode == 0
    assert (out / MARKER).is_file()
    (out / "my-notes.md").write_text("what I concluded\n")
    assert cli("run", "--config", spec, cwd=tmp_path).returncode == 0  # moved aside, not deleted
    assert (prev / "my-notes.md").read_text() == "what I concluded\n"
    before = snapshot(tmp_path)
    assert_one_line_error(cli("run", "--config", spec, cwd=tmp_path), "out.previous holds 1 file(s) daudit did not "
                          "write", "my-notes.md")
    assert snapshot(tmp_path) == before
    (prev / "my-notes.md").unlink()  # once the user takes their file out, the next run may proceed
    check_output_dir(out)


def test_simulate_never_replaces_data_it_did_not_write(data, tmp_path):
    real = tmp_path / "real"
    (real / "train").mkdir(parents=True)
    (real / "train" / "dataset.h5").write_bytes(Path(data["train"]).read_bytes())
    before = snapshot(real)
    assert_one_line_error(cli("simulate", "--out", real, "--train", 50, "--val", 40, "--test", 40, "--quiet",
                              cwd=tmp_path), "was not written by daudit's simulator", "nothing was changed")
    assert snapshot(real) == before
    sim = tmp_path / "sim"
    for n, force in ((50, []), (60, ["--force"])):  # its own files it replaces, with --force
        assert cli("simulate", "--out", sim, "--train", n, "--val", 40, "--test", 40, "--quiet", *force,
                   cwd=tmp_path).returncode == 0


# ------------------------------------------------------------------------------ signals


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sigint_and_sigterm_remove_staging_and_lock(tmp_path, big_data, sig, code):
    spec = _spec(tmp_path, big_data, lightgbm=True)
    spec.write_text(spec.read_text().replace("n_estimators: 10", "n_estimators: 400"))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / MARKER).write_text(json.dumps({"written_by": "daudit output folder", "files": {}}))
    before = snapshot(tmp_path / "out")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-m", "daudit", "run", "--config", str(spec)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        live = tmp_path / "out.log"  # the run log, written line by line while the run goes
        if live.exists() and "stage lightgbm fit: start" in live.read_text():
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    time.sleep(0.5)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stdout + stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("daudit: ") and "unfinished results were removed" in lines[0], stderr
    # no staging, no lock; the run's log and state stay beside it (status reports it interrupted)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.state.json", "out", "out.log", "spec.yaml"]
    assert json.loads((tmp_path / ".out.state.json").read_text())["status"] == "interrupted"
    assert snapshot(tmp_path / "out") == before


# ------------------------------------------------------------------------------ readers of run files


def _damaged_runs(root: Path) -> dict[str, Path]:
    runs = {}

    def run(name, write):
        d = root / name
        d.mkdir(parents=True)
        (d / "run.log").write_text("x\n")
        write(d / "summary.json")
        runs[name] = d

    run("truncated", lambda p: p.write_text(json.dumps(make_summary())[:200]))
    run("garbage", lambda p: p.write_bytes(os.urandom(300)))
    run("wrong-schema", lambda p: p.write_text(json.dumps({**make_summary(), "gate": {"verdict": 3}})))
    run("not-an-object", lambda p: p.write_text("[1, 2, 3]"))
    run("deep", lambda p: p.write_text("[" * 100_000 + "]" * 100_000))
    run("fifo", lambda p: os.mkfifo(p))
    run("huge", lambda p: open(p, "wb").truncate(70 * 2**20))
    run("loop", lambda p: p.symlink_to(p))
    return runs


def test_damaged_run_files_give_one_line_in_show_publish_and_list(tmp_path):
    runs = _damaged_runs(tmp_path / "results")
    kc = tmp_path / "kc"
    kc.mkdir()
    jobs = [("show", d) for d in runs.values()] + [("publish", d) for d in runs.values()]
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = list(pool.map(lambda job: (job, cli(job[0], job[1], "--knowledge-center", kc, "--force", cwd=tmp_path)
                                          if job[0] == "publish" else cli(*job, cwd=tmp_path, timeout=60)), jobs))
    for (command, run_dir), proc in done:
        assert_one_line_error(proc, str(run_dir / "summary.json"))
    listing = cli("list", tmp_path / "results", cwd=tmp_path, timeout=60)
    assert listing.returncode == 2 and "Traceback" not in listing.stdout + listing.stderr
    errors = [ln for ln in listing.stderr.splitlines() if ln.strip()]
    assert len(errors) == len(runs) and all(ln.startswith("daudit: error: ") for ln in errors), listing.stderr
    assert not any(kc.iterdir())


def test_damaged_detach_files_give_one_line_in_status(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    cases = {"GARBAGE": ("not a pid\n", None), "ZERO": ("0\n", None), "NEGATIVE": ("-1\n", None),
             "BADJSON": ("999999999\n", "{not json"), "LISTJSON": ("999999999\n", "[1, 2]")}
    for exp, (pid, meta) in cases.items():
        (logs / f"{exp}.pid").write_text(pid)
        if meta is not None:
            (logs / f"{exp}.json").write_text(meta)
    os.mkfifo(logs / "FIFO.pid")
    for exp in [*cases, "FIFO"]:
        proc = cli("status", exp, "--logs-dir", logs, cwd=tmp_path, timeout=60)
        text = proc.stdout + proc.stderr
        assert "Traceback" not in text, (exp, text)
        if exp in ("BADJSON", "LISTJSON"):  # the run's record is damaged: said so, in one line
            assert_one_line_error(proc, "not the record daudit wrote")
        else:
            assert_one_line_error(proc)
    assert_one_line_error(cli("status", "../../etc/passwd", "--logs-dir", logs, cwd=tmp_path, timeout=60),
                          "is not an experiment id")


def test_odd_files_give_one_line_in_inspect(tmp_path):
    good = write_pfsspec(tmp_path / "good.h5", np.ones((10, 8), np.float32), {"log_g": np.arange(10.0)})
    os.mkfifo(tmp_path / "pipe.h5")
    group = write_pfsspec(tmp_path / "group.h5", np.ones((10, 8), np.float32), {"log_g": np.arange(10.0)})
    with h5py.File(group, "a") as f:
        del f[ERROR_KEY]
        f.create_group(ERROR_KEY)
    scalar = write_pfsspec(tmp_path / "scalar.h5", np.ones((10, 8), np.float32), {"log_g": np.arange(10.0)})
    with h5py.File(scalar, "a") as f:
        del f[WAVE_KEY]
        f[WAVE_KEY] = 7000.0
    link = write_pfsspec(tmp_path / "link.h5", np.ones((10, 8), np.float32), {"log_g": np.arange(10.0)})
    with h5py.File(link, "a") as f:
        del f[ERROR_KEY]
        f[ERROR_KEY] = h5py.ExternalLink(str(good), ERROR_KEY)
    (tmp_path / "summary.json").write_text(json.dumps(make_summary()))
    cases = [((tmp_path / "pipe.h5",), "FIFO"), (("/dev/zero",), "character device"), ((tmp_path,), "is a directory"),
             ((group,), "is a group, not an array"), ((scalar,), "inconsistent shapes"),
             ((link,), "external link"), ((tmp_path / "summary.json",), "not an HDF5 file"),
             ((good, "--max-rows", "-1"), "--max-rows must be 0 or more")]
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = list(pool.map(lambda c: cli("inspect", *c[0], cwd=tmp_path, timeout=60), cases))
    for (args, needle), proc in zip(cases, done):
        assert_one_line_error(proc, needle)


# ------------------------------------------------------------------------------ publish stays in bounds


@pytest.fixture
def kc(tmp_path) -> Path:
    return fixture_kc(tmp_path / "kc")


def _publish(run_dir, kc, cwd):
    return cli("publish", run_dir, "--knowledge-center", kc, cwd=cwd, timeout=120,
               env={"GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
                    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"})


@needs_git
def test_publish_never_writes_through_a_symlink_out_of_the_repo(kc, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (kc / "logg" / "moe" / "img").symlink_to(outside, target_is_directory=True)
    git(kc, "add", "-A")
    git(kc, "commit", "-q", "-m", "img is a link")
    before = snapshot(kc)
    assert_one_line_error(_publish(make_run(tmp_path / "results"), kc, tmp_path), "outside the knowledge center")
    assert not any(outside.iterdir()) and snapshot(kc) == before


@needs_git
@pytest.mark.parametrize("how", ["report_outside", "figure_symlink_outside", "report_symlink_outside"])
def test_publish_copies_no_file_from_outside_the_run(kc, tmp_path, how):
    secret = tmp_path / "secret.md"
    secret.write_text("private key\n")
    summary = make_summary()
    run = make_run(tmp_path / "results", summary)
    if how == "report_outside":
        summary["outputs"]["report"] = "../../secret.md"
        write_summary(run / "summary.json", summary)
    elif how == "figure_symlink_outside":
        fig = run / "img" / "extra.png"
        fig.unlink()
        fig.symlink_to(secret)
    else:
        (run / "report.md").unlink()
        (run / "report.md").symlink_to(secret)
    before = snapshot(kc)
    assert_one_line_error(_publish(run, kc, tmp_path), "outside the run folder")
    assert snapshot(kc) == before


@needs_git
def test_ids_that_differ_only_in_case_or_punctuation_do_not_overwrite_each_other(kc, tmp_path):
    first = make_run(tmp_path / "a", make_summary(exp_id="LOGG-ERR-BASE-01"))
    assert _publish(first, kc, tmp_path).returncode == 0
    git(kc, "add", "-A")
    git(kc, "commit", "-q", "-m", "published")
    before = snapshot(kc)
    for other in ("logg_err_base_01", "Logg.Err.Base.01"):
        second = make_run(tmp_path / other, make_summary(exp_id=other, test_r2=0.01, verdict="PASS"), name=other)
        assert_one_line_error(_publish(second, kc, tmp_path), "differ only in case or punctuation")
        assert snapshot(kc) == before


@needs_git
def test_a_figure_another_experiment_shows_is_not_replaced(kc, tmp_path):
    first = make_run(tmp_path / "a", make_summary(exp_id="EXP-A"), name="EXP-A")
    assert _publish(first, kc, tmp_path).returncode == 0
    git(kc, "add", "-A")
    git(kc, "commit", "-q", "-m", "published A")
    second = make_run(tmp_path / "b", make_summary(exp_id="EXP-B"), name="EXP-B")
    (second / "img" / "extra.png").write_bytes(PNG + b"another experiment's figure")
    before = snapshot(kc)
    assert_one_line_error(_publish(second, kc, tmp_path), "exp_exp_a_20251226.md of another experiment")
    assert snapshot(kc) == before


# ------------------------------------------------------------------------------ dashboard


@pytest.mark.parametrize("address, loopback", [(":0", True), ("0.0.0.0:0", False)])  # "0": test_dashboard_addresses
def test_dashboard_listens_on_loopback_unless_a_host_is_named(tmp_path, big_data, address, loopback):
    """The printed link says where the dashboard listens; a wildcard host is said on stderr.

    The run is then stopped with SIGTERM, which a local Dask cluster must not turn into a traceback.
    """
    psutil = pytest.importorskip("psutil")
    spec = _spec(tmp_path, big_data, scheduler="local")
    spec.write_text(spec.read_text().replace("memory_limit: 2GB", f"memory_limit: 2GB, dashboard_address: '{address}'"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-u", "-m", "daudit", "run", "--config", str(spec)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        link = None
        for line in proc.stdout:
            link = re.search(r"dashboard: (http://([^:/]+):(\d+)/status)", line)
            if link:
                break
        assert link, proc.stderr.read()
        port = int(link.group(3))
        bound = {c.laddr.ip for c in psutil.net_connections("inet")
                 if c.status == psutil.CONN_LISTEN and c.pid == proc.pid and c.laddr.port == port}
        assert proc.poll() is None, "the run ended before its sockets were checked"
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    if loopback:
        assert link.group(2) == "127.0.0.1" and bound == {"127.0.0.1"}, bound
    else:
        assert link.group(2) != "127.0.0.1" and bound == {"0.0.0.0"}, (link.group(0), bound)
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    warned = [ln for ln in lines if "daudit: warning: the Dask dashboard listens on every network interface" in ln]
    assert len(warned) == (0 if loopback else 1), stderr
    assert "Traceback" not in stdout + stderr and proc.returncode == 143, stderr
    assert lines[-1].startswith("daudit: terminated by SIGTERM") and len(lines) == 1 + len(warned), stderr
    # no staging and no lock left (the state file says the run was interrupted)
    assert [p.name for p in tmp_path.glob(".out.*")] == [".out.state.json"] and not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------ caches


def _rewrite_in_place_with_a_leak(path: Path):
    """Replace the error values by ones that carry log_g, keeping size, mtime and atime."""
    import pandas as pd

    st = os.stat(path)
    logg = pd.read_hdf(path)["log_g"].to_numpy()
    with h5py.File(path, "r+") as f:
        ds = f[ERROR_KEY]
        w = np.random.default_rng(7).normal(size=ds.shape[1])
        ds[...] = (ds[...] + 0.3 * np.outer(logg - 3.0, w)).astype(np.float32)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (st.st_size, st.st_mtime_ns)


def _null(n, p, *, seed=0):
    rng = np.random.default_rng(seed)
    logg = rng.uniform(1, 5, n)
    return (1.0 + 0.1 * rng.normal(size=(n, p))).astype(np.float32), logg


def test_changed_file_with_restored_size_and_mtime_is_never_served_from_the_caches(tmp_path):
    data = write_split_set(tmp_path / "data", n_train=600, n_val=200, n_test=200, p=32, maker=_null)
    spec = _spec(tmp_path, data)  # zarr and statistics caches on (the defaults)
    env = {"DAUDIT_CACHE_DIR": str(tmp_path / "cache")}
    first = cli("run", "--config", spec, cwd=tmp_path, env=env)
    assert first.returncode == 0 and "Gate-1 PASS" in first.stdout, first.stdout + first.stderr
    for path in data.values():
        _rewrite_in_place_with_a_leak(path)
    second = cli("run", "--config", spec, cwd=tmp_path, env=env)
    assert second.returncode == 0 and "Gate-1 FAIL" in second.stdout, second.stdout + second.stderr
    assert "reused cached sufficient statistics" not in (tmp_path / "out" / "run.log").read_text()


def test_zarr_copy_holds_only_the_rows_the_spec_uses(tmp_path, data):
    import zarr

    spec = _spec(tmp_path, data)
    spec.write_text(spec.read_text().replace("  param: log_g", "  param: log_g\n  num_samples: 100\n"
                                             "  num_test_samples: 50"))
    env = {"DAUDIT_CACHE_DIR": str(tmp_path / "cache")}
    assert cli("run", "--config", spec, cwd=tmp_path, env=env).returncode == 0
    shapes = sorted(zarr.open_array(str(p), mode="r").shape for p in (tmp_path / "cache" / "zarr").glob("*.zarr"))
    assert shapes == [(50, 32), (50, 32), (100, 32)]


# ------------------------------------------------------------------------------ the pieces, in process


def test_no_verdict_when_a_test_r2_is_not_finite():
    from daudit.core.errors import DauditError
    from daudit.models.selection import check_gate_defined

    def row(model, r2, degenerate=False, level=1.0):
        return {"model": model, "noise_level": level, "test_r2": r2, "degenerate": degenerate}

    check_gate_defined([row("OLS", 0.01), row("LightGBM", -0.2), row("OLS", float("nan"), True, 0.0)])
    for rows in ([row("OLS", 0.01), row("LightGBM", float("nan"))], [row("OLS", None)],
                 [row("OLS", float("inf"))], [row("OLS", 0.0, True, 0.0)]):
        with pytest.raises(DauditError, match="no Gate-1 verdict"):
            check_gate_defined(rows)


def test_zarr_copy_is_checked_against_its_source(tmp_path, monkeypatch):
    """Even if a changed file kept its whole key (as if identity and times could be forged), the
    sampled rows of the copy differ from the source and a new copy is made (the old one is never
    rewritten in place: a run may still hold it)."""
    import zarr

    from daudit.data import cache as cache_mod

    err = np.arange(40 * 8, dtype=np.float32).reshape(40, 8)
    path = write_pfsspec(tmp_path / "f.h5", err, {"log_g": np.arange(40.0)})
    zc = cache_mod.ZarrCache(tmp_path / "cache")
    store = zc.get(str(path), ERROR_KEY, chunk_rows=16)
    key = cache_mod.source_key(str(path), ERROR_KEY)
    with h5py.File(path, "r+") as f:
        f[ERROR_KEY][-1] = -1.0
    monkeypatch.setattr(cache_mod, "source_key", lambda p, k: key)
    again = zc.get(str(path), ERROR_KEY, chunk_rows=16)
    assert again != store
    np.testing.assert_array_equal(zarr.open_array(str(again), mode="r")[-1], np.full(8, -1.0, np.float32))


def test_source_key_changes_with_content_even_when_size_and_mtime_are_restored(tmp_path):
    from daudit.data.cache import source_key

    path = write_pfsspec(tmp_path / "f.h5", np.ones((40, 8), np.float32), {"log_g": np.arange(40.0)})
    before = source_key(str(path), ERROR_KEY)
    st = os.stat(path)
    with h5py.File(path, "r+") as f:
        f[ERROR_KEY][3] = 2.0
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = source_key(str(path), ERROR_KEY)
    assert (after["size"], after["mtime_ns"]) == (before["size"], before["mtime_ns"])
    assert after["ctime_ns"] != before["ctime_ns"] or after["fingerprint"] != before["fingerprint"]
    assert after["fingerprint"] != before["fingerprint"]  # a small file is fingerprinted whole


def test_default_cache_is_never_written_beside_an_installed_package(tmp_path, monkeypatch):
    from daudit.core import paths

    installed = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    (installed / "daudit").mkdir(parents=True)
    (installed / "pyproject.toml").write_text("")  # even stray checkout files there do not make a checkout
    (installed / "pipelines").mkdir()
    monkeypatch.setattr(paths, "PACKAGE_DIR", installed / "daudit")
    monkeypatch.delenv("DAUDIT_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "daudit"
    monkeypatch.setenv("DAUDIT_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("DAUDIT_CACHE_DIR")
    monkeypatch.setattr(paths, "PACKAGE_DIR", REPO / "daudit")  # a source checkout keeps its data_cache/
    assert cache_dir() == REPO / "data_cache"


@pytest.mark.parametrize("value, expected", [
    (":0", ("127.0.0.1", 0)), ("0", ("127.0.0.1", 0)), (8787, ("127.0.0.1", 8787)),
    ("0.0.0.0:0", ("0.0.0.0", 0)), ("localhost:8787", ("localhost", 8787)), ("10.1.2.3:80", ("10.1.2.3", 80)),
    ("", None), ("banana", None), ("127.0.0.1:99999", None), ("[::1]:0", None), ("http://x:1", None),
    ("a b:1", None), (True, None), (None, None), ("999.1.1.1:1", None),
])
def test_dashboard_addresses(value, expected):
    from daudit.core.addresses import parse_dashboard_address

    if expected is None:
        with pytest.raises(ValueError):
            parse_dashboard_address(value)
    else:
        assert parse_dashboard_address(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("10.0.0.5:8786", "tcp://10.0.0.5:8786"), ("tcp://head:8786", "tcp://head:8786"), ("tls://h.example:1", None),
    ("foo:bar", None), ("tcp://nowhere", None), ("tcp://h:0", None), ("ftp://h:1", None), (":8786", None), (3, None),
])
def test_scheduler_addresses(value, expected):
    from daudit.core.addresses import parse_scheduler_address

    if value == "tls://h.example:1":
        assert parse_scheduler_address(value) == value
    elif expected is None:
        with pytest.raises(ValueError):
            parse_scheduler_address(value)
    else:
        assert parse_scheduler_address(value) == expected


def test_yaml_reader_limits():
    from daudit.core.errors import DauditError
    from daudit.core.yamlload import parse_yaml

    assert parse_yaml("a: 1e-3\nb: 2.5E+4\nc: x1e3\n", src="s") == {"a": 0.001, "b": 25000.0, "c": "x1e3"}
    assert parse_yaml("base: &b {x: 1, y: 2}\nc: {<<: *b, x: 3}\n", src="s")["c"] == {"x": 3, "y": 2}
    assert parse_yaml("- &a [1]\n- *a\n", src="s") == [[1], [1]]  # a few aliases are fine
    for text, needle in [("a: 1\nb: 2\na: 3\n", "key 'a' is given twice (lines 1 and 3)"),
                         ("a: &a [*a]\n", "refers to the node that contains it"),
                         ("a: &x [1,1,1,1,1,1,1,1,1,1]\n" + "".join(
                             f"l{i}: &x{i} [{', '.join([f'*x{i - 1}' if i > 1 else '*x'] * 10)}]\n" for i in range(1, 6)),
                          "expand to more than 100,000 values"),
                         ("\x00", "not valid YAML")]:
        with pytest.raises(DauditError, match=re.escape(needle)):
            parse_yaml(text, src="s")
