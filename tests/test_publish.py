"""Tests for daudit.app.publish: a finished run copied into a knowledge-center git repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from daudit.app.kc_table import row_marker
from daudit.app.publish import (
    BACKUP_DIR,
    HUB_PATH,
    ROADMAP_PATH,
    image_links,
    marker_lines,
    publish_run,
    render_hub_block,
    report_filename,
    rewrite_image_links,
    upsert_block,
)
from daudit.core.errors import DauditError
from daudit.core.schema import write_summary

FIXTURE_KC = Path(__file__).parent / "fixtures" / "knowledge_center"
EXP_ID = "LOGG-ERR-BASE-01"
REPORT_REL = "logg/moe/exp/exp_logg_err_base_01_20251226.md"
PYTHON = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
    "GIT_CONFIG_NOSYSTEM": "1",
}
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

# A tiny valid PNG header is enough: publish copies bytes, it never decodes images.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env).stdout


def make_summary(*, exp_id: str = EXP_ID, test_r2: float = 0.9896, verdict: str = "FAIL",
                 status: str = "finished") -> dict:
    """A summary.json following the schema of docs/internals.md (numbers are made up)."""
    best = {"model": "Ridge_0.001", "noise_level": 1.0, "alpha": 0.001, "train_r2": 0.9907, "val_r2": 0.99,
            "test_r2": test_r2, "test_mae": 0.088, "test_rmse": 0.117}
    return {
        "schema_version": 1, "kind": "audit",
        "daudit_version": "0.1.0", "experiment_id": exp_id, "status": status,
        "started_utc": "2025-12-26T10:00:00+00:00", "finished_utc": "2025-12-26T10:21:42+00:00",
        "date": "2025-12-26", "spec": {"experiment_id": exp_id},
        "data": {"source": "demo", "param": "log_g", "input": "error", "n_pixels": 64,
                 "wave_min": 7100.0, "wave_max": 8850.0,
                 "splits": {s: {"paths": [f"data_cache/{s}.h5"], "n_rows": n,
                                "n_nan_filled": 0, "n_nonfinite_after_fill": 0,
                                "n_nonpositive": 0}
                            for s, n in (("train", 1000), ("val", 200), ("test", 200))}},
        "noise_levels": [0.0, 1.0], "alphas": [0.001],
        "metrics": [{"noise_level": 1.0, "model": "Ridge_0.001", "alpha": 0.001,
                     "train_r2": 0.9907, "train_mae": 0.08, "train_rmse": 0.1, "val_r2": 0.99,
                     "val_mae": 0.09, "val_rmse": 0.11, "test_r2": test_r2, "test_mae": 0.088,
                     "test_rmse": 0.117, "fit_seconds": 0.5, "degenerate": False}],
        "best": best, "best_ridge": best, "best_linear": best, "best_lightgbm": None,
        "linear": {}, "scheduler": {},
        "gate": {"name": "Gate-1", "threshold": 0.05, "best_test_r2": test_r2,
                 "best_model": "Ridge_0.001", "verdict": verdict, "borderline": False,
                 "ci95": [test_r2 - 0.002, test_r2 + 0.001], "leakage_degree": "severe"},
        "importance": {"reference_noise_level": 1.0, "top_k": 40, "primary": "Ridge_0.001",
                       "models": {"Ridge_0.001": {"kind": "abs_coef", "top_k_share": 0.149,
                                                  "top_pixels": [{"rank": 1, "pixel": 33,
                                                                  "wavelength": 8542.1,
                                                                  "importance": 1.5}]}}},
        "timings": {"total_seconds": 1302.0, "stages": {"fit": 1200.0}},
        "versions": {"numpy": "2"},
        "outputs": {"report": "report.md", "metrics": "metrics.csv",
                    "importance": "importance.csv", "log": "run.log",
                    "figures": {"r2_bar_chart": "img/logg_err_base_01_r2_models.png",
                                "feature_importance_spectrum":
                                    "img/logg_err_base_01_importance_spectrum.png"}},
    }


def make_run(root: Path, summary: dict | None = None, *, name: str = EXP_ID) -> Path:
    """A fake finished result directory: summary.json, report.md with img/ links, PNGs."""
    summary = make_summary() if summary is None else summary
    run = root / name
    (run / "img").mkdir(parents=True)
    for rel in summary["outputs"]["figures"].values():
        (run / rel).write_bytes(PNG + rel.encode())
    (run / "img" / "extra.png").write_bytes(PNG + b"extra")
    (run / "report.md").write_text(
        f"# 📗 {summary['experiment_id']}: Error-Only Leakage Baseline\n\n"
        f"Gate-1: {summary['gate']['verdict']}, R² = {summary['gate']['best_test_r2']:.4f}\n\n"
        "![r2_models](img/logg_err_base_01_r2_models.png)\n\n"
        "![importance](./img/logg_err_base_01_importance_spectrum.png)\n\n"
        '<img src="img/extra.png" width="300">\n\n'
        "See [the hub](../moe_snr_hub.md); a path img/not_a_link.png in prose stays.\n",
        encoding="utf-8")
    (run / "run.log").write_text("done\n")
    write_summary(run / "summary.json", summary)  # sealed, as a run writes it
    return run


def fixture_kc(dest: Path) -> Path:
    """The fixture knowledge center copied to ``dest``, git-initialised and committed."""
    shutil.copytree(FIXTURE_KC, dest)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "fixture")
    return dest


@pytest.fixture
def kc(tmp_path) -> Path:
    """The fixture knowledge center, copied, git-initialised and committed."""
    return fixture_kc(tmp_path / "Physics_Informed_AI")


@pytest.fixture
def run_dir(tmp_path) -> Path:
    return make_run(tmp_path / "results")


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts
            and BACKUP_DIR not in p.relative_to(root).parts}


def remove_block(text: str, exp_id: str = EXP_ID) -> str:
    """The document without the marked block (or row) and the line breaks publish put around it."""
    if row_marker(exp_id) in text:
        return "".join(line for line in text.splitlines(keepends=True) if row_marker(exp_id) not in line)
    begin, end = marker_lines(exp_id)
    i, j = text.index(begin), text.index(end) + len(end)
    before, after = text[:i], text[j:]
    return before + after[2:] if after.startswith("\n\n") else before + after[1:]


# ------------------------------------------------------------------------------ pure functions


def test_report_filename():
    assert report_filename("LOGG-ERR-BASE-01", "2025-12-26") == "exp_logg_err_base_01_20251226.md"
    assert report_filename("Logg Err.Base/02", "2026-01-02") == "exp_logg_err_base_02_20260102.md"
    with pytest.raises(DauditError, match="YYYY-MM-DD"):
        report_filename("X-1", "26/12/2025")


def test_rewrite_image_links_only_touches_img_links():
    text = ("![a](img/a.png) ![b](./img/sub/b.png \"t\") <img src='img/c.png'>\n"
            "[hub](../moe_snr_hub.md) prose img/d.png ![e](https://x/img/e.png)\n")
    out = rewrite_image_links(text)
    assert out == ("![a](../img/a.png) ![b](../img/sub/b.png \"t\") <img src='../img/c.png'>\n"
                   "[hub](../moe_snr_hub.md) prose img/d.png ![e](https://x/img/e.png)\n")
    assert image_links(text) == ["a.png", "sub/b.png", "c.png"]


def test_upsert_block_inserts_at_end_of_section_and_is_idempotent():
    doc = "# T\n\n## §DG1 gate\n\nrow\n\n### sub\nx\n\n## §DG2\ny\n"
    once = upsert_block(doc, "BODY", experiment_id="E-1", section="DG1")
    begin, end = marker_lines("E-1")
    assert once == (f"# T\n\n## §DG1 gate\n\nrow\n\n### sub\nx\n\n"
                    f"{begin}\nBODY\n{end}\n\n## §DG2\ny\n")
    assert upsert_block(once, "BODY", experiment_id="E-1", section="DG1") == once
    twice = upsert_block(once, "NEW\nLINES\n", experiment_id="E-1", section="DG1")
    assert twice == once.replace("BODY", "NEW\nLINES")


@pytest.mark.parametrize("doc", ["", "no headings\n", "no newline at end",
                                 "```\n## DG1 in a fence\n```\n"])
def test_upsert_block_appends_without_a_heading(doc):
    begin, end = marker_lines("E-1")
    out = upsert_block(doc, "B", experiment_id="E-1", section="DG1")
    assert out.startswith(doc)
    assert out.endswith(f"{begin}\nB\n{end}\n")
    assert out[len(doc):].lstrip("\n").startswith(begin)


def test_upsert_block_section_token_is_exact():
    doc = "## MVP-0.10 later\n\na\n\n## MVP-0.1: first\n\nb\n"
    out = upsert_block(doc, "B", experiment_id="E", section="MVP-0.1")
    assert out.index("<!-- daudit:E:begin") > out.index("## MVP-0.1: first")


def test_upsert_block_keeps_crlf():
    doc = "## DG1\r\n\r\ntext\r\n"
    out = upsert_block(doc, "B", experiment_id="E", section="DG1")
    assert out == ("## DG1\r\n\r\ntext\r\n\r\n"
                   "<!-- daudit:E:begin -->\r\nB\r\n<!-- daudit:E:end -->\r\n")


@pytest.mark.parametrize("doc", ["<!-- daudit:E:begin -->\nx\n",
                                 "<!-- daudit:E:end -->\n<!-- daudit:E:begin -->\n",
                                 "<!-- daudit:E:begin -->\n<!-- daudit:E:end -->\n" * 2])
def test_upsert_block_refuses_broken_markers(doc):
    with pytest.raises(DauditError, match="markers for E are broken"):
        upsert_block(doc, "B", experiment_id="E", where="hub.md")


def test_hub_block_has_verdict_r2_and_link():
    block = render_hub_block(make_summary(), report_link="exp/r.md")
    assert "FAIL" in block and "0.9896" in block and "](exp/r.md)" in block
    assert len(block.splitlines()) == 3  # header, rule, one row: a table of its own


# ------------------------------------------------------------------------------ publish_run


@needs_git
def test_publish_writes_report_figures_hub_and_roadmap(kc, run_dir):
    result = publish_run(run_dir, kc)
    assert result.report == kc / REPORT_REL
    report = result.report.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)\s]+\.png)", report) + re.findall(r'src="([^"]+)"', report)
    assert sorted(links) == ["../img/extra.png", "../img/logg_err_base_01_importance_spectrum.png",
                             "../img/logg_err_base_01_r2_models.png"]
    for link in links:
        target = (result.report.parent / link).resolve()
        assert target.is_file(), link
        assert target.read_bytes() == (run_dir / "img" / target.name).read_bytes()
    assert "a path img/not_a_link.png in prose" in report

    for rel, heading, next_heading in ((HUB_PATH, "\n## §DG1", "\n## §DG2"),
                                       (ROADMAP_PATH, "\n### MVP-0.1", "\n### MVP-0.2")):
        text = (kc / rel).read_text(encoding="utf-8")
        begin, end = marker_lines(EXP_ID) if rel == ROADMAP_PATH else (row_marker(EXP_ID),) * 2
        block = text[text.rindex("\n", 0, text.index(begin)):text.index(end)]
        assert "FAIL" in block and "0.9896" in block
        assert "](exp/exp_logg_err_base_01_20251226.md)" in block
        assert (kc / rel).parent.joinpath("exp/exp_logg_err_base_01_20251226.md").is_file()
        assert text.index(heading) < text.index(begin) <= text.index(end) < text.index(next_heading)
    assert len(result.changed) == 6 and len(result.backups) == 2


@needs_git
def test_publish_twice_gives_the_same_files_as_once(kc, run_dir):
    publish_run(run_dir, kc)
    once = snapshot(kc)
    again = publish_run(run_dir, kc)  # uncommitted, but nothing would change: allowed
    assert again.changed == () and again.backups == ()
    assert snapshot(kc) == once


@needs_git
def test_text_outside_the_markers_is_byte_identical(kc, tmp_path, run_dir):
    originals = {rel: (kc / rel).read_text(encoding="utf-8") for rel in (HUB_PATH, ROADMAP_PATH)}
    untouched = snapshot(kc)
    publish_run(run_dir, kc)
    # the one edit outside the markers: MVP-0.1's status follows the verdict (MVP-0.2's line,
    # which mentions MVP-0.1 in its text, stays)
    expected = dict(originals)
    expected[ROADMAP_PATH] = expected[ROADMAP_PATH].replace(
        "- Status: ⏳ planned", "- Status: ❌ done: Gate-1 FAIL (2025-12-26)", 1)
    assert "- Status: ⏳ blocked on MVP-0.1" in expected[ROADMAP_PATH]
    for rel, original in expected.items():
        assert remove_block((kc / rel).read_text(encoding="utf-8")) == original
    after = snapshot(kc)
    for rel, data in untouched.items():
        if rel not in originals:
            assert after[rel] == data
    git(kc, "add", "-A")
    git(kc, "commit", "-q", "-m", "publish 1")

    # A new run of the same experiment: only the marked blocks (and MVP-0.1's status) change.
    first = {rel: (kc / rel).read_text(encoding="utf-8") for rel in originals}
    first[ROADMAP_PATH] = first[ROADMAP_PATH].replace("❌ done: Gate-1 FAIL", "✅ done: Gate-1 PASS")
    rerun = make_run(tmp_path / "results2", make_summary(test_r2=0.0312, verdict="PASS"))
    publish_run(rerun, kc)
    for rel, old in first.items():
        new = (kc / rel).read_text(encoding="utf-8")
        assert "PASS" in new and "0.0312" in new
        begin, end = marker_lines(EXP_ID) if rel == ROADMAP_PATH else ("\n| LOGG-ERR-BASE-01 |", row_marker(EXP_ID))
        assert new[:new.index(begin)] == old[:old.index(begin)]
        assert new[new.index(end):] == old[old.index(end):]


@needs_git
def test_backups_are_kept_and_never_dirty_the_repo(kc, run_dir):
    hub_before = (kc / HUB_PATH).read_bytes()
    result = publish_run(run_dir, kc)
    assert result.backup_dir is not None and result.backup_dir.parent == kc / BACKUP_DIR
    assert (result.backup_dir / HUB_PATH).read_bytes() == hub_before
    status = git(kc, "status", "--porcelain", "--untracked-files=all")
    assert BACKUP_DIR not in status
    git(kc, "add", "-A")
    git(kc, "commit", "-q", "-m", "publish")
    assert git(kc, "status", "--porcelain", "--untracked-files=all") == ""


@needs_git
def test_missing_hub_and_roadmap_are_created_with_a_heading_and_the_block(kc, run_dir):
    git(kc, "rm", "-q", HUB_PATH, ROADMAP_PATH)
    git(kc, "commit", "-q", "-m", "no hub")
    result = publish_run(run_dir, kc)
    begin, end = marker_lines(EXP_ID)
    text = result.roadmap.read_text(encoding="utf-8")
    assert text.startswith("## MVP-0.1\n\n" + begin + "\n") and text.endswith(end + "\n")
    hub = result.hub.read_text(encoding="utf-8").splitlines()
    assert hub[:3] == ["## §DG1", "", "| Exp | Date | Gate-1 | Best test R² | Best model | Report |"]
    assert len(hub) == 5 and hub[4].startswith("| LOGG-ERR-BASE-01 |") and hub[4].endswith(row_marker(EXP_ID) + " |")
    assert result.backups == ()
    assert publish_run(run_dir, kc).changed == ()  # the heading is made once


@needs_git
def test_dirty_target_file_is_refused_unless_forced(kc, run_dir):
    hub = kc / HUB_PATH
    hub.write_text(hub.read_text(encoding="utf-8") + "\nuncommitted hand edit\n",
                   encoding="utf-8")
    before = snapshot(kc)
    with pytest.raises(DauditError, match=r"uncommitted changes in logg/moe/moe_snr_hub\.md"):
        publish_run(run_dir, kc)
    assert snapshot(kc) == before  # refused before writing anything

    result = publish_run(run_dir, kc, force=True)
    text = hub.read_text(encoding="utf-8")
    assert "uncommitted hand edit" in text and row_marker(EXP_ID) in text
    assert (result.backup_dir / HUB_PATH).read_bytes() == before[HUB_PATH]


@needs_git
def test_republishing_new_results_over_an_uncommitted_publish_is_refused(kc, tmp_path, run_dir):
    publish_run(run_dir, kc)
    rerun = make_run(tmp_path / "results2", make_summary(test_r2=0.5))
    with pytest.raises(DauditError, match="uncommitted changes"):
        publish_run(rerun, kc)


@needs_git
def test_not_a_git_work_tree_is_refused_unless_forced(tmp_path, run_dir):
    plain = tmp_path / "plain_kc"
    shutil.copytree(FIXTURE_KC, plain)
    with pytest.raises(DauditError, match="not a git work tree"):
        publish_run(run_dir, plain)
    assert not (plain / REPORT_REL).exists()
    result = publish_run(run_dir, plain, force=True)
    assert result.report.is_file()


def test_missing_knowledge_center_is_refused(tmp_path, run_dir):
    with pytest.raises(DauditError, match="knowledge center not found"):
        publish_run(run_dir, tmp_path / "nowhere", force=True)


@needs_git
def test_unfinished_run_is_refused(kc, tmp_path):
    unfinished = tmp_path / "results" / "running"
    unfinished.mkdir(parents=True)
    (unfinished / "run.log").write_text("stage 1\n")
    with pytest.raises(DauditError, match="summary.json: missing.*unfinished"):
        publish_run(unfinished, kc)
    failed = make_run(tmp_path / "r2", make_summary(status="failed"))
    with pytest.raises(DauditError, match="status is 'failed'"):
        publish_run(failed, kc, force=True)


@needs_git
def test_missing_figure_is_refused(kc, run_dir):
    (run_dir / "img" / "extra.png").unlink()
    with pytest.raises(DauditError, match="extra.png: missing"):
        publish_run(run_dir, kc)


@needs_git
def test_dry_run_writes_nothing(kc, run_dir):
    before = snapshot(kc)
    result = publish_run(run_dir, kc, dry_run=True)
    assert result.dry_run and len(result.changed) == 6
    assert snapshot(kc) == before and not (kc / BACKUP_DIR).exists()


# ------------------------------------------------------------------------------ CLI


def _pythonpath() -> str:
    # This checkout first, so the subprocess runs the code under test.
    return os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                         os.environ.get("PYTHONPATH")]))


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "KNOWLEDGE_CENTER"}
    return subprocess.run([str(PYTHON), "-m", "daudit", *args], capture_output=True, text=True,
                          cwd=cwd, env={**env, **GIT_ENV,
                                        "PYTHONPATH": _pythonpath()})


@needs_git
def test_cli_publish_exit_codes(kc, run_dir, tmp_path):
    ok = run_cli("publish", str(run_dir), "--knowledge-center", str(kc), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert REPORT_REL in ok.stdout
    assert (kc / REPORT_REL).is_file()

    again = run_cli("publish", str(run_dir), "--knowledge-center", str(kc), cwd=tmp_path)
    assert again.returncode == 0 and "already published" in again.stdout

    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    bad = run_cli("publish", str(unfinished), "--knowledge-center", str(kc), cwd=tmp_path)
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("daudit: error: ") and "summary.json" in lines[0]


# ------------------------------------------------------------------------------ issue 13: KC settings


def test_hub_without_the_section_gets_its_heading_once():
    doc = "# Hub\n\n## §DG0 data\n\nrows\n"
    once = upsert_block(doc, "B", experiment_id="E", section="DG1", heading="## §DG1")
    begin, end = marker_lines("E")
    assert once == doc + f"\n## §DG1\n\n{begin}\nB\n{end}\n"
    assert upsert_block(once, "B2", experiment_id="E", section="DG1", heading="## §DG1") == once.replace("\nB\n", "\nB2\n")
    # with the section present, no heading is added
    present = "## §DG1 gate\n\nx\n"
    assert "## §DG1\n" not in upsert_block(present, "B", experiment_id="E", section="DG1", heading="## §DG1")


ROADMAP_TABLE = """# Roadmap

| MVP | Goal | Status | Exp |
|---|---|---|---|
| MVP-0.1 | error-only leakage baseline | ⏳ planned | LOGG-ERR-BASE-01 |
| MVP-0.10 | later | ⏳ | - |
| MVP-0.2 | de-leak | ⏳ blocked on MVP-0.1 | - |

```
| MVP-0.1 | in a fence | ⏳ |
```

## MVP-0.1: baseline

**Status:** ⏳ planned
"""


def test_set_status_changes_the_mvp_row_and_status_line_only():
    from daudit.app.knowledge_center import set_status

    out = set_status(ROADMAP_TABLE, "MVP-0.1", "✅ done: Gate-1 PASS (2025-12-26)")
    want = ROADMAP_TABLE.replace(
        "| MVP-0.1 | error-only leakage baseline | ⏳ planned | LOGG-ERR-BASE-01 |",
        "| MVP-0.1 | error-only leakage baseline | ✅ done: Gate-1 PASS (2025-12-26) | LOGG-ERR-BASE-01 |").replace(
        "**Status:** ⏳ planned", "**Status:** ✅ done: Gate-1 PASS (2025-12-26)")
    assert out == want  # MVP-0.10, MVP-0.2 (whose status mentions MVP-0.1) and the fence are untouched
    assert set_status(out, "MVP-0.1", "✅ done: Gate-1 PASS (2025-12-26)") == out
    assert set_status("# nothing here\n", "MVP-0.1", "x") == "# nothing here\n"


@needs_git
def test_roadmap_row_follows_the_verdict_across_reruns(kc, tmp_path, run_dir):
    (kc / ROADMAP_PATH).write_text(ROADMAP_TABLE, encoding="utf-8")
    git(kc, "commit", "-qam", "table roadmap")
    publish_run(run_dir, kc)
    text = (kc / ROADMAP_PATH).read_text(encoding="utf-8")
    assert "| MVP-0.1 | error-only leakage baseline | ❌ done: Gate-1 FAIL (2025-12-26) |" in text
    assert "⏳" not in text.split("| MVP-0.10")[0]
    git(kc, "add", "-A")
    git(kc, "commit", "-qm", "published")
    rerun = make_run(tmp_path / "results2", make_summary(test_r2=0.0312, verdict="PASS"))
    publish_run(rerun, kc)
    text = (kc / ROADMAP_PATH).read_text(encoding="utf-8")
    assert "| ✅ done: Gate-1 PASS (2025-12-26) |" in text and "**Status:** ✅ done: Gate-1 PASS" in text
    assert "| MVP-0.10 | later | ⏳ | - |" in text


@needs_git
def test_topic_folder_is_a_setting(kc, run_dir, tmp_path):
    from daudit.app.knowledge_center import layout_for

    topic = kc / "teff" / "gate"
    topic.mkdir(parents=True)
    (topic / "gate_hub.md").write_text("# Gate hub\n", encoding="utf-8")
    git(kc, "add", "-A")
    git(kc, "commit", "-qm", "another topic")
    layout = layout_for(kc, topic="teff/gate")
    assert (layout.hub, layout.roadmap) == ("gate_hub.md", "moe_snr_roadmap.md")  # the one *_hub.md there
    result = publish_run(run_dir, kc, layout=layout)
    assert result.report == kc / "teff/gate/exp/exp_logg_err_base_01_20251226.md" and result.report.is_file()
    assert all(f.parent == kc / "teff/gate/img" for f in result.figures)
    assert "## §DG1" in (topic / "gate_hub.md").read_text(encoding="utf-8")
    assert not (kc / REPORT_REL).exists()
    # through the command line and the environment variable
    env_run = run_cli("publish", str(run_dir), "--knowledge-center", str(kc), "--topic", "teff/gate",
                      "--dry-run", cwd=tmp_path)
    assert env_run.returncode == 0 and "already published" in env_run.stdout, env_run.stderr
    for bad in ("../outside", "/abs"):
        with pytest.raises(DauditError, match="inside the knowledge center"):
            layout_for(kc, topic=bad)


# ------------------------------------------------------------------------------ issue 28: one DG1 table, table roadmaps


def _tables_in_section(text: str, heading: str) -> list[list[str]]:
    """The Markdown tables (lists of row lines, header first) between ``heading`` and the next ``## ``."""
    start = text.index(heading + "\n")
    end = text.find("\n## ", start + 1)
    lines = text[start:end if end >= 0 else len(text)].splitlines()
    tables, current = [], None
    for line in lines:
        if line.startswith("|"):
            current = current if current is not None else []
            current.append(line)
        elif current is not None:
            tables.append(current)
            current = None
    return tables + ([current] if current else [])


def _other_run(tmp_path: Path, exp_id: str, *, test_r2: float, verdict: str) -> Path:
    return make_run(tmp_path / f"results-{exp_id}", make_summary(exp_id=exp_id, test_r2=test_r2, verdict=verdict),
                    name=exp_id)


@needs_git
def test_a_new_experiment_adds_a_row_to_the_one_dg1_table(kc, tmp_path, run_dir):
    heading = "## §DG1 Is the error vector leaking log g?"
    publish_run(run_dir, kc)
    git(kc, "commit", "-qam", "first")
    second = _other_run(tmp_path, "LOGG-ERR-BASE-02", test_r2=0.0312, verdict="PASS")
    publish_run(second, kc)
    text = (kc / HUB_PATH).read_text(encoding="utf-8")
    tables = _tables_in_section(text, heading)
    assert len(tables) == 1, tables  # the hub's own table, not one table per experiment
    rows = {row.split("|")[1].strip(): row for row in tables[0][2:]}
    assert set(rows) == {"(pending)", EXP_ID, "LOGG-ERR-BASE-02"}
    assert "0.9896" in rows[EXP_ID] and "FAIL" in rows[EXP_ID]
    assert "0.0312" in rows["LOGG-ERR-BASE-02"] and "PASS" in rows["LOGG-ERR-BASE-02"]
    assert "](exp/exp_logg_err_base_02_20251226.md)" in rows["LOGG-ERR-BASE-02"]
    assert all(len(row.split("|")) == len(tables[0][0].split("|")) for row in tables[0])  # same columns
    git(kc, "add", "-A")
    git(kc, "commit", "-qm", "second")
    # new results of the first experiment: its row changes in place, nothing is added
    rerun = make_run(tmp_path / "results3", make_summary(test_r2=0.5, verdict="FAIL"))
    publish_run(rerun, kc)
    again = _tables_in_section((kc / HUB_PATH).read_text(encoding="utf-8"), heading)
    assert len(again) == 1 and len(again[0]) == len(tables[0])
    assert [r.split("|")[1] for r in again[0]] == [r.split("|")[1] for r in tables[0]]
    assert "0.5000" in again[0][tables[0].index(rows[EXP_ID])]


@needs_git
def test_the_hub_row_follows_the_tables_own_columns(kc, run_dir):
    hub = kc / HUB_PATH
    hub.write_text("# Hub\n\n## §DG1 gate\n\n| Experiment | Verdict | Notes | Link |\n|:--|:--|--|--|\n"
                   "| OLD-1 | ✅ PASS | by hand | - |\n\n## §DG2\n", encoding="utf-8")
    git(kc, "commit", "-qam", "own columns")
    publish_run(run_dir, kc)
    tables = _tables_in_section(hub.read_text(encoding="utf-8"), "## §DG1 gate")
    assert len(tables) == 1 and len(tables[0]) == 4
    cells = [c.strip() for c in tables[0][3].strip().strip("|").split("|")]
    assert cells[0] == EXP_ID and "FAIL" in cells[1] and cells[2] == ""
    assert cells[3].startswith("[exp_logg_err_base_01_20251226.md](exp/exp_logg_err_base_01_20251226.md)")


ROADMAP_TABLE_ONLY = """# Roadmap

| MVP | Goal | Status |
|---|---|---|
| MVP-0.1 | error-only leakage baseline | ⏳ planned |
| MVP-0.2 | de-leak | ⏳ blocked on MVP-0.1 |

Notes by hand.
"""


@needs_git
def test_a_table_roadmap_gets_its_row_updated_and_no_new_section(kc, tmp_path, run_dir):
    roadmap = kc / ROADMAP_PATH
    roadmap.write_text(ROADMAP_TABLE_ONLY, encoding="utf-8")
    git(kc, "commit", "-qam", "table roadmap")
    publish_run(run_dir, kc)
    assert roadmap.read_text(encoding="utf-8") == ROADMAP_TABLE_ONLY.replace(
        "| MVP-0.1 | error-only leakage baseline | ⏳ planned |",
        "| MVP-0.1 | error-only leakage baseline | ❌ done: Gate-1 FAIL (2025-12-26) |")
    git(kc, "add", "-A")
    git(kc, "commit", "-qm", "first")
    second = _other_run(tmp_path, "LOGG-ERR-BASE-02", test_r2=0.0312, verdict="PASS")
    publish_run(second, kc)
    text = roadmap.read_text(encoding="utf-8")
    assert text == ROADMAP_TABLE_ONLY.replace(
        "| MVP-0.1 | error-only leakage baseline | ⏳ planned |",
        "| MVP-0.1 | error-only leakage baseline | ✅ done: Gate-1 PASS (2025-12-26) |")
    assert not re.search(r"^#+ .*MVP-0\.1", text, re.MULTILINE) and "daudit:" not in text


# ------------------------------------------------------------------------------ issue 28: the report's links and names

UPSTREAM = ("| 类型 | 链接 |\n|------|------|\n| Hub | `moe_snr_hub.md` §DG1 |\n"
            "| Roadmap | `moe_snr_roadmap.md` MVP-0.1 |\n| Session | - |\n")


@needs_git
def test_the_published_report_links_the_hub_and_roadmap_actually_used(kc, run_dir):
    from daudit.app.knowledge_center import layout_for

    report = run_dir / "report.md"
    report.write_text(report.read_text(encoding="utf-8") + "\n## 🔗 上游追溯\n\n" + UPSTREAM, encoding="utf-8")
    topic = kc / "teff" / "gate"
    topic.mkdir(parents=True)
    (topic / "teff_hub.md").write_text("# Teff hub\n", encoding="utf-8")
    (topic / "teff_roadmap.md").write_text("# Teff roadmap\n", encoding="utf-8")
    git(kc, "add", "-A")
    git(kc, "commit", "-qm", "another topic")
    result = publish_run(run_dir, kc, layout=layout_for(kc, topic="teff/gate"))
    text = result.report.read_text(encoding="utf-8")
    hub_row = next(line for line in text.splitlines() if line.startswith("| Hub |"))
    roadmap_row = next(line for line in text.splitlines() if line.startswith("| Roadmap |"))
    assert hub_row == "| Hub | [teff_hub.md](../teff_hub.md) §DG1 |"
    assert roadmap_row == "| Roadmap | [teff_roadmap.md](../teff_roadmap.md) MVP-0.1 |"
    for row, target in ((hub_row, result.hub), (roadmap_row, result.roadmap)):
        link = re.search(r"\]\(([^)]+)\)", row).group(1)
        assert (result.report.parent / link).resolve() == target.resolve() and target.is_file()
    assert "moe_snr" not in text[text.index("上游追溯"):]
    # and with the user's default names, the links point at those
    default = publish_run(run_dir, kc, force=True)
    assert "| Hub | [moe_snr_hub.md](../moe_snr_hub.md) §DG1 |" in default.report.read_text(encoding="utf-8")


@pytest.mark.parametrize("save, expected", [
    ("LOGG-ERR-BASE-01_fig1.png", "LOGG-ERR-BASE-01_fig1.png"),
    ("logg_err_base_01_r2_models.png", "logg_err_base_01_r2_models.png"),
    ("Logg.Err.Base.01-importance.png", "Logg.Err.Base.01-importance.png"),
    ("fig1.png", "logg_err_base_01_fig1.png"),
    ("logg_err_base_012_fig.png", "logg_err_base_01_logg_err_base_012_fig.png"),  # another id
])
def test_figure_names_carry_the_experiment_id_once(save, expected):
    from daudit.output.writers import figure_name

    name = figure_name("logg_err_base_01", save)
    assert name == expected
    assert re.sub(r"[^a-z0-9]+", "_", name.lower()).count("logg_err_base_01") == 1 + ("012" in save)


@needs_git
def test_a_hub_published_by_an_older_daudit_gets_its_block_turned_into_a_row(kc, run_dir):
    """An older daudit wrote a marked table of its own per experiment; republishing puts the run in the
    hub's table and removes that block (daudit's own text), every other byte staying."""
    hub = kc / HUB_PATH
    original = hub.read_text(encoding="utf-8")
    begin, end = marker_lines(EXP_ID)
    old_block = f"{begin}\n| Exp | Date |\n|---|---|\n| {EXP_ID} | 2025-12-01 |\n{end}\n"
    hub.write_text(original.replace("### Notes\n", old_block + "\n### Notes\n"), encoding="utf-8")
    git(kc, "commit", "-qam", "hub of an older daudit")
    publish_run(run_dir, kc)
    text = hub.read_text(encoding="utf-8")
    assert begin not in text and end not in text and "2025-12-01" not in text
    assert remove_block(text) == original
    assert len(_tables_in_section(text, "## §DG1 Is the error vector leaking log g?")) == 1


def test_a_row_marker_twice_is_refused():
    from daudit.app.kc_table import upsert_hub_row

    row = f"| {EXP_ID} | x | {row_marker(EXP_ID)} |\n"
    doc = "## §DG1\n\n| Exp | Date | Report |\n|---|---|---|\n" + row + row
    with pytest.raises(DauditError, match="row marker .* appears 2 time"):
        upsert_hub_row(doc, make_summary(), report_link="exp/r.md", section="DG1", heading="## §DG1", where="hub.md")
    assert upsert_hub_row(doc[:-len(row)], make_summary(), report_link="exp/r.md", section="DG1",
                          heading="## §DG1").count(row_marker(EXP_ID)) == 1
