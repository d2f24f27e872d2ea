"""Every command line README.md shows runs without a traceback (issue 13), as a new user would type it.

The commands are read from README.md itself (its bash code blocks, and its Python blocks that use
daudit), never from a copy, and run in order in an empty working folder with only their paths
substituted to tiny data:

- ``/data/<split>.h5`` -> small pfsspec files written by the test;
- ``my_spec.yaml`` -> a small spec of LOGG-ERR-BASE-01 on them (after ``daudit init`` writes the
  template, the test edits its data paths, as the README tells the user to);
- ``~/Physics_Informed_AI`` -> a git copy of the test knowledge center;
- the built-in demo data (``make demo``) -> a small set in ``$DAUDIT_DEMO_DIR``;
- the cache folder -> ``$DAUDIT_CACHE_DIR`` in the test's folder (``cache clear`` never reaches a real cache),
  and ``cache clear`` gets ``--yes``, as the user answers y at its prompt.

``make <target>`` runs the ``python -m daudit`` lines of ``make -n <target>``'s recipe (the venv
set-up lines are what ``make test`` runs in CI; ``make test`` is this suite). ``pip install`` is
what ``.ci/run`` does with a wheel in a fresh venv. A command the test does not know fails it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from pfsspec_factory import write_pfsspec, write_spec, write_split_set

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SHELL_LANGS = {"bash", "sh", "shell", "console"}
FIXTURE_KC = Path(__file__).parent / "fixtures" / "knowledge_center"
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_CONFIG_NOSYSTEM": "1"}


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block, in order."""
    return [(m.group(1).strip().lower(), m.group(2)) for m in
            re.finditer(r"^```([^\n`]*)\n(.*?)^```", text, re.MULTILINE | re.DOTALL)]


def shell_commands(text: str) -> list[list[str]]:
    """The command lines of the shell blocks, as argument lists (comments dropped, `\\` joined)."""
    out = []
    for lang, body in code_blocks(text):
        if lang in SHELL_LANGS:
            for line in body.replace("\\\n", " ").splitlines():
                args = shlex.split(line, comments=True)
                if args:
                    out.append(args)
    return out


def python_examples(text: str) -> list[str]:
    return [body for lang, body in code_blocks(text) if lang == "python" and "import daudit" in body]


def test_readme_parser_finds_the_commands():
    """The parser sees what a reader sees (checked on a README-like snippet, not on README.md)."""
    doc = ("x\n```bash\nmake demo   # comment\npython -m daudit run \\\n  --config a.yaml  # more\n```\n"
           "```yaml\nkey: value  # not a command\n```\n```python\nimport daudit\n```\n")
    assert shell_commands(doc) == [["make", "demo"], ["python", "-m", "daudit", "run", "--config", "a.yaml"]]
    assert python_examples(doc) == ["import daudit\n"]


# ------------------------------------------------------------------------------ the workspace


def _fake_demo(root: Path) -> Path:
    """Small pfsspec files that daudit's demo check accepts (``make demo`` on tiny data)."""
    from daudit.simulate import GENERATOR_VERSION
    from daudit.simulate.writer import COMPLETE_ATTR

    small = write_split_set(root / "src", n_train=400, n_val=150, n_test=150, p=24)
    for split, path in small.items():
        with h5py.File(path) as f:
            err = f["dataset/arrays/error/value"][()]
        labels = pd.read_hdf(path)
        dest = write_pfsspec(root / split / "dataset.h5", err, {c: labels[c] for c in labels.columns},
                             mask=np.zeros(err.shape, np.uint8))
        with h5py.File(dest, "a") as f:
            f.attrs.update({COMPLETE_ATTR: True, "generator_version": GENERATOR_VERSION, "n_rows": err.shape[0]})
    return root


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("readme")
    work = root / "work"
    work.mkdir()
    data = write_split_set(root / "data", n_train=400, n_val=150, n_test=150, p=24)
    spec_text = write_spec(root / "spec.yaml", data, output_dir="unused",
                           extra="sanity: {n_permutations_linear: 20, n_permutations_lightgbm: 2, n_bootstrap: 50}"
                           ).read_text().replace("TEST-RUN-01", "LOGG-ERR-BASE-01")
    spec_text = "".join(ln for ln in spec_text.splitlines(keepends=True) if not ln.startswith("output_dir:"))
    kc = root / "Physics_Informed_AI"
    shutil.copytree(FIXTURE_KC, kc)
    if shutil.which("git"):
        for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "fixture"]):
            subprocess.run(["git", "-C", str(kc), *args], check=True, capture_output=True, env={**os.environ, **GIT_ENV})
    env = {**os.environ, **GIT_ENV, "DAUDIT_DEMO_DIR": str(_fake_demo(root / "demo")),
           "DAUDIT_CACHE_DIR": str(root / "cache")}
    subst = {f"/data/{k}.h5": str(v) for k, v in data.items()}
    subst["~/Physics_Informed_AI"] = str(kc)
    return {"work": work, "spec_text": spec_text, "env": env, "subst": subst}


def _run(args: list[str], ws) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=ws["work"], env=ws["env"], capture_output=True, text=True, timeout=600)
    shown = " ".join(args[1:])
    assert "Traceback" not in proc.stdout + proc.stderr, f"{shown}\n{proc.stderr}"
    assert proc.returncode == 0, f"{shown}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _wait_for_background(ws, exp_id: str):
    deadline = time.time() + 600
    while time.time() < deadline:
        state = json.loads((ws["work"] / "results" / f".{exp_id}.state.json").read_text())
        if state["status"] != "running":
            assert state["status"] == "finished", state
            return
        time.sleep(0.5)
    raise AssertionError("the background run did not finish")


def _daudit(args: list[str], ws) -> None:
    """One ``python -m daudit ...`` line, with its paths substituted."""
    args = [ws["subst"].get(a, a) for a in args]
    if args[:2] == ["cache", "clear"] and "--yes" not in args:
        args.append("--yes")  # the user answers y at the prompt (the test has no terminal)
    if "--detach" in args:
        _run([sys.executable, "-m", "daudit", *args], ws)
        ws["pending"] = "LOGG-ERR-BASE-01"
        return
    if ws.get("pending") and args[0] != "status":
        _wait_for_background(ws, ws.pop("pending"))  # as the user does: once it is done, go on
    _run([sys.executable, "-m", "daudit", *args], ws)
    if args[0] == "init":  # the user points the template's paths at their files
        target = next((a for a in args[1:] if not a.startswith("-")), "LOGG-ERR-BASE-01.yaml")
        assert "experiment_id" in (ws["work"] / target).read_text()
        (ws["work"] / target).write_text(ws["spec_text"])


def _make(target: str, ws) -> None:
    # as a new user types it: not inside another make (CI runs this suite under `make test`, whose
    # MAKELEVEL / MAKEFLAGS would make the inner make print "Entering directory" lines)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES")}
    dry = subprocess.run(["make", "-n", target], cwd=REPO, capture_output=True, text=True, timeout=60, env=env)
    assert dry.returncode == 0, f"make {target}: {dry.stderr}"
    for line in dry.stdout.splitlines():
        args = shlex.split(line)
        if "-m" in args and args[args.index("-m") + 1] == "daudit":
            _daudit(args[args.index("-m") + 2:], ws)
        elif "-m" in args and args[args.index("-m") + 1] == "pytest":
            assert target == "test"  # the suite itself, which is running now
        elif not (args[:1] == ["touch"] or "venv" in args or "pip" in args):
            pytest.fail(f"make {target} runs {line!r}, which this test does not know how to check")


def test_every_readme_command_runs_without_a_traceback(workspace):
    commands = shell_commands(README.read_text(encoding="utf-8"))
    assert len(commands) >= 8, commands  # the README shows its commands in bash blocks
    for args in commands:
        if args[:3] == ["python", "-m", "daudit"]:
            if args[3] == "publish" and not shutil.which("git"):
                continue
            _daudit(args[3:], workspace)
        elif args[0] == "make":
            _make(args[1], workspace)
        elif args[:2] == ["pip", "install"]:
            ci = (REPO / ".ci" / "run").read_text() + (REPO / ".ci" / "wheel").read_text()
            assert ".ci/wheel" in ci and "pip wheel" in ci and "-m venv" in ci  # CI installs the wheel afresh
        else:
            pytest.fail(f"README shows {' '.join(args)!r}; teach tests/test_readme.py how to run it")
    work = workspace["work"]
    assert (work / "results" / "my-audit" / "summary.json").is_file()
    assert (work / "results" / "LOGG-ERR-BASE-01" / "summary.json").is_file()


def test_readme_python_examples_run(workspace):
    examples = python_examples(README.read_text(encoding="utf-8"))
    assert examples, "README.md shows no Python example of the API"
    spec = workspace["work"] / "my_spec.yaml"
    if not spec.exists():
        spec.write_text(workspace["spec_text"])
    for code in examples:
        for old, new in workspace["subst"].items():
            code = code.replace(old, new)
        script = workspace["work"] / "example.py"
        script.write_text(code)
        _run([sys.executable, str(script)], workspace)


def test_a_command_that_ends_in_a_traceback_fails_the_check(tmp_path):
    """The check itself: a README command that crashes (like the old run --detach) is caught."""
    ws = {"work": tmp_path, "env": dict(os.environ)}
    with pytest.raises(AssertionError, match="Traceback"):
        _run([sys.executable, "-c", "from daudit.pipeline.run import check_output_dir"], ws)
    with pytest.raises(AssertionError, match="exit 2"):
        _run([sys.executable, "-m", "daudit", "show", "NO-SUCH-RUN"], ws)
