"""The user's own workflow (issue 13): background runs, a log to tail, status of any run, init, estimate.

Runs the command line as the user does (``python -m daudit ...`` in a subprocess, from a
working folder of its own) on small pfsspec files written by the tests.
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
import yaml
from pfsspec_factory import write_spec, write_split_set
from polling import wait_for

REPO = Path(__file__).resolve().parents[1]


def daudit(*args, cwd, timeout=300, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "daudit", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_split_set(tmp_path_factory.mktemp("wf-data"), n_train=600, n_val=200, n_test=200, p=32)


def small_spec(folder: Path, data, *, exp_id="TEST-RUN-01", trees=10, checks=True) -> Path:
    sanity = ("sanity: {n_permutations_linear: 20, n_permutations_lightgbm: 2, n_bootstrap: 50}" if checks
              else "sanity: {enabled: false}")
    spec = write_spec(folder / "spec.yaml", data, output_dir=folder / "results" / exp_id, extra=sanity)
    text = spec.read_text().replace('experiment_id: "TEST-RUN-01"', f'experiment_id: "{exp_id}"')
    spec.write_text(text.replace("n_estimators: 10", f"n_estimators: {trees}"))
    return spec


def status(ref, cwd) -> tuple[int, str]:
    proc = daudit("status", ref, cwd=cwd, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stdout + proc.stderr


# ------------------------------------------------------------------------------ run --detach


def test_detach_returns_at_once_then_status_running_then_finished(data, tmp_path):
    spec = small_spec(tmp_path, data)
    t0 = time.time()
    proc = daudit("run", "--config", spec, "--detach", cwd=tmp_path, timeout=120)
    took = time.time() - t0
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    pid = int(re.search(r"PID (\d+)", proc.stdout).group(1))
    log = tmp_path / "logs" / "TEST-RUN-01.log"
    assert f"tail -f {log}" in proc.stdout
    assert re.search(r"about .* \(an estimate from 1,000 spectra x 32 pixels", proc.stdout), proc.stdout
    assert (tmp_path / "logs" / "TEST-RUN-01.pid").read_text().split()[0] == str(pid)
    assert took < 60  # the run itself is the child's business; with imports this returns in seconds

    # while it runs: status says running with a stage, and the log has timestamped stage lines
    def running_in_a_stage():
        rc, text = status("TEST-RUN-01", tmp_path)
        m = re.search(r"running - stage '([^']+)'", text)
        return (rc, text, log.read_text()) if m and m.group(1) != "starting" else None

    rc, text, log_now = wait_for(running_in_a_stage)
    assert rc == 0 and f"PID {pid}" in text
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO stage open data: start", log_now, re.MULTILINE), log_now
    assert "\r" not in log_now  # no progress bars in a file

    def done():
        got = status("TEST-RUN-01", tmp_path)
        return got if "running" not in got[1] else None

    rc, text = wait_for(done)
    out = tmp_path / "results" / "TEST-RUN-01"
    summary = json.loads((out / "summary.json").read_text())
    verdict = summary["gate"]["verdict"]
    assert rc == 0 and f"finished - Gate-1 {verdict} (best test R2 {summary['gate']['best_test_r2']:.4f}" in text
    assert status(str(out), tmp_path)[1] == text  # by output folder, the same answer
    full = log.read_text()
    starts = re.findall(r"INFO stage (.+?): start", full)
    ends = re.findall(r"INFO stage (.+?): done in", full)
    assert starts == ends and {"open data", "statistics pass", "sanity checks", "artifacts"} <= set(starts)
    assert "Sending large graph" not in full and "Warning" not in full
    # the stable run log beside the results is the one inside them
    assert (out / "run.log").read_text() == (tmp_path / "results" / "TEST-RUN-01.log").read_text()


def test_killed_detached_run_is_reported_as_killed(data, tmp_path):
    spec = small_spec(tmp_path, data, exp_id="KILL-ME-01", trees=400)  # long enough to be caught running
    proc = daudit("run", "--config", spec, "--detach", cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    pid = int(re.search(r"PID (\d+)", proc.stdout).group(1))
    wait_for(lambda: re.search(r"running - stage '(?!starting)", status("KILL-ME-01", tmp_path)[1]))
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: "killed" in status("KILL-ME-01", tmp_path)[1], timeout=30)
    rc, text = status("KILL-ME-01", tmp_path)
    assert rc == 1 and "KILL-ME-01: killed - the process" in text and f"(PID {pid})" in text
    assert not (tmp_path / "results" / "KILL-ME-01" / "summary.json").exists()


def test_detach_refuses_bad_input_at_once_with_one_line(tmp_path):
    spec = write_spec(tmp_path / "spec.yaml", {k: tmp_path / "missing.h5" for k in ("train", "val", "test")},
                      output_dir=tmp_path / "out")
    proc = daudit("run", "--config", spec, "--detach", cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "file not found" in proc.stderr
    assert not (tmp_path / "logs").exists() or not list((tmp_path / "logs").glob("*.pid"))


def test_status_of_foreground_runs_finished_and_failed(data, tmp_path):
    from daudit.core.spec import load_spec
    from daudit.pipeline.run import run_audit

    spec = small_spec(tmp_path, data, exp_id="FG-RUN-01", checks=False)
    run_audit(load_spec(spec), output_dir=tmp_path / "results" / "FG-RUN-01", echo=lambda *a: None)  # in the foreground
    rc, text = status("FG-RUN-01", tmp_path)
    assert rc == 0 and "FG-RUN-01: finished - Gate-1" in text
    # a run that fails inside (labels all NaN, found after the run began): failed with its one line
    import pandas as pd

    bad = dict(data)
    bad["train"] = tmp_path / "nan" / "train.h5"
    bad["train"].parent.mkdir()
    import shutil

    shutil.copy(data["train"], bad["train"])
    tab = pd.read_hdf(bad["train"])
    tab["log_g"] = float("nan")
    tab.to_hdf(bad["train"], key="params", format="table", mode="a")
    spec2 = write_spec(tmp_path / "bad.yaml", bad, output_dir=tmp_path / "results" / "BAD-RUN-01")
    spec2.write_text(spec2.read_text().replace('"TEST-RUN-01"', '"BAD-RUN-01"'))
    failed = daudit("run", "--config", spec2, cwd=tmp_path)
    assert failed.returncode == 2
    error_line = failed.stderr.strip().splitlines()[-1]
    assert error_line.startswith("daudit: error: ")
    rc, text = status("BAD-RUN-01", tmp_path)
    assert rc == 1 and f"BAD-RUN-01: failed - {error_line}" in text
    rc, text = status("NO-SUCH-RUN", tmp_path)
    assert rc == 2 and text.strip().startswith("daudit: error: NO-SUCH-RUN: no run known")


# ------------------------------------------------------------------------------ the log


def test_library_warnings_go_to_the_log_at_debug_not_the_terminal(tmp_path):
    code = """
import logging, warnings
from daudit.core import runlog
log = logging.getLogger("daudit")
with runlog.run_logging(r"{log}"):
    log.info("stage x: start")
    warnings.warn("Sending large graph of size 85 MiB.", UserWarning)
log.info("after the run: not in the file")
warnings.warn("outside a run: shown as usual", UserWarning)
""".format(log=tmp_path / "run.log")
    with open(tmp_path / "stderr.txt", "w") as err:  # as under nohup ... 2> file: the log lines echo there
        proc = subprocess.run([sys.executable, "-c", code], stderr=err, text=True, timeout=60)
    stderr = (tmp_path / "stderr.txt").read_text()
    assert proc.returncode == 0, stderr
    text = (tmp_path / "run.log").read_text()
    assert re.search(r"DEBUG warning: .*UserWarning: Sending large graph", text), text
    assert "INFO stage x: start" in text and "after the run" not in text
    assert "Sending large graph" not in stderr  # the log lines, but no warnings
    assert "INFO stage x: start" in stderr and "outside a run" in stderr
    # to a pipe (or a terminal) nothing is echoed: a refused run stays one line there
    piped = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "stage x" not in piped.stderr and "Sending large graph" not in piped.stderr


def test_progress_lines_at_most_every_interval_with_rate_rows_and_eta(caplog):
    from daudit.core.progress import Bar

    now = [0.0]
    caplog.set_level("INFO", logger="daudit")
    with Bar(100, "pass", unit="chunk", rows=10_000, interval=30.0, clock=lambda: now[0]) as bar:
        for _ in range(100):
            now[0] += 1.0  # one chunk a second: 100 s in all
            bar.update()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("pass")]
    progress = [ln for ln in lines if "%" in ln]
    assert lines[0] == "pass: started (100 chunks)" and lines[-1] == "pass: done in 1m 40s"
    assert [ln.split(":")[1].split("%")[0].strip() for ln in progress] == ["30", "60", "90"]  # every 30 s
    assert progress[0] == "pass: 30% (30/100 chunks), 1 chunk/s, ~100 rows/s, ETA 1m 10s"


def test_progress_lines_count_units_in_the_plural_from_two(caplog):
    """"1 chunk", "2 chunks" (issue 28): the count says the unit; the rate stays "chunk/s"."""
    from daudit.core.progress import Bar, progress_line

    assert progress_line("zarr", 0, 1, "chunk", None) == "zarr: 0% (0/1 chunk)"
    assert progress_line("zarr", 1, 2, "chunk", 2.0) == "zarr: 50% (1/2 chunks), 2 chunk/s, ETA 0.5 s"
    assert progress_line("p", 3, 4, "task", None) == "p: 75% (3/4 tasks)"
    caplog.set_level("INFO", logger="daudit")
    for n, text in ((1, "one: started (1 chunk)"), (2, "one: started (2 chunks)"), (5, "one: started (5 fits)")):
        caplog.clear()
        with Bar(n, "one", unit="fit" if n == 5 else "chunk"):
            pass
        assert caplog.records[0].getMessage() == text


def test_bar_writes_no_carriage_returns_into_a_file(tmp_path):
    code = "from daudit.core.progress import Bar\nwith Bar(50, 'x') as b:\n    [b.update() for _ in range(50)]\n"
    with open(tmp_path / "err.txt", "w") as err:
        subprocess.run([sys.executable, "-c", code], stderr=err, timeout=60, check=True)
    assert "\r" not in (tmp_path / "err.txt").read_text()


# ------------------------------------------------------------------------------ the estimate


def _reference_run() -> tuple[float, dict]:
    """The measured cold demo run the estimate was calibrated on (bench/estimate_reference.md):
    total seconds and per-stage seconds."""
    text = (REPO / "bench" / "estimate_reference.md").read_text(encoding="utf-8")
    row = next(ln for ln in text.splitlines() if ln.startswith("| this checkout: demo, cold caches"))
    detail = row.split("stages (s):")[1].split(";")[0]
    stages = {k.strip(): float(v) for k, v in re.findall(r"([a-z /]+?) (\d+)(?=,|$)", detail.strip())}
    return float(row.split("|")[2]), stages


def test_estimate_reproduces_the_measured_reference_run():
    from daudit.core.spec import DEFAULT_SPEC_PATH, load_spec
    from daudit.engine.estimate import estimate_run

    total, stages = _reference_run()
    est = estimate_run(load_spec(DEFAULT_SPEC_PATH), {"train": 100_000, "val": 10_000, "test": 10_000}, 4096,
                       speed=1.0)
    assert est.seconds == pytest.approx(total, rel=0.1)
    for name in ("statistics pass", "eigendecomposition", "lightgbm fit", "sanity checks"):
        assert est.stages[name] == pytest.approx(stages[name], rel=0.1), name
    assert "estimate" in est.text()


def test_estimate_scales_with_size_and_speed():
    from daudit.core.spec import DEFAULT_SPEC_PATH, load_spec
    from daudit.engine.estimate import estimate_run

    spec = load_spec(DEFAULT_SPEC_PATH)
    base = estimate_run(spec, {"train": 100_000, "val": 10_000, "test": 10_000}, 4096, speed=1.0)
    bigger = estimate_run(spec, {"train": 1_000_000, "val": 10_000, "test": 10_000}, 4096, speed=1.0)
    faster = estimate_run(spec, {"train": 100_000, "val": 10_000, "test": 10_000}, 4096, speed=2.0)
    assert bigger.stages["statistics pass"] == pytest.approx(10 * base.stages["statistics pass"])
    assert faster.seconds == pytest.approx(base.seconds / 2)
    import dataclasses

    no_checks = dataclasses.replace(spec, sanity=dataclasses.replace(spec.sanity, enabled=False))
    assert "sanity checks" not in estimate_run(no_checks, {"train": 1, "val": 1, "test": 1}, 4096, speed=1).stages


# ------------------------------------------------------------------------------ init, deleak


def test_init_writes_the_users_spec_and_refuses_to_overwrite(tmp_path):
    from daudit.core.spec import load_spec

    proc = daudit("init", "my_spec.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    written, seed = load_spec(tmp_path / "my_spec.yaml"), load_spec(REPO / "pipelines" / "LOGG-ERR-BASE-01.seed.yaml")
    assert (written.experiment_id, written.alphas, written.noise_levels, written.data) == (
        seed.experiment_id, seed.alphas, seed.noise_levels, seed.data)
    again = daudit("init", "my_spec.yaml", cwd=tmp_path)
    assert again.returncode == 2 and again.stderr.strip().startswith("daudit: error: my_spec.yaml exists")
    demo = daudit("init", "demo.yaml", "--example", "demo", cwd=tmp_path)
    assert demo.returncode == 0
    paths = yaml.safe_load((tmp_path / "demo.yaml").read_text())["data"]
    assert all(Path(paths[k]).is_absolute() and Path(paths[k]).parts[-3:-1] == ("demo", k[:-5])
               for k in ("train_path", "val_path", "test_path")), paths


def test_deleak_accepts_the_audit_spec_with_a_note(tmp_path):
    from daudit.deleak.config import load_deleak_spec

    spec = REPO / "pipelines" / "LOGG-ERR-BASE-01.seed.yaml"
    notes = []
    audit_spec, _ = load_deleak_spec(spec, note=notes.append)
    assert len(notes) == 1 and "skipping LinearRegression" in notes[0]
    assert not audit_spec.include_ols and audit_spec.alphas == (0.001, 0.01, 0.1, 1.0, 10.0, 100.0)
    assert audit_spec.experiment_id == "LOGG-ERR-BASE-01-DELEAK"
    quiet = []
    load_deleak_spec(REPO / "pipelines" / "logg_err_repr_01.yaml", note=quiet.append)
    assert quiet == []


def test_deleak_runs_on_the_audit_spec_from_the_command_line(data, tmp_path):
    spec = small_spec(tmp_path, data, exp_id="AUD-01", checks=False)
    spec.write_text(spec.read_text() + "deleak: {n_bootstrap: 50, n_permutations: 50}\n")  # quicker nulls
    proc = daudit("deleak", "--config", spec, cwd=tmp_path)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    notes = [ln for ln in proc.stderr.splitlines() if ln.startswith("daudit: note:")]
    assert len(notes) == 1 and "skipping LinearRegression" in notes[0] and "AUD-01-DELEAK" in notes[0]
    summary = json.loads((tmp_path / "results" / "AUD-01-DELEAK" / "summary.json").read_text())
    assert summary["kind"] == "deleak" and summary["experiment_id"] == "AUD-01-DELEAK"
    assert not (tmp_path / "results" / "AUD-01").exists()  # the audit's folder is not touched


def test_lightgbm_messages_go_to_the_log_not_the_terminal(capfd, caplog):
    import lightgbm
    import numpy as np

    from daudit.models.boosting import lightgbm_log_to_debug

    rng = np.random.default_rng(0)

    def ds():
        return lightgbm.Dataset(rng.random((200, 4)), label=rng.random(200))

    params = {"verbose": 1, "bin_construct_sample_cnt": 10, "num_threads": 1}
    caplog.set_level("DEBUG", logger="daudit")
    with lightgbm_log_to_debug():
        lightgbm.train(params, ds(), 1)
    inside = capfd.readouterr()
    assert "[LightGBM]" not in inside.out + inside.err
    assert any(r.levelname == "DEBUG" and "[LightGBM] [Warning]" in r.getMessage() for r in caplog.records)
    lightgbm.train(params, ds(), 1)
    assert "[LightGBM]" in capfd.readouterr().out  # put back as it was


def test_progress_rate_leaves_out_the_set_up_before_the_first_unit(caplog):
    """LightGBM bins for minutes before its first tree: the ETA comes from the trees' own pace."""
    from daudit.core.progress import Bar

    now = [0.0]
    caplog.set_level("INFO", logger="daudit")
    with Bar(100, "boosting", unit="tree", interval=30.0, clock=lambda: now[0]) as bar:
        now[0] = 600.0  # ten minutes of set-up
        for _ in range(40):
            bar.update()
            now[0] += 2.0  # then a tree every 2 s
    first = next(r.getMessage() for r in caplog.records if "%" in r.getMessage())
    # the first line, right after the set-up: no pace yet, so no rate and no ETA
    assert first == "boosting: 1% (1/100 trees)"
    later = [r.getMessage() for r in caplog.records if "%" in r.getMessage()][1]
    assert later == "boosting: 16% (16/100 trees), 0.5 tree/s, ETA 2m 48s"


def test_core_share_follows_the_load_average(monkeypatch):
    import os

    from daudit.engine import estimate

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert estimate.core_share() == 1.0
    monkeypatch.setattr(os, "getloadavg", lambda: (12.0, 0.0, 0.0))
    assert estimate.core_share() == pytest.approx(2 / 14)  # two cores shared with twelve busy processes
    monkeypatch.delattr(os, "getloadavg")
    assert estimate.core_share() == 1.0


@pytest.mark.parametrize("scheduler", ["threads", "synchronous"])
def test_progress_of_a_local_compute_ends_at_its_total(scheduler, monkeypatch):
    """The bar counts one unit per task of the graph: it ends at 100% (it once planned four
    times the tasks, so in-process runs read 25% and an ETA four times too long)."""
    import dask
    import dask.array as da

    from daudit.core.progress import Bar, compute

    ends = []
    close = Bar.close

    def recording_close(self):
        ends.append((self._n, self.total))
        close(self)

    monkeypatch.setattr(Bar, "close", recording_close)
    x = da.ones((1000, 10), chunks=(100, 10))
    with dask.config.set(scheduler=scheduler):
        (total,) = compute((x * 2).sum(), desc="t")
    assert total == 20000
    ((done, planned),) = ends
    assert done == planned and planned >= 20  # ten chunks, made and then doubled
