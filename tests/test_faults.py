"""Faults: killed runs, a killed Dask worker, a full disk, a second run, damaged caches, safety.

Whatever happens, the output folder holds either the previous complete results or the new
complete ones (summary.json last), and the next run works and gives the same numbers.
"""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pfsspec_factory import write_spec as _write_spec
from pfsspec_factory import write_split_set
from polling import wait_for

from daudit.core.spec import load_spec
from daudit.pipeline.run import run_audit

NUMBERS = ("train_r2", "train_mae", "train_rmse", "val_r2", "val_mae", "val_rmse", "test_r2", "test_mae", "test_rmse")


def write_spec(*args, **kw):
    """The factory's spec without the sanity checks (issue 4): these tests are about faults."""
    kw.setdefault("extra", "sanity: {enabled: false}")
    return _write_spec(*args, **kw)


def _numbers(summary):
    return [(r["noise_level"], r["model"], *[r[k] for k in NUMBERS]) for r in summary["metrics"]]


def _quiet(*a, **k):
    pass


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _cli(spec, *extra):
    return [sys.executable, "-m", "daudit", "run", "--config", str(spec), *extra]


def _wait_for(pred, timeout=90.0):
    return wait_for(pred, timeout=timeout, step=0.02)


def _staging_log(root: Path):
    """The live run log of the output folder ``out`` (written while the run goes)."""
    log = root / "out.log"
    return log.read_text() if log.exists() else ""


@pytest.fixture(scope="module")
def medium(tmp_path_factory):
    """Big enough that each stage of a run lasts a moment (20000 x 128, about 10 MB)."""
    return write_split_set(tmp_path_factory.mktemp("medium"), n_train=20000, n_val=2000, n_test=2000, p=128)


@pytest.mark.slow
def test_sigkill_at_every_stage_then_rerun_equals_uninterrupted(medium, tmp_path):
    spec = write_spec(tmp_path / "spec.yaml", medium, output_dir=tmp_path / "out", lightgbm=False, chunk_rows=1024,
                      levels=(0.5, 1.0))
    ref = run_audit(load_spec(spec), output_dir=tmp_path / "ref", echo=_quiet)
    out = tmp_path / "out"

    def kill_at(marker):
        (tmp_path / "out.log").unlink(missing_ok=True)  # the log of the run before: not this one's
        proc = subprocess.Popen(_cli(spec), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            if marker is None:
                time.sleep(0.3)  # while Python starts and imports
            else:
                _wait_for(lambda: marker in _staging_log(tmp_path) or proc.poll() is not None)
            log_at_kill = _staging_log(tmp_path)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        assert "finished in" not in log_at_kill, f"the run ended before the kill at {marker}"
        return log_at_kill

    early = [None, "stage open data: start", "stage row check: start"]
    late = ["stage statistics pass: start", "stage prediction pass: start", "stage artifacts: start"]
    for marker in early:  # no earlier results: nothing finished-looking may appear
        kill_at(marker)
        assert not (out / "summary.json").exists(), marker
    first = subprocess.run(_cli(spec), capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    before = _snapshot(out)
    for marker in late:  # earlier results exist: they stay byte for byte
        kill_at(marker)
        assert _snapshot(out) == before, marker
    # The next run cleans up after the killed ones, takes over the stale lock and finishes.
    final = subprocess.run(_cli(spec), capture_output=True, text=True, timeout=300)
    assert final.returncode == 0 and "Traceback" not in final.stderr, final.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished"
    assert _numbers(summary) == _numbers(ref)
    assert (out / "importance.csv").read_bytes() == (tmp_path / "ref" / "importance.csv").read_bytes()
    for name in ("metrics.csv", "report.md", "run.log", *summary["outputs"]["figures"].values()):
        assert (out / name).is_file(), name
    assert not list(tmp_path.glob(".out.staging-*")) and not (tmp_path / ".out.lock").exists()


@pytest.mark.slow
def test_killed_dask_worker_changes_nothing(tmp_path):
    import psutil

    data = write_split_set(tmp_path / "data", n_train=40000, n_val=4000, n_test=4000, p=192)
    spec = write_spec(tmp_path / "spec.yaml", data, output_dir=tmp_path / "out", lightgbm=False, chunk_rows=512,
                      scheduler="local", levels=(1.0,))
    spec.write_text(spec.read_text().replace(
        "scheduler: local,", "scheduler: local, n_workers: 2, dashboard_address: '127.0.0.1:0', "
        "zarr_cache: false, stats_cache: false,"))
    # The undisturbed run goes the same way (a CLI subprocess): an in-process run agrees only to
    # the last bit of the prediction-based numbers.
    calm = subprocess.run(_cli(spec, "--output-dir", str(tmp_path / "calm")), capture_output=True, text=True,
                          timeout=300)
    assert calm.returncode == 0, calm.stderr
    calm = json.loads((tmp_path / "calm" / "summary.json").read_text())

    proc = subprocess.Popen(_cli(spec), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def is_worker(k):
            try:
                return "spawn_main" in " ".join(k.cmdline())
            except psutil.Error:  # it ended (or became a zombie) between listing and reading
                return False

        def workers():
            try:
                kids = psutil.Process(proc.pid).children(recursive=True)
            except psutil.Error:
                return []
            return [k for k in kids if is_worker(k)]

        _wait_for(lambda: len(workers()) == 2 or proc.poll() is not None, timeout=120)
        _wait_for(lambda: "statistics pass (X^T X, X^T y): started" in _staging_log(tmp_path)
                  or proc.poll() is not None, timeout=120)
        time.sleep(0.3)
        log_at_kill = _staging_log(tmp_path)
        alive = workers()
        assert alive, "no Dask worker process left to kill: " + _staging_log(tmp_path)[-500:]
        victim = alive[0]
        os.kill(victim.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "stage prediction pass: done in" not in log_at_kill, "the streamed passes ended before the kill"
    assert proc.returncode == 0 and "Traceback" not in stderr, stderr
    disturbed = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert disturbed["data"]["splits"]["train"]["n_rows"] == 40000
    assert _numbers(disturbed) == _numbers(calm)  # identical: lost chunks recomputed, none counted twice


def _enospc_on(monkeypatch, pattern: str):
    """Make every write whose file name contains ``pattern`` fail as on a full disk."""
    real_fsync = os.fsync

    def fsync(fd):
        if pattern in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    import matplotlib.figure

    real_savefig = matplotlib.figure.Figure.savefig

    def savefig(self, fname, *a, **k):
        if pattern in str(fname):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(fname))
        return real_savefig(self, fname, *a, **k)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults-data")
    return write_split_set(root, n_train=600, n_val=200, n_test=200, p=32)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name the file being written")
@pytest.mark.parametrize("victim", ["metrics.csv", "importance_spectrum", "report.md", "summary.json"])
def test_full_disk_while_writing_results_keeps_previous(small, tmp_path, monkeypatch, capsys, victim):
    from daudit.app.cli import main

    spec = write_spec(tmp_path / "spec.yaml", small, output_dir=tmp_path / "out", lightgbm=False, levels=(1.0,))
    assert main(["run", "--config", str(spec)]) == 0
    before = _snapshot(tmp_path / "out")
    capsys.readouterr()
    with monkeypatch.context() as m:
        _enospc_on(m, victim)
        rc = main(["run", "--config", str(spec)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "No space left on device" in err and err.strip().startswith("daudit: error:"), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert _snapshot(tmp_path / "out") == before  # previous results intact, byte for byte
    assert not [p for p in tmp_path.glob(".out.*") if p.name != ".out.state.json"]
    assert not (tmp_path / "out.previous").exists()
    state = json.loads((tmp_path / ".out.state.json").read_text())  # what `status` will say
    assert state["status"] == "failed" and state["message"] == err.strip()
    assert main(["run", "--config", str(spec)]) == 0  # and the disk freed, the next run works


def test_atomic_write_keeps_old_file_on_full_disk(tmp_path, monkeypatch):
    from daudit.core.artifacts import atomic_write_text
    from daudit.core.errors import DauditError

    target = tmp_path / "summary.json"
    target.write_text("old")
    _enospc_on(monkeypatch, "summary.json")
    with pytest.raises(DauditError, match="No space left on device.*previous file kept"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["summary.json"]


@pytest.mark.parametrize("entry", ["run", "run --detach", "run_audit"])
def test_a_live_run_is_named_before_its_log_is_judged(entry, medium, tmp_path):
    """A second run that finds the first one's lock held by a live process says so, even when
    the first has its log beside the output and no state file yet (the moment between the two;
    under load a run can be paused there); through every way a run starts."""
    from daudit.core.errors import DauditError

    spec = write_spec(tmp_path / "spec.yaml", medium, output_dir=tmp_path / "out", lightgbm=False, chunk_rows=1024)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (tmp_path / ".out.lock").write_text(f"{holder.pid}\n")
        (tmp_path / "out.log").write_text("")  # the first run's log, its state file not written yet
        if entry == "run_audit":
            with pytest.raises(DauditError) as err:
                run_audit(load_spec(spec), output_dir=tmp_path / "out", echo=lambda *a: None)
            rc, said = 2, str(err.value)
        else:
            extra = ["--detach", "--logs-dir", str(tmp_path / "logs")] if entry == "run --detach" else []
            second = subprocess.run(_cli(spec, *extra), capture_output=True, text=True, timeout=120)
            assert "Traceback" not in second.stderr
            rc, said = second.returncode, second.stderr
    finally:
        holder.kill()
        holder.wait()
    assert rc == 2
    assert f"is in use by a running daudit (PID {holder.pid})" in said, said


def test_detach_writes_its_record_before_the_log(medium, tmp_path, monkeypatch):
    """The same order for ``run --detach``'s own files: logs/<EXP>.json exists before
    logs/<EXP>.log, so a detach killed between the two leaves no log the next one refuses."""
    from types import SimpleNamespace

    from daudit.app import detach as detach_mod
    from daudit.app.cli import main as cli_main

    spec = write_spec(tmp_path / "spec.yaml", medium, output_dir=tmp_path / "out", lightgbm=False, chunk_rows=1024)
    logs = tmp_path / "logs"
    seen = []

    def fake_popen(cmd, stdout, **kw):
        seen.append(sorted(p.name for p in logs.iterdir()))  # the log is open by now
        return SimpleNamespace(pid=os.getpid())

    monkeypatch.setattr(detach_mod.subprocess, "Popen", fake_popen)
    assert cli_main(["run", "--config", str(spec), "--detach", "--logs-dir", str(logs)]) == 0
    exp = load_spec(spec).experiment_id
    assert seen == [[f"{exp}.json", f"{exp}.log"]]
    assert json.loads((logs / f"{exp}.json").read_text())["pid"] == os.getpid()


def test_a_run_writes_its_state_file_before_its_log(medium, tmp_path, monkeypatch):
    """So a run killed between the two never leaves a log that the next run refuses as not
    daudit's (a log without its state file beside it)."""
    from daudit.core import runlog

    seen = []
    begin = runlog.RunRecorder.begin

    def checked_begin(self):
        seen.append((tmp_path / "out.log").exists())
        begin(self)

    monkeypatch.setattr(runlog.RunRecorder, "begin", checked_begin)
    spec = load_spec(write_spec(tmp_path / "spec.yaml", medium, output_dir=tmp_path / "out", lightgbm=False,
                                chunk_rows=1024, extra="sanity: {enabled: false}"))
    run_audit(spec, output_dir=tmp_path / "out", echo=lambda *a: None)
    assert seen == [False]
    assert "started (PID" in (tmp_path / "out" / "run.log").read_text().splitlines()[0]


@pytest.mark.slow
def test_second_run_on_same_output_is_refused_then_stale_lock_taken_over(medium, tmp_path):
    spec = write_spec(tmp_path / "spec.yaml", medium, output_dir=tmp_path / "out", lightgbm=False, chunk_rows=1024)
    first = subprocess.Popen(_cli(spec), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(lambda: (tmp_path / ".out.lock").exists() or first.poll() is not None)
        os.killpg(first.pid, signal.SIGSTOP)  # holds its lock, alive, however fast the run would be
        assert first.poll() is None, "the first run ended before its lock was seen"
        second = subprocess.run(_cli(spec), capture_output=True, text=True, timeout=120)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # leaves a stale lock behind
        first.wait()
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert f"is in use by a running daudit (PID {first.pid})" in second.stderr, second.stderr
    assert "wait for it or choose another --output-dir" in second.stderr
    assert (tmp_path / ".out.lock").read_text().split()[0] == str(first.pid)  # stale now
    third = subprocess.run(_cli(spec), capture_output=True, text=True, timeout=300)
    assert third.returncode == 0, third.stderr
    assert (tmp_path / "out" / "summary.json").exists() and not (tmp_path / ".out.lock").exists()


def test_damaged_caches_are_rebuilt_not_used(small, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("DAUDIT_CACHE_DIR", str(cache))
    spec = load_spec(write_spec(tmp_path / "spec.yaml", small, output_dir=tmp_path / "out", lightgbm=False,
                                levels=(1.0,)))
    first = run_audit(spec, output_dir=tmp_path / "a", echo=_quiet)
    stats = sorted(cache.glob("stats/*/stats.npz"))
    chunks = [p for p in cache.glob("zarr/*/**/*") if p.is_file() and p.name != "daudit-manifest.json"
              and p.name not in ("zarr.json", ".zarray", ".zattrs", ".zgroup")]
    assert stats and chunks, sorted(cache.rglob("*"))
    for p in stats:  # a half-written statistics file
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    big = max(chunks, key=lambda p: p.stat().st_size)  # a flipped byte in the zarr copy
    raw = bytearray(big.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    big.write_bytes(bytes(raw))
    again = run_audit(spec, output_dir=tmp_path / "b", echo=_quiet)
    log = (tmp_path / "b" / "run.log").read_text()
    assert "stale or damaged" in log
    assert _numbers(again) == _numbers(first)


def test_local_cluster_listens_on_localhost_only():
    import psutil

    from daudit.core.spec import ComputeSpec
    from daudit.engine.cluster import dask_context

    compute = ComputeSpec(scheduler="local", n_workers=1, dashboard_address="127.0.0.1:0", memory_limit=2**30)
    with dask_context(compute, echo=_quiet) as info:
        from distributed import get_client

        client = get_client()
        addresses = [info["address"], *client.scheduler_info()["workers"]]
        assert all(a.startswith("tcp://127.0.0.1:") for a in addresses), addresses
        assert info["dashboard"].startswith("http://127.0.0.1:")
        pids = [os.getpid(), *client.run(os.getpid).values()]
        listening = [c.laddr.ip for c in psutil.net_connections("inet")
                     if c.status == psutil.CONN_LISTEN and c.pid in pids]
        assert listening and set(listening) <= {"127.0.0.1"}, listening
        # Workers keep Dask's comm tracebacks (a lost peer) off the user's terminal.
        levels = client.run(_distributed_log_level).values()
        assert all(lv >= 50 for lv in levels), levels


def _distributed_log_level():
    import logging

    return logging.getLogger("distributed").getEffectiveLevel()


def test_default_dashboard_address_is_localhost():
    from daudit.core.spec import ComputeSpec

    assert ComputeSpec().dashboard_address.startswith("127.0.0.1:")
