"""Guarded defaults of the command line (issue 28): ``run`` without ``--config``, ``init``'s next step,
``check`` / ``run --dry-run``, the console script's name.

Each test runs the command line as a user does (``python -m daudit ...`` in a subprocess, from a
working folder of its own) on small pfsspec files.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from pfsspec_factory import write_spec, write_split_set

REPO = Path(__file__).resolve().parents[1]


def daudit(*args, cwd, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "daudit", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def one_line_error(proc, *needles):
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "usage:" not in proc.stderr, proc.stderr
    assert lines and lines[-1].startswith("daudit: error:"), proc.stderr
    for needle in needles:
        assert needle in lines[-1], lines[-1]
    return lines[-1]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_split_set(tmp_path_factory.mktemp("guard-data"), n_train=600, n_val=200, n_test=200, p=32)


def tiny_spec(path: Path, data, *, exp_id="GUARD-01", extra="sanity: {enabled: false}") -> Path:
    spec = write_spec(path, data, output_dir=path.parent / "results" / exp_id, lightgbm=False, extra=extra)
    spec.write_text(spec.read_text().replace('"TEST-RUN-01"', f'"{exp_id}"'))
    return spec


@pytest.fixture
def env(tmp_path):
    """An own, empty cache and demo folder: nothing shared is read or simulated."""
    return {"DAUDIT_CACHE_DIR": str(tmp_path / "cache"), "DAUDIT_DEMO_DIR": str(tmp_path / "demo")}


# ------------------------------------------------------------------- run without --config


def test_run_without_config_and_no_spec_here_refuses_and_simulates_nothing(tmp_path, env):
    (tmp_path / "notes.yaml").write_text("title: my notes\nitems: [1, 2]\n")  # YAML, but not a spec
    proc = daudit("run", cwd=tmp_path, env=env, timeout=60)
    one_line_error(proc, "--config SPEC", "--demo")
    assert not (tmp_path / "demo").exists() and not (tmp_path / "results").exists()


def test_run_without_config_refuses_several_specs_naming_them(tmp_path, data, env):
    tiny_spec(tmp_path / "a.yaml", data, exp_id="GUARD-A")
    tiny_spec(tmp_path / "b.yml", data, exp_id="GUARD-B")
    line = one_line_error(daudit("run", cwd=tmp_path, env=env, timeout=60), "a.yaml", "b.yml")
    assert "--config" in line
    assert not (tmp_path / "results").exists()


def test_run_without_config_uses_the_one_spec_here_and_says_so(tmp_path, data, env):
    tiny_spec(tmp_path / "mine.yaml", data, exp_id="GUARD-ONE")
    (tmp_path / "other.yaml").write_text("a: 1\n")  # not a spec: ignored
    init = daudit("init", "--example", "deleak", "d.yaml", cwd=tmp_path, env=env, timeout=60)
    assert init.returncode == 0, init.stderr  # a deleak spec is not an audit spec: ignored by run
    proc = daudit("run", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "mine.yaml" in proc.stderr
    assert (tmp_path / "results" / "GUARD-ONE" / "summary.json").is_file()
    assert not (tmp_path / "demo").exists()  # no simulation


def test_run_demo_and_config_together_are_refused(tmp_path, data, env):
    spec = tiny_spec(tmp_path / "mine.yaml", data)
    one_line_error(daudit("run", "--demo", "--config", spec, cwd=tmp_path, env=env, timeout=60), "--demo")


def test_run_without_config_reports_the_error_of_a_broken_spec_here(tmp_path, data, env):
    spec = tiny_spec(tmp_path / "mine.yaml", data)
    spec.write_text(spec.read_text().replace("seed: 42", "seed: -3"))
    one_line_error(daudit("run", cwd=tmp_path, env=env, timeout=60), "mine.yaml", "seed")


def test_make_demo_runs_run_demo():
    recipe = subprocess.run(["make", "-n", "demo"], cwd=REPO, capture_output=True, text=True, timeout=60,
                            env={k: v for k, v in os.environ.items() if not k.startswith("MAKE")})
    line = [ln for ln in recipe.stdout.splitlines() if "-m daudit" in ln]
    assert line and shlex.split(line[0])[-2:] == ["run", "--demo"], recipe.stdout


# --------------------------------------------------------------------- init's next step


@pytest.mark.parametrize("example, command", [("deleak", "deleak"), ("audit", "run"), ("demo", "run")])
def test_init_prints_a_next_step_that_parses_and_reaches_the_data(tmp_path, env, example, command):
    proc = daudit("init", "--example", example, "s.yaml", cwd=tmp_path, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    step = next(ln for ln in proc.stdout.splitlines() if ln.startswith("next:"))
    args = shlex.split(step.split(", then ", 1)[1])
    assert args[:4] == ["python", "-m", "daudit", command], step
    assert f"#   python -m daudit {command} --config s.yaml" in (tmp_path / "s.yaml").read_text()
    ran = subprocess.run([sys.executable, *args[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={**os.environ, **env})
    # the data the template names is not there: the one-line error of loading it, not an argparse failure
    one_line_error(ran, "not found")


# ---------------------------------------------------------------------- console script name


def test_usage_names_the_console_script_when_run_as_daudit(tmp_path):
    from daudit.app.cli import prog_name

    assert prog_name("/venv/bin/daudit") == "daudit"
    assert prog_name(str(REPO / "daudit" / "__main__.py")) == "python -m daudit"
    script = tmp_path / "daudit"  # what pip writes for [project.scripts] daudit = daudit.app.cli:main
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom daudit.app.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)
    proc = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: daudit "), proc.stdout
    mod = daudit("--help", cwd=tmp_path, timeout=60)
    assert mod.stdout.startswith("usage: python -m daudit "), mod.stdout
