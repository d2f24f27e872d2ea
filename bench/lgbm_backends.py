"""LightGBM in-process against lightgbm.dask on a real ``dask scheduler`` with two ``dask worker``s.

Starts a scheduler and two single-threaded worker processes on 127.0.0.1 (the ``dask`` command
line, as on a cluster), runs ``python -m daudit run`` on the first 3,000 / 600 / 600 demo spectra
(OLS, Ridge, the spec's LightGBM; noise level 1; checks off) once in-process and once through the
scheduler, for a few seeds, and writes bench/backends_RESULTS.md: LightGBM's val and test R2 from
each backend and their difference, beside the linear models' (which must agree to 1e-9).

    python bench/lgbm_backends.py [--seeds 42,1,2] [--rows 3000]
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent


def _spec(path: Path, out: Path, *, rows: int, seed: int, scheduler: str) -> Path:
    from daudit.core.paths import demo_dir

    path.write_text("\n".join([
        'experiment_id: "LGBM-BACKENDS"', "data:", f"  train_path: '{demo_dir()}/train/dataset.h5'",
        f"  val_path: '{demo_dir()}/val/dataset.h5'", f"  test_path: '{demo_dir()}/test/dataset.h5'",
        f"  num_samples: {rows}", f"  num_test_samples: {rows // 5}", "  param: log_g",
        "models:", "  - type: LinearRegression", "  - type: Ridge", "    alpha: [0.01, 1.0]",
        "  - type: LightGBM", "    n_estimators: 100", "    max_depth: 6", "    learning_rate: 0.1",
        "noise_levels: [1.0]", f"seed: {seed}", f"output_dir: '{out}'", "sanity: {enabled: false}",
        "compute: {stats_cache: false, dashboard_address: '127.0.0.1:0', scheduler: " + scheduler + "}"]) + "\n")
    return path


def _cluster(tmp: Path):
    sched_file = tmp / "scheduler.json"
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(sched_file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    deadline = time.time() + 60
    while not sched_file.exists() and time.time() < deadline:
        time.sleep(0.2)
    for _ in range(2):
        procs.append(subprocess.Popen([str(BIN / "dask"), "worker", "--scheduler-file", str(sched_file),
                                       "--nthreads", "1", "--memory-limit", "3GB", "--host", "127.0.0.1"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      env={**os.environ, "PYTHONPATH": str(ROOT)}))
    address = json.loads(sched_file.read_text())["address"]
    from distributed import Client

    with Client(address, timeout="60s") as c:
        c.wait_for_workers(2, timeout=120)
    return address, procs


def _run(spec: Path, env) -> dict:
    subprocess.run([sys.executable, "-m", "daudit", "run", "--config", str(spec)], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = Path(spec.read_text().split("output_dir: '")[1].split("'")[0])
    return json.loads((out / "summary.json").read_text())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="42,1,2")
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "backends_RESULTS.md")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="daudit-backends-"))
    atexit.register(shutil.rmtree, tmp, True)  # also when the benchmark fails part-way
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DAUDIT_CACHE_DIR": str(tmp / "cache")}
    address, procs = _cluster(tmp)
    rows = []
    try:
        for seed in [int(s) for s in args.seeds.split(",")]:
            one = _run(_spec(tmp / f"p{seed}.yaml", tmp / f"p{seed}", rows=args.rows, seed=seed, scheduler="threads"),
                       env)
            two = _run(_spec(tmp / f"d{seed}.yaml", tmp / f"d{seed}", rows=args.rows, seed=seed,
                             scheduler=f"'{address}'"), env)
            rows.append((seed, one, two))
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(timeout=60)
    lines = ["# LightGBM backends: in-process against lightgbm.dask (real scheduler, two worker processes)", "",
             f"Measured by `python bench/lgbm_backends.py` on {dt.date.today().isoformat()} ({os.cpu_count()} cores, "
             f"load average {os.getloadavg()[0]:.1f}); first {args.rows} / {args.rows // 5} / {args.rows // 5} demo "
             "spectra, 100 trees, depth 6, learning rate 0.1, every train row (bin boundaries from all of them "
             "in-process; each worker bins the features it owns from its own half in lightgbm.dask).", "",
             "| seed | backend (cluster run) | LightGBM val R2 in-process / dask | LightGBM test R2 in-process / dask | "
             "test R2 difference | largest linear difference (relative) |", "|---|---|---|---|---|---|"]
    diffs = []
    for seed, one, two in rows:
        m1 = {r["model"]: r for r in one["metrics"]}
        m2 = {r["model"]: r for r in two["metrics"]}
        lin = max(abs(m1[k][c] - m2[k][c]) / abs(m1[k][c]) for k in m1 if k != "LightGBM"
                  for c in ("train_r2", "val_r2", "test_r2"))
        d = m2["LightGBM"]["test_r2"] - m1["LightGBM"]["test_r2"]
        diffs.append(abs(d))
        lines.append(f"| {seed} | {two['lightgbm'].get('backend')} | {m1['LightGBM']['val_r2']:.4f} / "
                     f"{m2['LightGBM']['val_r2']:.4f} | {m1['LightGBM']['test_r2']:.4f} / {m2['LightGBM']['test_r2']:.4f} "
                     f"| {d:+.4f} | {lin:.1e} |")
    lines += ["", f"Largest LightGBM test R2 difference: {max(diffs):.4f} (mean {sum(diffs) / len(diffs):.4f}); the "
              "linear family agrees to rounding. The gate reports the backend beside the verdict "
              "(`gate.lightgbm_backend` in summary.json and the report's key numbers)."]
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
