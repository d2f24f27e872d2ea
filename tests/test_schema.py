"""The result schema: a real run's summary validates; damaged ones give one line through every reader."""

from __future__ import annotations

import json
import os
import subprocess
import types
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import r2_score

from daudit.core.errors import DauditError
from daudit.core.schema import SCHEMA_VERSION, load_summary, read_summary, write_summary
from daudit.core.typecheck import SchemaError, validate
from daudit.models.metrics import bootstrap_r2, r2, regression_metrics
from daudit.models.selection import GATE_THRESHOLD, best_by_test, best_by_val, gate_verdict

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from test_history import make_summary  # noqa: E402  (a valid summary of the current schema)


def _cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "daudit", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120)


def _one_line_exit_2(proc):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and errors[0].startswith("daudit: error: "), proc.stderr


def _good() -> dict:
    return make_summary("LOGG-ERR-BASE-01", finished="2025-12-26T10:00:00Z", test_r2=0.5, verdict="FAIL")


DAMAGE = {
    "garbage": lambda p: p.write_bytes(b"\x00\xffnot json at all"),
    "truncated": lambda p: p.write_text(json.dumps(_good())[:500]),
    "older schema": lambda p: p.write_text(json.dumps({k: v for k, v in _good().items() if k != "schema_version"})),
    "newer schema": lambda p: p.write_text(json.dumps({**_good(), "schema_version": SCHEMA_VERSION + 1})),
    "wrong type": lambda p: p.write_text(json.dumps({**_good(), "gate": {**_good()["gate"], "best_test_r2": "high"}})),
    "not an object": lambda p: p.write_text("[1, 2, 3]"),
}


@pytest.fixture(params=list(DAMAGE))
def damaged_run(request, tmp_path):
    run = tmp_path / "results" / "LOGG-ERR-BASE-01"
    run.mkdir(parents=True)
    (run / "run.log").write_text("log\n")
    (run / "report.md").write_text("# report\n")
    DAMAGE[request.param](run / "summary.json")
    return run


def test_show_list_publish_on_a_damaged_summary_give_one_line_and_exit_2(damaged_run, tmp_path):
    before = (damaged_run / "summary.json").read_bytes()
    _one_line_exit_2(_cli("show", str(damaged_run), cwd=tmp_path))
    _one_line_exit_2(_cli("show", "LOGG-ERR-BASE-01", cwd=tmp_path))
    listed = _cli("list", cwd=tmp_path)
    _one_line_exit_2(listed)
    assert "unreadable" in listed.stdout
    kc = tmp_path / "kc"
    kc.mkdir()
    _one_line_exit_2(_cli("publish", str(damaged_run), "--knowledge-center", str(kc), cwd=tmp_path))
    assert (damaged_run / "summary.json").read_bytes() == before and not any(kc.iterdir())


def test_load_summary_names_the_file_and_the_key(tmp_path):
    path = tmp_path / "summary.json"
    DAMAGE["wrong type"](path)
    with pytest.raises(DauditError, match=r"summary.json: not a readable daudit summary \(gate.best_test_r2: "
                                          r"expected float"):
        load_summary(path)


def test_a_real_run_summary_validates_and_reads_back(tmp_path):
    from pfsspec_factory import write_spec, write_split_set

    from daudit.core.spec import load_spec
    from daudit.pipeline.run import run_audit

    paths = write_split_set(tmp_path / "data", n_train=300, n_val=100, n_test=100, p=16)
    spec = load_spec(write_spec(tmp_path / "spec.yaml", paths, output_dir=tmp_path / "out"))
    summary = run_audit(spec, output_dir=tmp_path / "out", echo=lambda *a: None)
    back = read_summary(tmp_path / "out" / "summary.json")
    assert back["schema_version"] == SCHEMA_VERSION and back["kind"] == "audit"
    assert back["gate"] == json.loads(json.dumps(summary["gate"]))


def test_write_summary_refuses_a_summary_that_breaks_the_schema(tmp_path):
    bad = {**_good(), "metrics": [{"model": "OLS"}]}
    with pytest.raises(RuntimeError, match=r"metrics\[0\]\.\w+: missing"):
        write_summary(tmp_path / "summary.json", bad)
    assert not (tmp_path / "summary.json").exists()


@pytest.mark.parametrize("value, tp, ok", [
    (1.5, float, True), (True, float, False), (float("nan"), float, False), (None, float | None, True),
    ("x", float | None, False), ([1, 2], list[int], True), ([1, "a"], list[int], False),
    ({"a": 1.0}, dict[str, float], True),
])
def test_validate_scalars_unions_and_containers(value, tp, ok):
    if ok:
        validate(tp, value)
    else:
        with pytest.raises(SchemaError):
            validate(tp, value)


# ------------------------------------------------------------------ one R², one bootstrap, one gate, one "best"
def test_r2_is_sklearns_and_undefined_for_constant_labels():
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=200), rng.normal(size=(200, 3))
    assert r2(y, p[:, 0]) == pytest.approx(r2_score(y, p[:, 0]), rel=1e-12)
    np.testing.assert_allclose(regression_metrics(y, p)["r2"], [r2_score(y, p[:, j]) for j in range(3)], rtol=1e-12)
    assert np.isnan(r2(np.ones(10), np.zeros(10)))


def test_bootstrap_is_paired_percentile_of_resampled_r2():
    rng = np.random.default_rng(1)
    y = rng.normal(size=300)
    pred = np.column_stack([y + 0.5 * rng.normal(size=300), rng.normal(size=300)])
    ci = bootstrap_r2(y, pred, 200, np.random.default_rng(7), batch=50)
    # the oracle: the same resamples drawn one by one, R² by scikit-learn, numpy percentiles
    draw = np.random.default_rng(7)
    idx = np.concatenate([draw.integers(0, 300, size=(50, 300)) for _ in range(4)])
    scores = np.array([[r2_score(y[i], pred[i, j]) for j in range(2)] for i in idx])
    np.testing.assert_allclose(ci, np.quantile(scores, [0.025, 0.975], axis=0).T, rtol=1e-10)


def test_gate_verdict_threshold_and_nan():
    assert gate_verdict(GATE_THRESHOLD - 1e-9) == "PASS"
    assert gate_verdict(GATE_THRESHOLD) == "FAIL" and gate_verdict(0.9) == "FAIL"
    assert gate_verdict(float("nan")) == "FAIL"  # a statistic that is not a number is never a PASS


def _row(level, model, val, test, degenerate=False):
    return {"noise_level": level, "model": model, "alpha": None, "train_r2": test, "val_r2": val,
            "test_r2": test, "test_mae": 0.1, "test_rmse": 0.2, "degenerate": degenerate}


def test_best_by_test_and_by_val_against_a_direct_search():
    rows = [_row(0.0, "OLS", 0.0, 0.99, degenerate=True), _row(1.0, "OLS", 0.30, 0.20),
            _row(1.0, "Ridge_1", 0.40, 0.10), _row(0.5, "Ridge_1", 0.20, 0.35), _row(1.0, "LightGBM", 0.5, 0.3)]
    live = [r for r in rows if not r["degenerate"]]
    assert best_by_test(rows)["model"] == max(live, key=lambda r: r["test_r2"])["model"] == "Ridge_1"
    assert best_by_test(rows)["noise_level"] == 0.5
    assert best_by_val(rows, level=1.0) == "Ridge_1"  # linear models only, at that level
    assert best_by_test(rows, lambda r: r["model"] == "nothing") is None


def _edit_verdict(path: Path):
    """A sealed FAIL summary whose verdict (and headline numbers) were then edited to a PASS by hand."""
    write_summary(path, _good())
    data = json.loads(path.read_text())
    assert data["gate"]["verdict"] == "FAIL"
    data["gate"].update(verdict="PASS", best_test_r2=0.01)
    path.write_text(json.dumps(data, indent=2))


def _drop_checksum(path: Path):
    _edit_verdict(path)
    data = json.loads(path.read_text())
    del data["checksum"]
    path.write_text(json.dumps(data, indent=2))


@pytest.mark.parametrize("edit", [_edit_verdict, _drop_checksum], ids=["verdict edited", "checksum removed"])
def test_a_verdict_edited_by_hand_is_refused_by_every_reader(edit, tmp_path):
    from daudit.app.api import load_result

    run = tmp_path / "results" / "LOGG-ERR-BASE-01"
    run.mkdir(parents=True)
    (run / "run.log").write_text("log\n")
    (run / "report.md").write_text("# report\n")
    write_summary(run / "summary.json", _good())  # the run's own record reads back: FAIL, exit 0
    shown = _cli("show", str(run), cwd=tmp_path)
    assert shown.returncode == 0 and "FAIL" in shown.stdout, shown.stdout + shown.stderr
    edit(run / "summary.json")
    for args in (("show", str(run)), ("show", "--json", str(run)), ("status", str(run)), ("list",),
                 ("publish", str(run), "--knowledge-center", str(tmp_path / "kc"))):
        (tmp_path / "kc").mkdir(exist_ok=True)
        proc = _cli(*args, cwd=tmp_path)
        _one_line_exit_2(proc)
        assert "checksum" in proc.stderr and "PASS" not in proc.stdout, (args, proc.stdout, proc.stderr)
    assert not any((tmp_path / "kc").iterdir())
    with pytest.raises(DauditError, match="checksum"):
        load_result(run)
    with pytest.raises(SchemaError, match="checksum"):
        read_summary(run / "summary.json")


# ------------------------------------------------------------------ the sanity block (issue 26)
def _undeclared(tp, value, where="sanity") -> list[str]:
    """Key paths in ``value`` that the schema type ``tp`` does not name (a TypedDict allows them)."""
    import typing

    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for alt in typing.get_args(tp):
            try:
                validate(alt, value)
            except SchemaError:
                continue
            return _undeclared(alt, value, where)
        return [where]
    if origin is list:
        return [p for i, v in enumerate(value) for p in _undeclared(typing.get_args(tp)[0], v, f"{where}[{i}]")]
    if origin is dict:
        return [p for k, v in value.items() for p in _undeclared(typing.get_args(tp)[1], v, f"{where}.{k}")]
    if typing.is_typeddict(tp):
        hints = typing.get_type_hints(tp)
        out = [f"{where}.{k}" for k in value if k not in hints]
        for k, hint in hints.items():
            if k in value:
                if typing.get_origin(hint) is typing.NotRequired:
                    (hint,) = typing.get_args(hint)
                out += _undeclared(hint, value[k], f"{where}.{k}")
        return out
    return []


@pytest.mark.parametrize("run", ["pixel_run", "scale_run"])
def test_a_real_audit_sanity_block_validates_and_every_key_is_typed(run, request):
    """Every key the checks write is named by the schema (no free-form part left), with or without a mask."""
    from daudit.core.schema_sanity import Sanity, SanityChecks

    path = request.getfixturevalue(run).out / "summary.json"
    sanity = read_summary(path)["sanity"]
    validate(SanityChecks, sanity, "sanity")
    assert _undeclared(Sanity, sanity) == []
    assert {"wavelength_shuffle", "mask_only", "aggregate_stats", "localisation"} <= set(sanity)


def _resealed(path: Path, damage) -> Path:
    """``path``'s summary damaged by ``damage(sanity)`` and sealed again (a consistent file of another shape)."""
    from daudit.core.schema import seal_summary

    data = json.loads(path.read_text())
    damage(data["sanity"])
    path.write_text(json.dumps(seal_summary(data)))
    return path


SANITY_DAMAGE = {
    "sanity.bootstrap.n_resamples: expected int": lambda s: s["bootstrap"].update(n_resamples="1000"),
    "sanity.permutation: missing": lambda s: s.pop("permutation"),
    "sanity.original.OLS.test_r2: expected float": lambda s: s["original"]["OLS"].update(test_r2="high"),
    "sanity.variability.composition.kinds.sky: missing": lambda s: s["variability"]["composition"]["kinds"].pop("sky"),
    "sanity.mask_only.effect: expected one of": lambda s: s["mask_only"].update(effect="leaks"),
}


@pytest.mark.parametrize("where", list(SANITY_DAMAGE))
def test_a_sanity_key_of_the_wrong_type_or_missing_is_refused_at_load_with_one_line(where, scale_run, tmp_path):
    path = tmp_path / "summary.json"
    path.write_bytes((scale_run.out / "summary.json").read_bytes())
    _resealed(path, SANITY_DAMAGE[where])
    with pytest.raises(DauditError) as err:
        load_summary(path)
    line = str(err.value)
    assert "\n" not in line and f"not a readable daudit summary ({where}" in line, line


def test_show_on_a_damaged_sanity_block_gives_one_line_and_exit_2(pixel_run, tmp_path):
    run = tmp_path / "results" / "TEST-RUN-01"
    run.mkdir(parents=True)
    for name in ("summary.json", "report.md", "run.log"):
        (run / name).write_bytes((pixel_run.out / name).read_bytes())
    _resealed(run / "summary.json", lambda s: s["gate"].update(n_candidates="many"))
    proc = _cli("show", str(run), cwd=tmp_path)
    _one_line_exit_2(proc)
    assert "sanity.gate.n_candidates: expected int" in proc.stderr
