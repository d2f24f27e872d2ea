"""`make bench`: daudit against the obvious scikit-learn script, end-to-end time and memory.

Sections (all measured in this one run, on this machine):
1. Linear family at n x 4096 for n in 10k, 30k, 100k: daudit streamed from the HDF5 files
   (one statistics pass, one eigendecomposition, OLS + 6 Ridge at all three noise levels,
   val/test predictions) against the obvious scikit-learn script doing the same job: for each
   noise level L, LinearRegression and each Ridge(alpha) fitted separately on the in-memory
   array L * X, with val/test predictions. Each level is timed on its own, so the table also
   gives the ratio against one level.
2. `python -m daudit run` end to end, this checkout and (``--baseline``) an earlier commit in the
   same run: the demo cold, warm and with compute.memory_limit: 1GB; the first 3000/600/600
   spectra (what users try first), also with --quick. Wall time, audit and checks time (their
   ratio), the peak RSS of the whole process tree, and the issue-17 targets read off them.
3. Demo data generation (python -m daudit simulate, default sizes, into a temporary folder).

Writes bench/RESULTS.md (older sections from other benchmark files are appended unchanged).
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ALPHAS = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0]
LEVELS = [0.0, 0.5, 1.0]


def timed_process(cmd, env=None, cwd=ROOT) -> tuple[float, int, int]:
    """(wall seconds, peak RSS of the process tree in bytes, exit code)."""
    from daudit.engine.memory import tree_rss

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.2)
    return time.perf_counter() - t0, peak, proc.returncode


def _demo_paths():
    from daudit.core.paths import demo_dir

    return {k: demo_dir() / k / "dataset.h5" for k in ("train", "val", "test")}


def ensure_demo():
    paths = _demo_paths()
    if not all(p.exists() for p in paths.values()):
        subprocess.run([sys.executable, "-m", "daudit", "simulate", "--force"], cwd=ROOT, check=True)
    return paths


def daudit_linear(paths, n, tmp: Path) -> float:
    """Seconds for daudit's whole linear family (threads scheduler, caches off)."""
    import dask

    from daudit.core.spec import parse_spec
    from daudit.pipeline import run as pipeline

    spec = parse_spec({
        "experiment_id": "BENCH", "data": {"train_path": str(paths["train"]), "val_path": str(paths["val"]),
                                           "test_path": str(paths["test"]), "num_samples": n,
                                           "num_test_samples": 10000, "param": "log_g"},
        "models": [{"type": "LinearRegression"}, {"type": "Ridge", "alpha": ALPHAS}],
        "noise_levels": LEVELS, "compute": {"scheduler": "threads", "zarr_cache": False, "stats_cache": False},
    })
    t0 = time.perf_counter()
    with dask.config.set(scheduler="threads"):
        ctx = pipeline.AuditContext(spec=spec, splits=pipeline.open_data(spec), rng=np.random.default_rng(0))
        pipeline._fit_linear(ctx, [])
        preds, layout, _ = pipeline._predict(ctx)
        ctx.metrics = pipeline._metrics(ctx, preds, layout)
    return time.perf_counter() - t0


def _load(path, n):
    import h5py
    import pandas as pd

    from daudit.data.clean import clean_error
    from daudit.data.layout import ERROR_KEY

    with h5py.File(path) as f:
        x = clean_error(f[ERROR_KEY][:n]).astype(np.float64)
    return x, pd.read_hdf(path)["log_g"].to_numpy()[:n]


def sklearn_linear(x, y, xv, xt) -> dict:
    """Seconds per noise level of the scikit-learn script: {level: seconds}."""
    from sklearn.linear_model import LinearRegression, Ridge

    out = {}
    for level in LEVELS:
        t0 = time.perf_counter()
        xl, xvl, xtl = level * x, level * xv, level * xt
        for model in [LinearRegression()] + [Ridge(alpha=a) for a in ALPHAS]:
            model.fit(xl, y)
            model.predict(xvl)
            model.predict(xtl)
        del xl
        out[level] = time.perf_counter() - t0
    return out


def _previous_section(path: Path, heading: str) -> list[str]:
    text = path.read_text().splitlines() if path.exists() else []
    if heading not in [t.split(":")[0] for t in text]:
        raise SystemExit(f"--skip-linear: no section {heading!r} in {path}")
    i = next(k for k, t in enumerate(text) if t.startswith(heading))
    j = next((k for k in range(i + 1, len(text)) if text[k].startswith("## ")), len(text))
    mark = " (from an earlier `make bench` run, not re-measured with the sections below)"
    return [text[i] if text[i].endswith(mark) else text[i] + mark] + text[i + 1:j]  # marked once


def median(v):
    return float(np.median(v))


AUDIT_STAGES = ("open data", "row check", "statistics pass", "eigendecomposition", "lightgbm fit", "prediction pass")


def split_time(s: dict) -> tuple[float, float]:
    """(audit seconds, checks seconds) of a summary: the checks' stage, plus their share of the
    train pass the two share (by the chunk seconds of its parts), which the audit's gives up."""
    st = s["timings"]["stages"]
    audit = sum(st.get(k, 0.0) for k in AUDIT_STAGES)
    checks = st.get("sanity checks", 0.0)
    san = (s.get("sanity") or {}).get("timings") or {}
    parts = san.get("train_pass_chunk_seconds") or {}
    if "gram" in parts:  # the shared pass (issue 17): move the checks' share out of the audit's time
        share = st.get("statistics pass", 0.0) * (1 - parts["gram"] / max(sum(parts.values()), 1e-9))
        audit, checks = audit - share, checks + share
    return audit, checks


def _small_spec(tmp: Path, rows: int) -> Path:
    """The demo spec on the first ``rows`` / ``rows // 5`` / ``rows // 5`` spectra (what a user tries first)."""
    from daudit.core.paths import demo_dir
    from daudit.core.spec import DEFAULT_SPEC_PATH

    text = DEFAULT_SPEC_PATH.read_text().replace("../data_cache/demo", str(demo_dir()))
    text = text.replace("num_samples: 100000", f"num_samples: {rows}")
    text = text.replace("num_test_samples: 10000", f"num_test_samples: {rows // 5}")
    text = text.replace('dashboard_address: "127.0.0.1:8787"', 'dashboard_address: "127.0.0.1:0"')
    path = tmp / f"small_{rows}.yaml"
    path.write_text(text)
    return path


def _baseline_tree(tmp: Path, ref: str) -> Path:
    base = tmp / "baseline"
    base.mkdir()
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
    (base / "data_cache").mkdir(exist_ok=True)
    from daudit.core.paths import demo_dir

    if not (base / "data_cache" / "demo").exists():
        (base / "data_cache" / "demo").symlink_to(demo_dir().resolve())
    return base


def _run_help(code: Path) -> str:
    """``python -m daudit run --help`` of the code at ``code`` (older code runs the demo without --demo)."""
    return subprocess.run([sys.executable, "-m", "daudit", "run", "--help"], cwd=code, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(code)}, timeout=120).stdout


def _case(code: Path, label: str, extra: list, cache: Path, out: Path) -> dict:
    env = {"DAUDIT_CACHE_DIR": str(cache), "PYTHONPATH": str(code)}
    shutil.rmtree(out, ignore_errors=True)
    if "--config" not in extra and "--demo" in _run_help(code):  # issue 28: the demo is asked for by name
        extra = ["--demo", *extra]
    wall, peak, rc = timed_process([sys.executable, "-m", "daudit", "run", "--output-dir", str(out), *extra], env,
                                   cwd=code)
    s = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else None
    res = {"label": label, "wall": wall, "peak": peak, "rc": rc, "summary": s}
    print(label, f"{wall:.0f} s", f"{peak / 2**30:.2f} GiB", rc, flush=True)
    return res


def _row(r: dict) -> str:
    s = r["summary"]
    if s is None:
        return f"| {r['label']} | {r['wall']:.0f} | | | | {r['peak'] / 2**30:.2f} | {r['rc']} | |"
    audit, checks = split_time(s)
    st = s["timings"]["stages"]
    detail = ", ".join(f"{k} {v:.0f}" for k, v in st.items() if k != "total")
    peaks = ", ".join(f"{k} {v:.2f}" for k, v in s["timings"].get("peak_rss_gib", {}).items())
    return (f"| {r['label']} | {r['wall']:.0f} | {audit:.0f} | {checks:.0f} | {checks / max(audit, 1e-9):.2f} | "
            f"{r['peak'] / 2**30:.2f} | {r['rc']} | stages (s): {detail}; peak by stage (GiB): {peaks} |")


def end_to_end(tmp: Path, baseline: str | None) -> list:
    """Long because it is the end-to-end table: every case, then the targets read off it."""
    codes = [("this checkout", ROOT)] + ([(f"baseline {baseline}", _baseline_tree(tmp, baseline))] if baseline else [])
    small = _small_spec(tmp, 3000)
    runs = []
    for name, code in codes:
        c = tmp / f"cache-{len(runs)}"
        runs.append(_case(code, f"{name}: demo, cold caches", [], c, tmp / "out"))
        if code == ROOT:
            runs.append(_case(code, f"{name}: demo, warm caches", [], c, tmp / "out"))
        runs.append(_case(code, f"{name}: demo, compute.memory_limit 1GB, cold", ["--memory-limit", "1GB"],
                          tmp / f"cache1g-{len(runs)}", tmp / "out"))
        runs.append(_case(code, f"{name}: 3000/600/600, cold", ["--config", str(small)], tmp / f"cs-{len(runs)}",
                          tmp / "out"))
        if code == ROOT:
            runs.append(_case(code, f"{name}: 3000/600/600 --quick, cold", ["--config", str(small), "--quick"],
                              tmp / f"cs-{len(runs)}", tmp / "out"))
    lines = ["## `python -m daudit run` end to end (demo data present; full spec with sanity checks)", "",
             "audit = open data, row check, statistics pass, eigendecomposition, LightGBM fit, prediction pass; "
             "checks = the sanity-check stage plus the checks' share of the train pass (this checkout shares one "
             "pass between the two: its wall time is split by the chunk seconds of the parts). Load average at "
             f"the start of this section: {os.getloadavg()[0]:.1f}.", "",
             "| case | wall s | audit s | checks s | checks / audit | peak RSS of the process tree (GiB) | exit | "
             "detail |", "|---|---|---|---|---|---|---|---|"]
    lines += [_row(r) for r in runs]
    by = {r["label"]: r for r in runs}

    def ratio(label):
        r = by.get(label)
        if not r or r["summary"] is None:
            return float("nan")
        a, c = split_time(r["summary"])
        return c / a

    new = "this checkout"
    cold, small_r = by[f"{new}: demo, cold caches"], ratio(f"{new}: 3000/600/600, cold")
    one_gb = by[f"{new}: demo, compute.memory_limit 1GB, cold"]
    lines += ["", "Targets (issue 17), this checkout" + (f" against {baseline} measured in this run" if baseline else "")
              + ":", "",
              f"- checks / audit on the demo <= 0.75: {ratio(f'{new}: demo, cold caches'):.2f} "
              + (f"(baseline {ratio(f'baseline {baseline}: demo, cold caches'):.2f})" if baseline else ""),
              f"- checks / audit on 3000/600/600 <= 1.0: {small_r:.2f}"
              + (f" (baseline {ratio(f'baseline {baseline}: 3000/600/600, cold'):.2f})" if baseline else "")
              + f"; with --quick {ratio(f'{new}: 3000/600/600 --quick, cold'):.2f}",
              f"- full demo spec <= 240 s cold: {cold['wall']:.0f} s"
              + (f" (baseline {by[f'baseline {baseline}: demo, cold caches']['wall']:.0f} s)" if baseline else ""),
              f"- memory_limit 1GB: process-tree peak <= 1.0 GiB: {one_gb['peak'] / 2**30:.2f} GiB, exit {one_gb['rc']}"
              + (f" (baseline {by[f'baseline {baseline}: demo, compute.memory_limit 1GB, cold']['peak'] / 2**30:.2f} GiB)"
                 if baseline else ""), ""]
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,30000,100000")
    ap.add_argument("--repeats", type=int, default=3, help="repeats below 30k rows (30k and up: at most 2)")
    ap.add_argument("--skip-e2e", action="store_true")
    ap.add_argument("--skip-linear", action="store_true",
                    help="re-measure the rest; copy the linear-family section from the existing --out file")
    ap.add_argument("--skip-simulate", action="store_true")
    ap.add_argument("--baseline", default=None, help="commit whose `daudit run` is measured beside this checkout's "
                    "(the code before issue 17: 515b280)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    args = ap.parse_args()
    paths = ensure_demo()
    facts = {"date": dt.date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
             f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM",
             "python": platform.python_version()}
    lines = ["# Benchmarks", "", f"Measured by `make bench` (bench/run_bench.py) on {facts['date']}; machine: "
             f"{facts['machine']}; Python {facts['python']}. Every ratio compares numbers measured in the same run.", ""]
    # 1. linear family
    tmp = Path(tempfile.mkdtemp(prefix="daudit-bench-"))
    atexit.register(shutil.rmtree, tmp, True)  # also when the benchmark fails part-way
    if args.skip_linear:  # keep the section measured by an earlier run, marked as such
        lines += _previous_section(Path(args.out), "## Linear family")
    else:
        xv, _ = _load(paths["val"], 10000)
        xt, _ = _load(paths["test"], 10000)
        lines += ["## Linear family: daudit vs scikit-learn", "",
                  "daudit: OLS + 6 Ridge alphas at noise levels 0, 0.5, 1 with val/test predictions, streamed from "
                  "HDF5 (statistics pass + one eigh). scikit-learn, the same job: for each noise level L, "
                  "`LinearRegression` and each `Ridge(alpha)` fitted separately on the in-memory float64 array L * X, "
                  "plus val/test predictions (loading not timed). Medians over the repeats; the per-level columns "
                  "show what one level costs scikit-learn.", "",
                  "| train rows x 4096 | daudit s, all 3 levels | scikit-learn s, all 3 levels | speed-up | "
                  "scikit-learn s at L = 0 / 0.5 / 1 | speed-up against one level (L = 1) | repeats |",
                  "|---|---|---|---|---|---|---|"]
        for n in [int(s) for s in args.sizes.split(",")]:
            reps = args.repeats if n < 30_000 else min(args.repeats, 2)
            d = [daudit_linear(paths, n, tmp) for _ in range(reps)]
            x, y = _load(paths["train"], n)
            s = [sklearn_linear(x, y, xv, xt) for _ in range(reps)]
            del x
            per_level = {lv: median([r[lv] for r in s]) for lv in LEVELS}
            total = median([sum(r.values()) for r in s])
            lines.append(f"| {n} | {median(d):.1f} | {total:.1f} | {total / median(d):.1f}x | "
                         + " / ".join(f"{per_level[lv]:.1f}" for lv in LEVELS)
                         + f" | {per_level[1.0] / median(d):.1f}x | {reps} |")
            print(lines[-1], flush=True)
            last_ratio = (n, total / median(d), per_level[1.0] / median(d))
        lines += ["", f"Target (issue 5): at least 8x at 100k x 4096. Measured at {last_ratio[0]} rows: "
                  f"{last_ratio[1]:.1f}x against the scikit-learn script doing the same three levels "
                  f"({'met' if last_ratio[1] >= 8 else 'NOT met'}); {last_ratio[2]:.1f}x against scikit-learn fitting "
                  "one level only.", ""]
    # 2. end to end, this checkout and the baseline commit in the same run
    if not args.skip_e2e:
        lines += end_to_end(tmp, args.baseline)
    # 3. simulate
    if not args.skip_simulate:
        sim = tmp / "sim"
        wall, peak, rc = timed_process([sys.executable, "-m", "daudit", "simulate", "--out", str(sim)])
        lines += ["## Demo data generation (`python -m daudit simulate`, 100k/10k/10k)", "",
                  f"wall {wall:.0f} s, peak RSS {peak / 2**30:.2f} GiB, exit {rc}", ""]
        print(lines[-2], flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    for extra in ("eigh_RESULTS.md", "cluster_RESULTS.md", "cluster_linear_RESULTS.md", "backends_RESULTS.md",
                  "before_after_RESULTS.md", "memory_RESULTS.md",
                  "gpu_RESULTS.md", "checks_RESULTS.md", "simulate_RESULTS.md"):
        p = ROOT / "bench" / extra
        if p.exists():
            lines += [f"## From bench/{extra}", "", p.read_text().strip(), ""]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
