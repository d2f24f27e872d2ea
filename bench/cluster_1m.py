"""The user's scale: 1M x 4096 training spectra in five shards on a LocalCluster of 4 workers.

1. Simulates 1M train spectra in 5 shard files plus 10k val and 10k test (``python -m daudit
   simulate --shards 5``, about 37 GB with the flux and mask) under ``--data`` (not in the repository),
   unless they are there already.
2. Runs the full spec (OLS, 6 Ridge, LightGBM; noise levels 0, 0.5, 1; every sanity check)
   through ``python -m daudit run`` on a LocalCluster of ``--workers`` worker processes, each with
   the memory limit ``--worker-memory``, cold (no statistics cache), and records the wall time
   of every stage, the peak RSS of every worker process and of the client process.
3. Runs the linear family alone in one process (threads scheduler) on the same shards and
   compares every OLS / Ridge number with the cluster run's (required: 1e-9 relative).
4. Puts the measured times beside docs/cluster-plan.md's model of them (its per-core rates,
   scaled to this machine's cores) and writes bench/cluster_RESULTS.md; deletes the data unless
   ``--keep``.

    python bench/cluster_1m.py [--rows 1000000] [--data /work/bench_data/1m] [--keep]

``--linear-only`` runs only the agreement: the linear family on the cluster, in one process with
``compute.fold_lanes`` set to the worker count (the same order of the float64 sums: every number
must be bit-equal), and in one process with the default single lane
(bench/cluster_linear_RESULTS.md).

Not part of the test suite: at 1M rows it takes hours on the 2-core reference machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GFLOPS_PER_CORE = 41.0  # docs/cluster-plan.md: the chunk Gram products, measured per core
READ_GBPS = 1.5  # docs/cluster-plan.md's assumed file-system rate per node


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _rss(pid: int) -> int:
    """RSS in bytes of process ``pid`` alone; 0 when it is gone (the engine's own reader)."""
    import psutil

    from daudit.engine.memory import _rss as rss

    try:
        return rss(psutil.Process(pid))
    except psutil.Error:
        return 0


def _is_worker(pid: int) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"spawn_main" in cmd  # distributed starts its worker processes with multiprocessing spawn


def run_monitored(cmd, env, log: Path) -> dict:
    """Run ``cmd`` with its output in ``log``; wall time, exit code, peak RSS of the client process
    and of each worker process (sampled every 0.5 s)."""
    from daudit.engine.memory import tree_rss

    t0 = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
        peaks, client, tree = {}, 0, 0
        while proc.poll() is None:
            client = max(client, _rss(proc.pid))
            tree = max(tree, tree_rss(proc.pid))
            for child in _children(proc.pid):
                if _is_worker(child):
                    peaks[child] = max(peaks.get(child, 0), tree_rss(child))
            time.sleep(0.5)
    return {"wall": time.perf_counter() - t0, "rc": proc.returncode, "client_peak": client, "tree_peak": tree,
            "worker_peaks": sorted(peaks.values(), reverse=True), "output": log.read_text(errors="replace")}


def _spec(path: Path, data: Path, out: Path, *, rows: int, workers: int | None, memory: int, full: bool,
          lanes: int | None = None) -> Path:
    models = ["  - type: LinearRegression", "  - type: Ridge", "    alpha: [0.001, 0.01, 0.1, 1.0, 10.0, 100.0]"]
    if full:
        models += ["  - type: LightGBM", "    n_estimators: 100", "    max_depth: 6", "    learning_rate: 0.1"]
    compute = [f"  memory_limit: {memory}", "  chunk_rows: 2048", "  zarr_cache: false", "  stats_cache: false",
               "  dashboard_address: '127.0.0.1:0'"]
    compute += ["  scheduler: local", f"  n_workers: {workers}"] if workers else ["  scheduler: threads"]
    if lanes:
        compute.append(f"  fold_lanes: {lanes}")
    text = "\n".join([
        'experiment_id: "LOGG-ERR-1M"', "data:", f"  train_path: '{data}/train/dataset_*.h5'",
        f"  val_path: '{data}/val/dataset.h5'", f"  test_path: '{data}/test/dataset.h5'",
        f"  num_samples: {rows}", "  num_test_samples: 10000", "  param: log_g", "input: {X: error, y: log_g}",
        "models:", *models, "noise_levels: [0.0, 0.5, 1.0]", "seed: 42", f"output_dir: '{out}'", "compute:", *compute,
        "" if full else "sanity: {enabled: false}"])
    path.write_text(text + "\n")
    return path


def plan_prediction(rows: int, p: int, cores: int) -> dict:
    """docs/cluster-plan.md's model for this machine: seconds per pass from its FLOP counts and
    per-core rate, reads at its file-system rate (one node)."""
    rate = GFLOPS_PER_CORE * 1e9 * cores
    gram = rows * p * p * 2
    read = rows * p * 4 / (READ_GBPS * 1e9)
    return {"statistics pass": gram / rate + read,
            "sanity train pass (shuffled + mask Gram + X^T Y_perm)": (2 * gram + rows * p * 211 * 2) / rate + read,
            "prediction pass": rows * p * 21 * 2 / rate + read,
            "lightgbm fit (109 s per 100k rows, linear)": 109.0 * rows / 100_000 * 2 / cores}


def _linear_rows(summary) -> dict:
    return {(r["noise_level"], r["model"]): r for r in summary["metrics"] if r["model"] != "LightGBM"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--shards", type=int, default=5)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--worker-memory", default="2GB", help="memory limit of each worker process")
    ap.add_argument("--data", type=Path, default=Path("/work/bench_data/1m"))
    ap.add_argument("--keep", action="store_true", help="keep the simulated data")
    ap.add_argument("--out", type=Path, default=None,
                    help="results file (default bench/cluster_RESULTS.md; with --linear-only "
                         "bench/cluster_linear_RESULTS.md)")
    ap.add_argument("--linear-only", action="store_true",
                    help="only the agreement: the linear family on the cluster and in one process, folding in "
                         "the cluster's lanes (compute.fold_lanes) and in the default one")
    args = ap.parse_args()
    if args.out is None:
        args.out = ROOT / "bench" / ("cluster_linear_RESULTS.md" if args.linear_only else "cluster_RESULTS.md")

    from daudit.core.spec import parse_bytes
    from daudit.engine.cluster import WORKER_SHARE
    from daudit.simulate import demo_is_complete

    worker_mem = parse_bytes(args.worker_memory)
    memory = int(worker_mem * args.workers / WORKER_SHARE) + 1  # daudit gives workers this share of the limit
    work = args.data.parent / f"{args.data.name}-runs"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    t0 = time.perf_counter()
    if not demo_is_complete(args.data):
        subprocess.run([sys.executable, "-m", "daudit", "simulate", "--out", str(args.data), "--train", str(args.rows),
                        "--val", "10000", "--test", "10000", "--shards", str(args.shards), "--quiet", "--force"], cwd=ROOT,
                       check=True)
    sim = time.perf_counter() - t0
    env = {"DAUDIT_CACHE_DIR": str(work / "cache"), "PYTHONPATH": str(ROOT)}
    if args.linear_only:
        report = _linear_only(args, work, env, sim, memory)
        args.out.write_text(report)
        print(report)
        shutil.rmtree(work, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(args.data, ignore_errors=True)
        return
    spec_a = _spec(work / "cluster.yaml", args.data, work / "cluster", rows=args.rows, workers=args.workers,
                   memory=memory, full=True)
    a = run_monitored([sys.executable, "-m", "daudit", "run", "--config", str(spec_a)], env, work / "cluster.stdout")
    spec_b = _spec(work / "single.yaml", args.data, work / "single", rows=args.rows, workers=None, memory=memory,
                   full=False)
    b = run_monitored([sys.executable, "-m", "daudit", "run", "--config", str(spec_b)], env, work / "single.stdout")
    report = _report(args, a, b, work, sim, worker_mem, memory)
    args.out.write_text(report)
    print(report)
    shutil.rmtree(work, ignore_errors=True)
    if not args.keep:
        shutil.rmtree(args.data, ignore_errors=True)


def _compare(sa, sb) -> tuple[float, int, int, int]:
    """(largest relative difference, numbers compared, numbers not bit-equal, models) over the
    train/val/test R2, test MAE and RMSE of every linear model of two summaries."""
    ra, rb = _linear_rows(sa), _linear_rows(sb)
    worst, n, unequal = 0.0, 0, 0
    for key, r in rb.items():
        for k in ("train_r2", "val_r2", "test_r2", "test_mae", "test_rmse"):
            x, y = r[k], ra[key][k]
            worst = max(worst, abs(x - y) / max(abs(x), 1e-300))
            n += 1
            unequal += x != y
    return worst, n, unequal, len(rb)


def _linear_only(args, work, env, sim, memory) -> str:
    """The linear family on the cluster and in one process in ``args.workers`` lanes (the same
    order of the sums), and in one process in its default single lane."""
    plan = [("cluster", args.workers, args.workers), ("single", None, args.workers), ("single-default", None, None)]
    runs, summaries = {}, {}
    for name, workers, lanes in plan:
        spec = _spec(work / f"{name}.yaml", args.data, work / name, rows=args.rows, workers=workers, memory=memory,
                     full=False, lanes=lanes)
        runs[name] = run_monitored([sys.executable, "-m", "daudit", "run", "--config", str(spec)], env,
                                   work / f"{name}.stdout")
        if runs[name]["rc"] == 0:
            summaries[name] = json.loads((work / name / "summary.json").read_text())
    cores = os.cpu_count() or 1
    lines = [f"# {args.rows:,} x 4096: the linear numbers of a cluster and of one process", "",
             f"Measured by `python bench/cluster_1m.py --linear-only` on {dt.date.today().isoformat()}; machine: "
             f"{platform.machine()}, {cores} cores, "
             f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM; load average at the "
             f"end {os.getloadavg()[0]:.1f}. Data: {args.rows} train spectra in {args.shards} shards, 10k val, 10k "
             f"test (simulated in {sim:.0f} s; 0 when already there), read straight from HDF5, no statistics cache. "
             "OLS and 6 Ridge alphas at noise levels 0, 0.5, 1; no LightGBM, no checks. The cluster folds the "
             f"chunk sums in one lane per worker ({args.workers}); one process does so with "
             f"`compute.fold_lanes: {args.workers}` (the same order), and in one lane without it (the default).", ""]
    failed = [f"{name} exit {r['rc']}" for name, r in runs.items() if r["rc"] != 0]
    if failed:
        lines += ["FAILED: " + ", ".join(failed), "", "```",
                  "".join(r["output"] for r in runs.values() if r["rc"] != 0)[-3000:], "```"]
        return "\n".join(lines) + "\n"
    lines += ["| run | scheduler | fold lanes | wall s | statistics pass s | peak RSS GiB |",
              "|---|---|---|---|---|---|"]
    for name, _, _ in plan:
        r, s = runs[name], summaries[name]
        sch = s["scheduler"]
        peak = (f"client {r['client_peak'] / 2**30:.2f}, workers "
                + ", ".join(f"{w / 2**30:.2f}" for w in r["worker_peaks"]) if r["worker_peaks"]
                else f"{r['tree_peak'] / 2**30:.2f}")
        lines.append(f"| {name} | {sch.get('kind')} ({sch.get('n_workers')} worker(s)) | {sch.get('fold_lanes')} | "
                     f"{r['wall']:.0f} | {s['timings']['stages'].get('statistics pass', 0):.0f} | {peak} |")
    lines.append("")
    for other, what in (("single", "the same lanes"), ("single-default", "the default single lane")):
        worst, n, unequal, models = _compare(summaries["cluster"], summaries[other])
        lines.append(f"- cluster against one process in {what}: {n} numbers (train/val/test R2, test MAE and RMSE "
                     f"of {models} linear models), {unequal} not bit-equal; largest relative difference "
                     f"{worst:.2e} ({'within' if worst <= 1e-9 else 'NOT within'} 1e-9).")
    g = summaries["cluster"]["gate"]
    lines += ["", f"Gate-1 (every run): {g['verdict']}, best test R2 {g['best_test_r2']:.4f} ({g['best_model']})."
              + ("" if all(s["gate"]["verdict"] == g["verdict"] for s in summaries.values()) else " VERDICTS DIFFER.")]
    return "\n".join(lines) + "\n"


def _report(args, a, b, work, sim, worker_mem, memory) -> str:
    """Long because it is the results file, section by section, in the order a reader needs."""
    cores = os.cpu_count() or 1
    lines = ["# The user's scale: 1M x 4096 in five shards on a LocalCluster of 4 workers", "",
             f"Measured by `python bench/cluster_1m.py` on {dt.date.today().isoformat()}; machine: {platform.machine()}, "
             f"{cores} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM; load "
             f"average at the end {os.getloadavg()[0]:.1f}. Data: {args.rows} train spectra in {args.shards} shards, "
             f"10k val, 10k test, simulated in {sim:.0f} s (0 when already there). Reads straight from HDF5 "
             "(`zarr_cache: false`, to keep the disk use at the 37 GB of the shards); cold (no statistics cache).", ""]
    if a["rc"] != 0 or b["rc"] != 0:
        lines += [f"FAILED: cluster run exit {a['rc']}, single-process run exit {b['rc']}", "", "```",
                  (a["output"] + b["output"])[-3000:], "```"]
        return "\n".join(lines) + "\n"
    sa = json.loads((work / "cluster" / "summary.json").read_text())
    sb = json.loads((work / "single" / "summary.json").read_text())
    stages = sa["timings"]["stages"]
    peaks = sa["timings"].get("peak_rss_gib", {})
    lines += [f"## Full spec on {args.workers} worker processes (memory limit {worker_mem / 2**30:.2f} GiB each; "
              f"compute.memory_limit {memory / 2**30:.2f} GiB)", "",
              f"Wall {a['wall']:.0f} s, exit {a['rc']}. Peak RSS: client process {a['client_peak'] / 2**30:.2f} GiB; "
              f"workers " + ", ".join(f"{w / 2**30:.2f}" for w in a["worker_peaks"]) + " GiB "
              f"({'every one under' if all(w < worker_mem for w in a['worker_peaks']) else 'NOT all under'} its "
              f"{worker_mem / 2**30:.2f} GiB limit); whole tree {a['tree_peak'] / 2**30:.2f} GiB.", "",
              "| stage | seconds | peak RSS of the tree (GiB) |", "|---|---|---|"]
    lines += [f"| {k} | {v:.0f} | {peaks.get(k, '')} |" for k, v in stages.items()]
    lg = sa.get("lightgbm", {})
    lines += ["", f"LightGBM: {lg.get('backend')} on {lg.get('n_train_rows_used')} of {lg.get('n_train_rows')} rows, "
              f"bin sample {lg.get('bin_construct_sample_cnt')}" + (f"; {lg['backend_note']}" if lg.get("backend_note")
                                                                    else "") + ".",
              f"Gate-1: {sa['gate']['verdict']}, best test R2 {sa['gate']['best_test_r2']:.4f} ({sa['gate']['best_model']})."]
    worst, _, _, models = _compare(sa, sb)
    lines += ["", "## Linear numbers: cluster against one process on the same shards", "",
              f"One process (threads scheduler, linear family only): wall {b['wall']:.0f} s, peak "
              f"{b['tree_peak'] / 2**30:.2f} GiB. Largest relative difference over train/val/test R2, test MAE and "
              f"RMSE of {models} linear models: {worst:.2e} ({'within' if worst <= 1e-9 else 'NOT within'} 1e-9)."]
    pred = plan_prediction(args.rows, 4096, cores)
    measured = {"statistics pass": stages.get("statistics pass"), "prediction pass": stages.get("prediction pass"),
                "lightgbm fit (109 s per 100k rows, linear)": stages.get("lightgbm fit")}
    lines += ["", f"## Against docs/cluster-plan.md's model (its rates, this machine's {cores} cores)", "",
              "| pass | model s | measured s |", "|---|---|---|"]
    for k, v in pred.items():
        m = measured.get(k)
        lines.append(f"| {k} | {v:.0f} | {'' if m is None else f'{m:.0f}'} |")
    lines += ["", "The statistics pass here is the one pass the audit and the checks share (the model's statistics "
              "and sanity train passes together)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
