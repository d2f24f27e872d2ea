"""Scripting the command line (issue 28): ``status`` / ``list --json``, ``status``'s documented exit
codes, quick runs marked in ``list`` / ``show`` / ``status`` and refused by ``publish``.

Runs are written as a run writes them (sealed summary.json, state files through
`daudit.core.runlog.RunRecorder`); the expected values are the ones written, and the expected exit
codes are read from README.md's sentence, not from the code.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fake_results import make_fake_sanity
from test_history import make_summary, write_run

from daudit.core.errors import DauditError

REPO = Path(__file__).resolve().parents[1]


def daudit(*args, cwd, env=None, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "daudit", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture
def runs(tmp_path):
    """results/ with a full run, a --quick run and an incomplete one."""
    results = tmp_path / "results"
    full = make_summary("FULL-01", finished="2025-12-26T10:00:00Z", test_r2=0.9123, verdict="FAIL", n_train=1000)
    quick = make_summary("QUICK-01", finished="2025-12-27T10:00:00Z", test_r2=0.0312, verdict="PASS", n_train=3000)
    quick["spec"] = {"sanity": {"quick_run": True}}
    write_run(results / "FULL-01", full)
    write_run(results / "QUICK-01", quick)
    write_run(results / "HALF-01", None)  # run.log only
    return results


def test_list_json_is_one_document_with_the_documented_keys(runs):
    from daudit.app.commands.history import RUN_KEYS

    proc = daudit("list", "--json", cwd=runs.parent)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # one document: the whole of stdout
    assert doc["results_dir"] == "results"
    by_id = {r["experiment_id"]: r for r in doc["runs"]}
    assert set(by_id) == {"FULL-01", "QUICK-01", "HALF-01"}
    assert all(set(r) == set(RUN_KEYS) for r in doc["runs"])
    assert by_id["FULL-01"]["best_test_r2"] == 0.9123 and by_id["FULL-01"]["verdict"] == "FAIL"
    assert by_id["FULL-01"]["n_train"] == 1000 and by_id["FULL-01"]["quick"] is False
    assert by_id["QUICK-01"]["quick"] is True and by_id["QUICK-01"]["verdict"] == "PASS"
    assert by_id["HALF-01"]["status"] == "incomplete" and by_id["HALF-01"]["verdict"] is None
    finished = [r["experiment_id"] for r in doc["runs"] if r["status"] == "finished"]
    assert finished == ["QUICK-01", "FULL-01"]  # newest first
    for key in RUN_KEYS:  # documented in --help
        assert key in " ".join(daudit("list", "--help", cwd=runs.parent).stdout.split())


def test_quick_runs_are_marked_in_list_show_and_status(runs):
    table = daudit("list", cwd=runs.parent).stdout
    line = {ln.split()[0]: ln for ln in table.splitlines()[2:]}
    assert "PASS (quick)" in line["QUICK-01"] and "(quick)" not in line["FULL-01"]
    shown = daudit("show", "QUICK-01", cwd=runs.parent).stdout
    assert "Gate-1: PASS (quick)" in shown and "--quick run" in shown
    assert "(quick)" not in daudit("show", "FULL-01", cwd=runs.parent).stdout
    st = daudit("status", runs / "QUICK-01", cwd=runs.parent)
    assert st.returncode == 0 and "PASS (quick)" in st.stdout, st.stdout + st.stderr
    assert "(quick)" not in daudit("status", runs / "FULL-01", cwd=runs.parent).stdout


def test_publish_refuses_a_quick_run_without_force(runs, tmp_path):
    from daudit.app.publish import publish_run

    kc = tmp_path / "kc"
    kc.mkdir()
    with pytest.raises(DauditError, match="--quick run .* --force"):
        publish_run(runs / "QUICK-01", kc)
    proc = daudit("publish", runs / "QUICK-01", "--knowledge-center", kc, cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "--quick run" in lines[0], proc.stderr
    assert sorted(kc.iterdir()) == []  # nothing written
    # with --force the quick refusal is passed (what stops it next is the fake run's missing figure)
    forced = daudit("publish", runs / "QUICK-01", "--knowledge-center", kc, "--force", cwd=tmp_path)
    assert "--quick run" not in forced.stderr
    full = daudit("publish", runs / "FULL-01", "--knowledge-center", kc, cwd=tmp_path)
    assert "--quick run" not in full.stderr


def _documented_exit_codes() -> dict[str, int]:
    """{state: exit code} from README.md's "Exit codes: `0` running or finished, ..." sentence."""
    text = " ".join(REPO.joinpath("README.md").read_text(encoding="utf-8").split())
    sentence = re.search(r"Exit codes: (.*?\.)(?: |$)", text).group(1)
    out = {}
    for code, words in re.findall(r"`(\d)` (.*?)(?=, `\d`|\.$)", sentence):
        for state in re.split(r", | or ", words):
            out[state.strip()] = int(code)
    return out


def test_status_exit_codes_are_the_documented_ones(tmp_path, monkeypatch):
    from daudit.app.commands.status import EXIT_HELP
    from daudit.core.runlog import RunRecorder

    documented = _documented_exit_codes()
    assert documented == {"running": 0, "finished": 0, "failed": 1, "interrupted": 1, "killed": 1,
                          "no such run": 2}, documented
    assert " ".join(EXIT_HELP.split()) in " ".join(daudit("status", "--help", cwd=tmp_path).stdout.split())
    env = {"DAUDIT_CACHE_DIR": str(tmp_path / "cache")}
    monkeypatch.setenv("DAUDIT_CACHE_DIR", env["DAUDIT_CACHE_DIR"])
    results = tmp_path / "results"
    write_run(results / "FIN-01", make_summary("FIN-01", finished="2025-12-26T10:00:00Z", test_r2=0.5,
                                               verdict="FAIL"))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    try:
        RunRecorder(results / "RUN-01", experiment_id="RUN-01", pid=sleeper.pid).begin()
        RunRecorder(results / "KILL-01", experiment_id="KILL-01", pid=gone.pid).begin()
        for state in ("failed", "interrupted"):
            rec = RunRecorder(results / f"{state.upper()}-01", experiment_id=f"{state.upper()}-01")
            rec.begin()
            rec.end(state, "daudit: error: something (test)")
        cases = {"running": "RUN-01", "finished": "FIN-01", "failed": "FAILED-01", "interrupted": "INTERRUPTED-01",
                 "killed": "KILL-01", "no such run": "NOPE-01"}
        for state, run in cases.items():
            folder = results / run
            proc = daudit("status", folder if folder.exists() else run, "--json", cwd=tmp_path, env=env)
            assert proc.returncode == documented[state], (state, proc.stdout, proc.stderr)
            if state == "no such run":
                assert proc.stdout == "" and proc.stderr.startswith("daudit: error:")
                continue
            doc = json.loads(proc.stdout)
            assert doc["state"] == state and doc["exit_code"] == documented[state], doc
            assert doc["experiment_id"] == run and doc["output_dir"] == str(folder.absolute())
            plain = daudit("status", folder, cwd=tmp_path, env=env)
            assert plain.returncode == documented[state] and plain.stdout.startswith(f"{run}: {state} - ")
    finally:
        sleeper.kill()
        sleeper.wait()


def test_status_json_has_the_documented_keys(runs):
    from daudit.app.commands.status import JSON_KEYS

    doc = json.loads(daudit("status", runs / "QUICK-01", "--json", cwd=runs.parent).stdout)
    assert tuple(doc) == JSON_KEYS and doc["quick"] is True and doc["state"] == "finished"
    assert "PASS" in doc["detail"] and doc["pid"] is None


def test_a_real_quick_run_records_quick_and_list_marks_it(tmp_path):
    from pfsspec_factory import write_spec, write_split_set

    data = write_split_set(tmp_path / "data", n_train=600, n_val=200, n_test=200, p=32)
    spec = write_spec(tmp_path / "spec.yaml", data, output_dir=tmp_path / "results" / "TEST-RUN-01", lightgbm=False,
                      extra="sanity: {n_permutations_linear: 10, n_bootstrap: 20}")
    env = {"DAUDIT_CACHE_DIR": str(tmp_path / "cache")}
    ran = daudit("run", "--config", spec, "--quick", cwd=tmp_path, env=env, timeout=300)
    assert ran.returncode == 0, ran.stderr
    summary = json.loads((tmp_path / "results" / "TEST-RUN-01" / "summary.json").read_text())
    assert summary["spec"]["sanity"]["quick_run"] is True
    assert summary["spec"]["sanity"]["n_bootstrap"] == 200  # --quick's own settings replaced the spec's
    listed = json.loads(daudit("list", "--json", cwd=tmp_path).stdout)
    assert [r["quick"] for r in listed["runs"]] == [True]


# ------------------------------------------------------------------------------------ compare


def test_compare_puts_metrics_gate_and_checks_side_by_side(runs):
    a = make_summary("CMP-A", finished="2025-12-28T10:00:00Z", test_r2=0.8125, verdict="FAIL")
    b = make_summary("CMP-B", finished="2025-12-29T10:00:00Z", test_r2=0.0250, verdict="PASS")
    for s, shuffled in ((a, 0.0125), (b, 0.0375)):  # a sanity block of the typed schema, then the numbers compared
        s["sanity"] = make_fake_sanity({**s, "best_lightgbm": s["best_ridge"]}, np.random.default_rng(0))
        s["sanity"]["wavelength_shuffle"].update(best_refit_test_r2=shuffled, effect="collapsed")
    a["sanity"]["mask_only"].update(best_test_r2=-0.0050, effect="no_leak")
    b["gate"]["ci95"] = [0.0125, 0.0500]
    write_run(runs / "CMP-A", a)
    write_run(runs / "CMP-B", b)
    proc = daudit("compare", "CMP-A", runs / "CMP-B", cwd=runs.parent)  # an id and a folder
    assert proc.returncode == 0, proc.stderr
    rows = {ln.strip().split("  ")[0]: ln.split() for ln in proc.stdout.splitlines() if ln.startswith("  ")}
    assert rows["verdict"][-2:] == ["FAIL", "PASS"]
    assert rows["best test R2"][-3:] == ["0.8125", "0.0250", f"{0.0250 - 0.8125:+.4f}"]
    assert "[0.0125, 0.0500]" in proc.stdout and "rule" in rows
    assert rows["Ridge_0.01 at 1"][-3:] == ["0.8125", "0.0250", f"{0.0250 - 0.8125:+.4f}"]
    assert "OLS at 0" not in proc.stdout  # level 0 is degenerate: left out
    shuffle = " ".join(rows["wavelength shuffle: best R2"])
    assert "0.0125 (collapsed)" in shuffle and "0.0375 (collapsed)" in shuffle and "+0.0250" in shuffle
    assert "-0.0050 (no_leak)" in " ".join(rows["mask only: best R2"])
    quick = daudit("compare", "FULL-01", "QUICK-01", cwd=runs.parent).stdout
    assert "PASS (quick)" in quick


def test_compare_refuses_a_missing_unfinished_or_unsealed_run_with_one_line(runs):
    summary = runs / "FULL-01" / "summary.json"
    for other, needle in (("NOPE-01", "NOPE-01"), ("HALF-01", "unfinished")):
        proc = daudit("compare", "FULL-01", other, cwd=runs.parent)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and needle in lines[0], proc.stderr
    summary.write_text(summary.read_text().replace('"FAIL"', '"PASS"'))  # edited after the run: not its seal
    proc = daudit("compare", "FULL-01", "QUICK-01", cwd=runs.parent)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "checksum" in lines[0], proc.stderr
