"""The same small fixed audit with an earlier commit and with this checkout: what changed.

Writes tests/planted.py's ``pixel_leak`` set (2000/500/500 spectra x 64 pixels, LightGBM on, the
default sanity settings) once, runs ``python -m daudit run`` on it with the code of ``--base``
(a commit, exported with ``git archive`` into a temporary folder) and with this checkout, and
prints a Markdown comparison: every metrics.csv number (expected: equal) and the checks' headline
numbers (R2 of each check, p-values, the gate), with their run times. Used for issue 17's
"before and after" evidence; not part of the test suite.

    python bench/before_after.py --base 515b280 [--out bench/before_after_RESULTS.md]
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def _write_set(root: Path) -> Path:
    from planted import pixel_leak, write_planted  # the tests' own planted data

    return write_planted(root, pixel_leak, n_train=2000, n_val=500, n_test=500, p=64, scheduler="threads", extra="")


def run_daudit(code: Path, spec: Path, out: Path, cache: Path) -> tuple[dict, pd.DataFrame, float]:
    env = {**os.environ, "PYTHONPATH": str(code), "DAUDIT_CACHE_DIR": str(cache)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "daudit", "run", "--config", str(spec), "--output-dir", str(out)],
                   cwd=code, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    return json.loads((out / "summary.json").read_text()), pd.read_csv(out / "metrics.csv"), wall


def _headline(s: dict) -> dict:
    san = s.get("sanity", {})
    out = {"gate": f"{s['gate']['verdict']} {s['gate']['best_test_r2']:.6f} ({s['gate']['best_model']})",
           "gate ci95": san.get("gate", {}).get("ci95"), "gate p": san.get("gate", {}).get("p_value")}
    for key in ("wavelength_shuffle", "group_shuffle", "mask_only", "aggregate_stats"):
        blk = san.get(key) or {}
        blk = blk.get("refit", blk) if key == "wavelength_shuffle" else blk
        for m in ("OLS", "best_ridge", "LightGBM"):
            if isinstance(blk.get(m), dict):
                out[f"{key} {m} test R2"] = blk[m].get("test_r2")
    lin = san.get("permutation", {}).get("linear", {})
    fig = lin.get("figure_model")
    if fig:
        out[f"null {fig} p"] = lin["models"][fig]["p_value"]
        out[f"null {fig} mean"] = lin["models"][fig]["null_mean"]
    lg = san.get("permutation", {}).get("lightgbm") or {}
    for k in ("observed_val_r2", "p_value", "n_permutations", "n_train_rows", "null_mean"):
        if k in lg:
            out[f"LightGBM null {k}"] = lg[k]
    out["sanity checks s"] = s["timings"]["stages"].get("sanity checks")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="commit of the 'before' code")
    ap.add_argument("--out", default=None, help="also write the Markdown here")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="daudit-ba-"))
    atexit.register(shutil.rmtree, tmp, True)  # also when the benchmark fails part-way
    base = tmp / "base"
    base.mkdir()
    archive = subprocess.run(["git", "archive", args.base], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
    spec = _write_set(tmp / "data")
    before, m0, w0 = run_daudit(base, spec, tmp / "before", tmp / "cache0")
    after, m1, w1 = run_daudit(ROOT, spec, tmp / "after", tmp / "cache1")
    num = [c for c in m0.columns if c not in ("noise_level", "model", "alpha", "degenerate", "fit_seconds")]
    a, b = m0[num].to_numpy(dtype=float), m1[num].to_numpy(dtype=float)
    same_nan = bool((np.isnan(a) == np.isnan(b)).all())  # NaN where a metric is undefined (level 0)
    diff = float(np.nanmax(np.abs(a - b))) if same_nan else float("inf")
    lines = [f"# Before ({args.base}) and after (this checkout): planted pixel_leak, 2000/500/500 x 64, LightGBM on",
             "", f"metrics.csv: {len(m0)} rows; largest absolute difference over {', '.join(num)}: {diff:.3g}",
             f"wall: before {w0:.1f} s, after {w1:.1f} s (one run each, same machine, same moment)", "",
             "| number | before | after |", "|---|---|---|"]
    h0, h1 = _headline(before), _headline(after)
    for k in dict.fromkeys([*h0, *h1]):
        lines.append(f"| {k} | {h0.get(k)} | {h1.get(k)} |")
    plan = after.get("sanity", {}).get("plan", {}).get("lightgbm_refits", {})
    if plan:
        lines += ["", f"after: LightGBM refit plan: {plan.get('reason')}; null: {plan.get('null')}"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
