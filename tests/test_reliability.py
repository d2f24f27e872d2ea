"""Reliability round 3 (issue 25): never touch a user's file, locks that survive containers,
every failure one line and exit 2.

Each test covers a class of the issue with a case of its own; most call the functions in-process
(fast), a few run a small subprocess where a signal or the CLI's exit is the point.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from daudit.core.errors import DauditError
from daudit.output.staging import OutputLock, check_not_in_use

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def _lock_file(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


def _identity(pid: int, started: float) -> dict:
    import socket

    import psutil

    boot = Path("/proc/sys/kernel/random/boot_id")
    boot_id = boot.read_text().strip() if boot.exists() else f"boot-{psutil.boot_time():.0f}"
    return {"pid": pid, "started": started, "boot_id": boot_id, "host": socket.gethostname()}


# ------------------------------------------------------------------------------ locks


def test_lock_whose_pid_now_names_an_unrelated_process_is_taken_over(tmp_path):
    """The lock's PID is alive but is another process (started at another time): the owner is gone."""
    import psutil

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        out = tmp_path / "out"
        real_start = psutil.Process(other.pid).create_time()
        owner = _identity(other.pid, real_start - 3600.0)  # the run that wrote it started an hour earlier
        _lock_file(out).write_text(f"{other.pid}\n{json.dumps(owner)}\n")
        check_not_in_use(out)
        with OutputLock(out):
            assert _lock_file(out).read_text().split()[0] == str(os.getpid())
        assert not _lock_file(out).exists()
    finally:
        other.kill()
        other.wait()


@pytest.mark.parametrize("layout", ["pid_only", "identity"])
def test_lock_left_by_an_earlier_pid_1_in_a_container_is_taken_over(tmp_path, layout):
    """Every run in a fresh container is PID 1 again: a lock naming our own PID, that this process
    did not take, was left by an earlier process (an older lock holds only the PID)."""
    import psutil

    out = tmp_path / "out"
    me = os.getpid()
    text = f"{me}\n" if layout == "pid_only" else \
        f"{me}\n{json.dumps(_identity(me, psutil.Process(me).create_time() - 600.0))}\n"
    _lock_file(out).write_text(text)
    check_not_in_use(out)
    with OutputLock(out):
        pass
    assert not _lock_file(out).exists()


def test_lock_held_by_a_live_run_is_refused_and_kept(tmp_path):
    out = tmp_path / "out"
    with OutputLock(out):
        held = _lock_file(out).read_bytes()
        # the error names the locked output folder, not the parent its lock file sits in (issue 28)
        with pytest.raises(DauditError, match=rf"output directory {re.escape(str(out))} is in use by a running "
                                              r"daudit \(PID \d+\)"):
            with OutputLock(out):
                pass
        assert _lock_file(out).read_bytes() == held


def test_the_quick_in_use_check_names_the_locked_output_folder(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _lock_file(out).write_text(f"{holder.pid}\n")
        with pytest.raises(DauditError, match=rf"output directory {re.escape(str(out))} is in use .*PID {holder.pid}"):
            check_not_in_use(out)
    finally:
        holder.kill()
        holder.wait()


def test_lock_of_a_killed_owner_is_taken_over_even_when_its_pid_is_reused(tmp_path):
    """The owner held a flock, which the kernel dropped when it was killed; the PID it recorded
    is ours now (as in a container), yet the lock is free."""
    out = tmp_path / "out"
    code = ("import sys, time; from pathlib import Path; from daudit.output.staging import OutputLock; "
            "OutputLock(Path(sys.argv[1])).__enter__(); print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DauditError, match=f"PID {holder.pid}"):
            check_not_in_use(out)
    finally:
        holder.kill()
        holder.wait()
    lines = _lock_file(out).read_text().splitlines()
    owner = json.loads(lines[1])
    owner["pid"] = os.getpid()  # its PID now names a live process (this one)
    _lock_file(out).write_text(f"{os.getpid()}\n{json.dumps(owner)}\n")
    check_not_in_use(out)
    with OutputLock(out):
        pass


# ------------------------------------------------------------------------------ SIGHUP

_STAGED = """
import sys, time
from pathlib import Path
from daudit.core.signals import Interrupted, exit_code, handle_termination
from daudit.output.staging import staged_output
handle_termination()
try:
    with staged_output(Path(sys.argv[1]), experiment_id="HUP", echo=lambda *a: None) as st:
        print("ready", flush=True)
        time.sleep(60)
except Interrupted as err:
    print(err, file=sys.stderr)
    sys.exit(exit_code(err.signum))
"""


def test_sighup_is_treated_like_sigterm(tmp_path):
    """The terminal closed without nohup: staging folder and lock removed, the state says interrupted."""
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", _STAGED, str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGHUP, err
    assert "terminated by SIGHUP" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.state.json", "out.log"]
    assert json.loads((tmp_path / ".out.state.json").read_text())["status"] == "interrupted"


# ------------------------------------------------------------------------------ the cache root

def _small_set(root: Path) -> dict:
    from pfsspec_factory import write_split_set

    return write_split_set(root, n_train=120, n_val=60, n_test=60, p=16)


def _run_spec(root: Path, data: dict) -> Path:
    from pfsspec_factory import write_spec

    return write_spec(root / "spec.yaml", data, output_dir=root / "out", lightgbm=False, levels=(1.0,),
                      extra="sanity: {enabled: false}")


@pytest.mark.parametrize("how", ["a_file", "through_a_file", "under_proc", "user_folder"])
def test_cache_dir_that_is_not_daudits_is_refused_before_the_run(tmp_path, monkeypatch, how):
    """DAUDIT_CACHE_DIR naming a file, a path through a file, /proc, or a folder of the user's
    (whose runs/<EXP>.json the run registry would overwrite): one line, nothing written anywhere."""
    from daudit.core.spec import load_spec
    from daudit.pipeline.run import run_audit

    work = tmp_path / "work"
    work.mkdir()
    spec = load_spec(_run_spec(work, _small_set(tmp_path / "data")))
    user = tmp_path / "user"
    (user / "runs").mkdir(parents=True)
    (user / "runs" / f"{spec.experiment_id}.json").write_text('{"mine": true}\n')
    (user / "notes.md").write_text("my notes\n")
    (tmp_path / "plain").write_text("a file\n")
    cache = {"a_file": tmp_path / "plain", "through_a_file": tmp_path / "plain" / "cache",
             "under_proc": Path("/proc/self/daudit-cache"), "user_folder": user}[how]
    monkeypatch.setenv("DAUDIT_CACHE_DIR", str(cache))
    before = {p: p.read_bytes() for p in [*user.rglob("*"), tmp_path / "plain"] if p.is_file()}
    with pytest.raises(DauditError, match="DAUDIT_CACHE_DIR"):
        run_audit(spec, output_dir=work / "out", echo=lambda *a: None)
    assert {p: p.read_bytes() for p in [*user.rglob("*"), tmp_path / "plain"] if p.is_file()} == before
    assert sorted(p.name for p in work.iterdir()) == ["spec.yaml"]  # no staging folder, lock, log or state


def test_cache_root_made_by_daudit_carries_a_marker_and_is_used_again(tmp_path, monkeypatch):
    from daudit.core.paths import CACHE_MARKER, check_cache_dir

    monkeypatch.setenv("DAUDIT_CACHE_DIR", str(tmp_path / "cache"))
    root = check_cache_dir()
    assert (root / CACHE_MARKER).is_file()
    (root / "runs").mkdir()
    (root / "runs" / "X.json").write_text("{}")
    assert check_cache_dir() == root  # non-empty, but daudit's own


def test_cache_removed_during_a_run_is_refused_not_read_as_zeros(tmp_path):
    import shutil

    from daudit.data.cache import ZarrCache
    from daudit.data.pfsspec import load_pfsspec

    data = _small_set(tmp_path / "data")
    split = load_pfsspec([str(data["train"])], n_rows=None, param="log_g", chunk_rows=32,
                         zarr_cache=ZarrCache(tmp_path / "cache"))
    first = split.error_raw[:32].compute()
    assert float(abs(first).sum()) > 0
    shutil.rmtree(tmp_path / "cache")  # e.g. the user cleans the cache while the run goes
    with pytest.raises(DauditError, match="the cache changed under this run"):
        split.error_raw.compute(scheduler="synchronous")


# ------------------------------------------------------------------------------ error lines name the real cause


@pytest.mark.parametrize("via", ["hdf5_reader", "zarr_copy"])
def test_corrupt_compressed_chunk_names_the_file_and_the_damage_not_the_disk(tmp_path, via):
    import h5py
    import numpy as np
    from pfsspec_factory import write_pfsspec

    from daudit.data.cache import ZarrCache
    from daudit.data.layout import ERROR_KEY
    from daudit.data.pfsspec import load_pfsspec

    rng = np.random.default_rng(0)
    error = rng.random((64, 16), dtype=np.float32) + 0.5
    path = write_pfsspec(tmp_path / "d.h5", error, {"log_g": rng.uniform(1, 5, 64)})
    with h5py.File(path, "a") as f:
        del f[ERROR_KEY]
        f.create_dataset(ERROR_KEY, data=error, chunks=(16, 16), compression="gzip")
        offset = f[ERROR_KEY].id.get_chunk_info(1).byte_offset
    with open(path, "r+b") as fh:  # overwrite the middle of the second compressed chunk
        fh.seek(offset + 8)
        fh.write(b"\xff" * 64)
    with pytest.raises(DauditError) as err:
        cache = ZarrCache(tmp_path / "cache") if via == "zarr_copy" else None
        split = load_pfsspec([str(path)], n_rows=None, param="log_g", chunk_rows=16, zarr_cache=cache)
        split.error_raw.compute(scheduler="synchronous")
    said = str(err.value)
    assert str(path) in said and "corrupt compressed chunk" in said and "disk" not in said, said


@pytest.mark.parametrize("code, cause, not_said", [
    ("EPIPE", "pipe", "free disk space"), ("ENOSPC", "free disk space", "permissions"),
    ("EIO", "Input/output error", "free disk space")])
def test_file_system_errors_give_the_fix_of_their_own_cause(tmp_path, code, cause, not_said):
    import errno

    from daudit.output.staging import staged_output

    number = getattr(errno, code)
    with pytest.raises(DauditError) as err:
        with staged_output(tmp_path / "out", experiment_id="FS", echo=lambda *a: None):
            raise OSError(number, os.strerror(number), str(tmp_path / "out" / "x.png"))
    said = str(err.value)
    assert "x.png" in said and cause in said and not_said not in said, said
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.state.json", "out.log"]


# ------------------------------------------------------------------------------ simulate --out

_SIM = dict(n_train=20, n_val=10, n_test=10, progress=False)


def _tree(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("theirs", ["train/dataset.h5.partial", "val/dataset.h5.partial", "train/shard_index.txt"])
def test_simulate_never_deletes_a_file_it_did_not_write(tmp_path, theirs):
    """A .partial or a shard index of the user's own in --out: refused, left byte for byte."""
    from daudit.simulate import simulate_dataset

    out = tmp_path / "sim"
    (out / theirs).parent.mkdir(parents=True)
    (out / theirs).write_bytes(b"the user's own bytes\n")
    before = _tree(out)
    with pytest.raises(DauditError, match="was not written by daudit's simulator"):
        simulate_dataset(out, **_SIM)
    assert _tree(out) == before


def test_simulate_over_a_dataset_needs_force_and_never_takes_the_users_notes(tmp_path):
    from daudit.simulate import simulate_dataset

    out = tmp_path / "sim"
    simulate_dataset(out, **_SIM, seed=1)
    before = _tree(out)
    with pytest.raises(DauditError, match="already holds a dataset daudit simulated; give --force"):
        simulate_dataset(out, **_SIM, seed=2)
    assert _tree(out) == before
    simulate_dataset(out, **_SIM, seed=2, force=True)  # its own files, replaced when asked
    assert _tree(out) != before
    (out / "train" / "notes.md").write_text("what these spectra are\n")
    (out / "README.md").write_text("my dataset\n")
    before = _tree(out)
    with pytest.raises(DauditError, match=r"(README|notes)\.md was not written by daudit.s simulator"):
        simulate_dataset(out, **_SIM, seed=3, force=True)
    assert _tree(out) == before


# ------------------------------------------------------------------------------ publish


@pytest.fixture
def kc(tmp_path) -> Path:
    from test_publish import fixture_kc

    return fixture_kc(tmp_path / "kc")


def _kc_tree(kc: Path) -> dict:
    return {k: v for k, v in _tree(kc).items() if not k.startswith(".git/")}


def _commit(kc: Path, message: str) -> None:
    from test_publish import git

    git(kc, "add", "-A")
    git(kc, "commit", "-q", "-m", message)


@pytest.mark.parametrize("blocked", ["logg/moe/exp", "logg/moe/img", ".daudit-backup"])
def test_publish_where_a_folder_is_a_file_is_one_line_and_nothing_is_published(kc, tmp_path, blocked):
    """A file where publish needs a folder (the report's, the figures', the backups'): refused
    before anything is written, the knowledge center byte for byte (not a figure without its report)."""
    import shutil

    from test_publish import make_run

    from daudit.app.publish import publish_run

    target = kc / blocked
    if target.is_dir():
        shutil.rmtree(target)
    target.write_text("a file of the user's\n")
    _commit(kc, "a file where a folder was")
    before = _kc_tree(kc)
    with pytest.raises(DauditError, match=f"{blocked}: is a file"):
        publish_run(make_run(tmp_path / "results"), kc)
    assert _kc_tree(kc) == before


def test_publish_with_an_exclude_file_that_is_not_utf8(kc, tmp_path):
    from test_publish import make_run

    from daudit.app.publish import BACKUP_DIR, publish_run

    exclude = kc / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    theirs = b"# caf\xe9 notes (latin-1)\n/build-\xe9t\xe9/\n"
    exclude.write_bytes(theirs)
    publish_run(make_run(tmp_path / "results"), kc)
    text = exclude.read_bytes()
    assert text.startswith(theirs) and f"/{BACKUP_DIR}/".encode() in text.splitlines()


def test_publish_failing_midway_puts_back_what_it_wrote(kc, tmp_path, monkeypatch):
    """A write that fails after others succeeded (a full disk, a permission): the files written so
    far go back to their old bytes, new ones are removed."""
    from test_publish import make_run

    import daudit.app.publish as publish

    before = _kc_tree(kc)
    real, calls = publish._atomic_write, []

    def failing(path, data):
        calls.append(path)
        if len(calls) == 3:
            raise DauditError(f"cannot write {path}: No space left on device (previous file kept)")
        real(path, data)

    monkeypatch.setattr(publish, "_atomic_write", failing)
    with pytest.raises(DauditError, match="No space left"):
        publish.publish_run(make_run(tmp_path / "results"), kc)
    after = {k: v for k, v in _kc_tree(kc).items() if not k.startswith(publish.BACKUP_DIR + "/")}
    assert after == before


# ------------------------------------------------------------------------------ folders that are files


def _cli(*args, cwd, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "daudit", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=ENV)


def _one_line(proc, *needles):
    assert proc.returncode == 2 and "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("⏱")]
    assert len(lines) == 1 and lines[0].startswith("daudit: error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.mark.parametrize("logs", ["a_file", "unwritable"])
def test_detach_logs_folder_that_is_a_file_or_unwritable_is_one_line(tmp_path, logs):
    spec = _run_spec(tmp_path, _small_set(tmp_path / "data"))
    if logs == "a_file":
        (tmp_path / "logs").write_text("the user's log notes\n")
        args, needle = [], "logs is a file, not a folder"
    else:
        args, needle = ["--logs-dir", "/proc/self/daudit-logs"], "is not writable"
    before = sorted(os.listdir(tmp_path))
    _one_line(_cli("run", "--config", spec, "--detach", *args, cwd=tmp_path), needle)
    assert sorted(os.listdir(tmp_path)) == before  # no output, state or log left
    if logs == "a_file":
        assert (tmp_path / "logs").read_text() == "the user's log notes\n"


def test_init_into_a_path_whose_parent_is_a_file(tmp_path):
    from argparse import Namespace

    from daudit.app.commands import init

    (tmp_path / "notes").write_text("mine\n")
    with pytest.raises(DauditError, match="notes is a file, not a folder"):
        init.main(Namespace(file=str(tmp_path / "notes" / "spec.yaml"), example="audit", force=False))
    assert (tmp_path / "notes").read_text() == "mine\n"


# ------------------------------------------------------------------------------ run files with absurd numbers


def test_summary_holding_a_5000_digit_integer_is_one_line_in_show_and_list(tmp_path):
    from test_publish import make_run

    from daudit.app.history import find_runs, load_summary

    run = make_run(tmp_path / "results")
    text = (run / "summary.json").read_text()
    (run / "summary.json").write_text(text.replace('"schema_version": 1', '"schema_version": 1, "n": ' + "7" * 5000, 1))
    with pytest.raises(DauditError, match="an integer of 5000 digits"):
        load_summary(run)
    (record,) = find_runs(tmp_path / "results")
    assert record.status == "unreadable" and "5000 digits" in record.problem


def test_state_file_naming_a_pid_beyond_any_process_is_not_running(tmp_path):
    from daudit.core.runlog import run_status, state_path

    out = tmp_path / "out"
    state_path(out).write_text(json.dumps({"status": "running", "experiment_id": "X", "pid": 10 ** 30}))
    assert run_status(out).state == "killed"


# ------------------------------------------------------------------------------ inspect on headers that promise too much


def _pfsspec_with(path: Path, make_error) -> Path:
    import h5py
    import numpy as np
    from pfsspec_factory import write_pfsspec

    from daudit.data.layout import ERROR_KEY, FLUX_KEY

    rng = np.random.default_rng(0)
    path = write_pfsspec(path, rng.random((600, 32), dtype=np.float32) + 0.5, {"log_g": rng.uniform(1, 5, 600)})
    with h5py.File(path, "a") as f:
        del f[ERROR_KEY]
        make_error(f, ERROR_KEY, FLUX_KEY)
    return path


def test_inspect_of_a_header_declaring_1e9_rows_answers_in_seconds(tmp_path):
    import numpy as np

    from daudit.data.inspect import format_inspection, inspect_file

    def declare(f, key, flux_key):
        for k in (key, flux_key):
            if k in f:
                del f[k]
            ds = f.create_dataset(k, shape=(10**9, 32), chunks=(64, 32), dtype=np.float32)
            ds[:600] = 1.0

    path = _pfsspec_with(tmp_path / "declared.h5", declare)
    t0 = time.perf_counter()
    info = inspect_file(path)
    assert time.perf_counter() - t0 < 10
    assert info["n_rows"] == 10**9 and info["rows_scanned"] <= 640
    assert "declares 1000000000 spectra but the file stores data for only" in format_inspection(info)


@pytest.mark.parametrize("reader", ["inspect", "run"])
def test_an_array_needing_an_unknown_hdf5_filter_is_one_line_naming_it(tmp_path, reader):
    import numpy as np

    from daudit.data.inspect import inspect_file
    from daudit.data.pfsspec import load_pfsspec

    def unknown(f, key, flux_key):
        ds = f.create_dataset(key, shape=(600, 32), chunks=(600, 32), dtype=np.float32, compression=32099,
                              allow_unknown_filter=True)
        ds.id.write_direct_chunk((0, 0), b"\0" * 64)

    path = _pfsspec_with(tmp_path / "filtered.h5", unknown)
    with pytest.raises(DauditError, match=r"compressed with HDF5 filter 32099.*cannot decode.*hdf5plugin"):
        if reader == "inspect":
            inspect_file(path)
        else:
            load_pfsspec([str(path)], n_rows=None, param="log_g")


# ------------------------------------------------------------------------------ the memory plan counts every worker


@pytest.mark.parametrize("workers, limit, refused", [(32, "2GB", True), (4, "2GB", True), (3, "2GB", False),
                                                      (32, "20GB", False)])
def test_memory_plan_counts_every_worker_process(tmp_path, workers, limit, refused):
    """Each worker process needs its floor out of the workers' share of compute.memory_limit: 32
    workers under 2 GB (8 GiB of worker floors) are refused before any pass, naming what fits."""
    import dataclasses

    from daudit.core.spec import load_spec, parse_bytes
    from daudit.engine.cluster import WORKER_FLOOR, WORKER_SHARE
    from daudit.pipeline.memory_plan import check_memory_limit

    spec = load_spec(_run_spec(tmp_path, _small_set(tmp_path / "data")))
    spec = dataclasses.replace(spec, compute=dataclasses.replace(spec.compute, scheduler="local", n_workers=workers,
                                                                 memory_limit=parse_bytes(limit)))
    assert refused == (workers * WORKER_FLOOR > WORKER_SHARE * spec.compute.memory_limit)  # the plan's own rule
    if refused:
        with pytest.raises(DauditError, match=rf"compute.n_workers {workers} .*lower compute.n_workers to 3 or less"):
            check_memory_limit(spec)
    else:
        check_memory_limit(spec)


# ------------------------------------------------------------------------------ inputs the API and the checks take


def _arrays(n=(120, 60, 60), p=16):
    from pfsspec_factory import linear_leak_dataset

    out = []
    for i, k in enumerate(n):
        x, y = linear_leak_dataset(k, p, seed=i)
        out += [x, y]
    return out


def _api_spec():
    return {"experiment_id": "API-REL-01", "data": {"train_path": "x", "val_path": "x", "test_path": "x"},
            "models": [{"type": "LinearRegression"}], "noise_levels": [1.0], "sanity": {"enabled": True},
            "compute": {"scheduler": "synchronous", "chunk_rows": 64}}


@pytest.mark.parametrize("case", ["nan_in_wave", "unknown_dask_chunks", "word_labels", "mag_strings"])
def test_api_inputs_that_cannot_be_audited_are_one_line_before_any_pass(tmp_path, case, monkeypatch):
    import dask.array as da
    import numpy as np
    import pandas as pd

    import daudit.pipeline.run as pipeline
    from daudit.app.api import audit_arrays

    monkeypatch.setattr(pipeline, "_fit_linear", lambda *a, **k: pytest.fail("a pass over the data started"))
    xtr, ytr, xva, yva, xte, yte = _arrays()
    kw = {}
    if case == "nan_in_wave":
        kw["wave"], needle = np.where(np.arange(16) == 5, np.nan, np.linspace(7100, 8850, 16)), "non-finite"
    elif case == "unknown_dask_chunks":
        d = da.from_array(xtr, chunks=(32, 16))
        xtr, needle = d[d[:, 0] > -1e9], "unknown chunk sizes"
    elif case == "word_labels":
        ytr, needle = np.where(ytr > 3, "giant", "dwarf"), "labels must be numbers"
    else:
        kw["params"] = {k: pd.DataFrame({"mag": np.where(np.arange(n) % 2, "bright", "faint"),
                                         "snr": np.linspace(5, 50, n)})
                        for k, n in (("train", 120), ("val", 60), ("test", 60))}
        needle = "params column 'mag' has dtype"
    with pytest.raises(DauditError, match=needle):
        audit_arrays(xtr, ytr, xva, yva, xte, yte, spec=_api_spec(), output_dir=tmp_path / "out", echo=lambda *a: None,
                     **kw)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.staging-*"))


def test_params_column_of_strings_for_the_group_shuffle_is_refused_before_any_pass(tmp_path, monkeypatch):
    import numpy as np
    from pfsspec_factory import linear_leak_dataset, write_pfsspec, write_spec

    import daudit.pipeline.run as pipeline
    from daudit.core.spec import load_spec

    monkeypatch.setattr(pipeline, "_fit_linear", lambda *a, **k: pytest.fail("a pass over the data started"))
    paths = {}
    for i, (name, n) in enumerate((("train", 120), ("val", 60), ("test", 60))):
        err, logg = linear_leak_dataset(n, 16, seed=i)
        paths[name] = write_pfsspec(tmp_path / name / "dataset.h5", err, {
            "log_g": logg, "mag": np.linspace(17, 22, n), "snr": np.where(np.arange(n) % 3, "high", "low")})
    spec = write_spec(tmp_path / "spec.yaml", paths, output_dir=tmp_path / "out", lightgbm=False, levels=(1.0,))
    with pytest.raises(DauditError, match=r"train split: params column 'snr' has dtype .*not numbers"):
        pipeline.run_audit(load_spec(spec), output_dir=tmp_path / "out", echo=lambda *a: None)


# ------------------------------------------------------------------------------ Ctrl-C and the local cluster's workers


def test_local_cluster_workers_leave_ctrl_c_to_the_main_process():
    """Ctrl-C in a terminal reaches every process of the group: the worker processes ignore SIGINT
    (so none prints its own traceback), and the main process keeps its handler."""
    from distributed import get_client

    from daudit.core.spec import ComputeSpec
    from daudit.engine.cluster import dask_context

    def ignores_sigint(pid: int) -> bool:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigIgn:"):
                return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
        raise AssertionError("no SigIgn line")

    before = signal.getsignal(signal.SIGINT)
    compute = ComputeSpec(scheduler="local", n_workers=1, dashboard_address="127.0.0.1:0", memory_limit=2**30)
    with dask_context(compute, echo=lambda *a: None):
        pids = list(get_client().run(os.getpid).values())
        assert pids and all(ignores_sigint(pid) for pid in pids)
        assert signal.getsignal(signal.SIGINT) is before and not ignores_sigint(os.getpid())


@pytest.mark.parametrize("owner", ["earlier_pid_1", "reused_pid"])
def test_status_of_a_run_whose_pid_now_names_another_process_is_killed(tmp_path, owner):
    """A killed run's state says running with its PID; in the next container that PID is the
    status command itself (PID 1 again), or on a host an unrelated process: the run is gone."""
    from daudit.core.runlog import RunRecorder, run_status, state_path

    out = tmp_path / "out"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        import psutil

        pid = os.getpid() if owner == "earlier_pid_1" else other.pid
        RunRecorder(out, experiment_id="X", pid=pid).begin()
        state = json.loads(state_path(out).read_text())
        # the run that wrote it started an hour before the process that has its PID now
        state["process"] = _identity(pid, psutil.Process(pid).create_time() - 3600.0)
        state_path(out).write_text(json.dumps(state))
        assert run_status(out).state == "killed"
        RunRecorder(out, experiment_id="X", pid=other.pid).begin()  # the live process itself: running
        assert run_status(out).state == "running"
    finally:
        other.kill()
        other.wait()


def test_a_file_system_error_reaching_the_cli_is_one_line_and_exit_2(monkeypatch, capsys):
    """Not "unexpected ... a daudit bug" (exit 1): the file and the cause, and the fix of that cause."""
    import errno

    from daudit.app import cli
    from daudit.app.commands import show

    def broken(args):
        raise OSError(errno.EIO, os.strerror(errno.EIO), "/data/train/dataset.h5")

    monkeypatch.setattr(show, "main", broken)
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        rc = cli.main(["show", "somewhere"])
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1, err
    assert "/data/train/dataset.h5" in lines[0] and "Input/output error" in lines[0]
    assert "bug" not in lines[0] and "disk space" not in lines[0]


def test_an_older_daudit_cache_is_declared_daudits_by_touching_the_marker(tmp_path, monkeypatch):
    from daudit.core.paths import CACHE_MARKER, check_cache_dir

    old = tmp_path / "old-cache"
    (old / "runs").mkdir(parents=True)
    (old / "runs" / "X.json").write_text("{}")
    monkeypatch.setenv("DAUDIT_CACHE_DIR", str(old))
    with pytest.raises(DauditError, match=f"touch {old / CACHE_MARKER}"):
        check_cache_dir()
    (old / CACHE_MARKER).touch()
    assert check_cache_dir() == old
