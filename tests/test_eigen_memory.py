"""The memory model of the eigendecompositions (`daudit.pipeline.memory_plan`): no check's
decomposition runs while the audit's p x p eigenvectors are in memory; they are parked on disk
(`daudit.engine.spill.Parked`) and come back unchanged."""

import logging
import os
import signal
import subprocess
import sys
import tempfile
import weakref
from pathlib import Path

import numpy as np
import pytest
from pfsspec_factory import write_spec, write_split_set

from daudit.checks import linear_refits
from daudit.core.spec import load_spec
from daudit.engine import spill
from daudit.engine.spill import Parked
from daudit.pipeline import run as pipeline_run
from daudit.pipeline.run import run_audit


def test_checks_decompose_only_after_the_audit_eigenvectors_are_freed(tmp_path, monkeypatch):
    audit_vecs, alive_at_checks = [], []

    def audit_decompose(*a, **kw):
        eg = real_audit(*a, **kw)
        audit_vecs.append(weakref.ref(eg.eigvecs))
        return eg

    def checks_decompose(*a, **kw):
        alive_at_checks.append([r() is not None for r in audit_vecs])
        return real_checks(*a, **kw)

    real_audit, real_checks = pipeline_run.decompose, linear_refits.decompose
    monkeypatch.setattr(pipeline_run, "decompose", audit_decompose)
    monkeypatch.setattr(linear_refits, "decompose", checks_decompose)
    data = write_split_set(tmp_path / "data", n_train=400, n_val=100, n_test=100, p=24)
    spec = write_spec(tmp_path / "spec.yaml", data, output_dir=tmp_path / "out", chunk_rows=100, lightgbm=False,
                      extra="sanity: {n_permutations_linear: 5}")
    summary = run_audit(load_spec(spec), output_dir=tmp_path / "out", echo=lambda *a: None)
    assert len(audit_vecs) == 1
    assert len(alive_at_checks) >= 1  # the wavelength-shuffled fit at least
    assert not any(any(a) for a in alive_at_checks), alive_at_checks
    # the permuted labels were solved on the eigenvectors read back, and then they were released
    assert summary["sanity"]["permutation"]


@pytest.fixture(autouse=True)
def _private_tmp(tmp_path, monkeypatch):
    """Parked folders of this test only (other runs may park in the system temp folder meanwhile)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def _parked_folders():
    return set(Path(tempfile.gettempdir()).glob("daudit-parked-*"))


def test_parked_array_comes_back_bit_for_bit_and_its_folder_goes():
    before = _parked_folders()
    a = np.random.default_rng(0).standard_normal((300, 200)) * 1e-300
    ref = a.copy()
    ref_a = weakref.ref(a)
    holder = Parked(a, what="x")
    with holder as back:
        del a
        assert ref_a() is None  # neither the caller nor the context manager holds it
        assert _parked_folders() - before
        b = back()
    np.testing.assert_array_equal(b, ref)
    assert b.dtype == ref.dtype and b.flags.writeable
    assert _parked_folders() == before


def test_parked_folder_goes_when_the_block_fails():
    before = _parked_folders()
    with pytest.raises(RuntimeError):
        with Parked(np.ones(10), what="x"):
            raise RuntimeError("boom")
    assert _parked_folders() == before


def test_parking_that_cannot_write_keeps_the_array_and_says_so(monkeypatch, caplog):
    before = _parked_folders()

    def full_disk(*a, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(spill.np, "save", full_disk)
    a = np.arange(12.0)
    with caplog.at_level(logging.WARNING, logger="daudit"), Parked(a, what="the test array") as back:
        assert back() is a
    assert "could not park the test array on disk" in caplog.text and "No space left" in caplog.text
    assert _parked_folders() == before


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_a_run_killed_while_parking_leaves_a_folder_the_next_parking_removes(tmp_path):
    """SIGKILL cannot be caught, so the killed process's folder stays; the next `Parked` (any
    process) finds its owner gone and removes it."""
    code = ("import sys, tempfile, numpy as np; tempfile.tempdir = sys.argv[1]\n"
            "from daudit.engine.spill import Parked\n"
            "with Parked(np.ones((500, 500)), what='x') as back:\n"
            "    print('parked', flush=True); sys.stdin.readline()\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "parked"
    (left,) = _parked_folders()
    assert str(child.pid) in left.name and (left / "array.npy").stat().st_size > 500 * 500 * 8
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert left.exists()  # what SIGKILL leaves
    with Parked(np.ones(3), what="y"):
        assert not left.exists()
    assert _parked_folders() == set()


def test_sweeping_leaves_what_is_not_provably_a_dead_runs_parking(tmp_path):
    dead, tmp = _dead_pid(), Path(tempfile.gettempdir())
    gone = tmp / f"daudit-parked-{dead}-abc123"
    gone.mkdir()
    np.save(gone / "array.npy", np.ones(3))
    empty = tmp / f"daudit-parked-{dead}-empty_1"  # killed between making the folder and writing
    empty.mkdir()
    kept = {
        "live owner": tmp / f"daudit-parked-{os.getpid()}-live",
        "a user's file inside": tmp / f"daudit-parked-{dead}-notes",
        "no process ID in the name": tmp / "daudit-parked-mine",
        "a link to a folder": tmp / f"daudit-parked-{dead}-link",
    }
    kept["live owner"].mkdir()
    np.save(kept["live owner"] / "array.npy", np.ones(3))
    kept["a user's file inside"].mkdir()
    np.save(kept["a user's file inside"] / "array.npy", np.ones(3))
    (kept["a user's file inside"] / "notes.txt").write_text("mine\n")
    kept["no process ID in the name"].mkdir()
    target = tmp_path / "elsewhere"
    target.mkdir()
    kept["a link to a folder"].symlink_to(target, target_is_directory=True)
    assert sorted(spill.sweep_parked()) == sorted([gone, empty])
    assert not gone.exists() and not empty.exists()
    for why, path in kept.items():
        assert path.exists() or path.is_symlink(), why
    assert (kept["a user's file inside"] / "notes.txt").read_text() == "mine\n" and target.is_dir()
