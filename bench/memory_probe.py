"""Where the memory of a run goes: measured peaks of single stages on the demo data.

Each case runs in a fresh subprocess (glibc settings are per process) and prints the peak RSS
of its process tree above the RSS it started the stage with. Writes bench/memory_RESULTS.md,
which `run_bench.py` appends to bench/RESULTS.md.

Cases:
- prediction pass (linear models + LightGBM on train/val/test) on daudit's default in-process
  Dask worker: the booster as a graph key against daudit's `SharedBooster` inside the task,
  with and without `daudit.engine.memory.tune_allocator` (glibc trim threshold 64 KiB);
- the train pass the audit and the checks share, at 100k rows: one lane with reads gated two
  chunks ahead (the default), two lanes, and one lane with ungated reads;
- LightGBM's peak against the plan's memory model (`daudit.models.boosting.lightgbm_bytes`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class _Peak:
    def __init__(self):
        from daudit.engine.memory import tree_rss

        self.rss, self.peak, self.base = tree_rss, 0, 0
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            self.peak = max(self.peak, self.rss())
            time.sleep(0.05)

    def start(self):
        self.base = self.rss()
        self.peak = self.base

    def above(self) -> float:
        return (self.peak - self.base) / 2**30


def _splits():
    from daudit.app.runspec import with_demo_data
    from daudit.core.spec import DEFAULT_SPEC_PATH, load_spec
    from daudit.pipeline import run as pipeline

    return pipeline.open_data(with_demo_data(load_spec(DEFAULT_SPEC_PATH)))


def _cluster():
    import logging

    import dask
    from distributed import Client, LocalCluster

    off = {"distributed.worker.memory.target": False, "distributed.worker.memory.spill": False,
           "distributed.worker.memory.pause": False, "distributed.worker.memory.terminate": False}
    with dask.config.set(off):  # as daudit's default: one in-process worker, in-memory comms
        cluster = LocalCluster(n_workers=1, threads_per_worker=os.cpu_count(), processes=False, protocol="inproc://",
                               dashboard_address=None, silence_logs=logging.ERROR)
    return Client(cluster)


def case_pred(mode: str) -> dict:
    """mode: 'key' (booster as a graph key, the old form), 'shared' (daudit's form: a
    SharedBooster inside functools.partial), 'shared-notrim' (the same, glibc defaults)."""
    if mode != "shared-notrim":
        from daudit.engine.memory import tune_allocator

        tune_allocator()
    import functools

    import lightgbm as lgb
    import numpy as np
    from dask import delayed

    from daudit.core.progress import compute
    from daudit.data.splits import quality_counts_graph
    from daudit.engine.streaming import predict_block
    from daudit.models.boosting import SharedBooster, predict_block_lgbm

    splits = _splits()
    probe = _Peak()
    client = _cluster()
    x0 = np.asarray(splits["train"].error[:4000].compute(scheduler="threads"))
    booster = lgb.train({"objective": "regression", "max_depth": 6, "verbose": -1},
                        lgb.Dataset(x0, splits["train"].y[:4000]), num_boost_round=100)
    coef = np.random.default_rng(0).normal(size=(x0.shape[1], 19))
    graphs = []
    for k in ("train", "val", "test"):
        x = splits[k].error
        c, b = delayed(np.ascontiguousarray(coef)), delayed(np.zeros(19))  # x @ coef + b, block by block
        graphs.append(x.map_blocks(predict_block, c, b, dtype=np.float64, chunks=(x.chunks[0], (19,)),
                                   meta=np.empty((0, 0))))
        meta = {"dtype": np.float64, "chunks": (x.chunks[0], (1,)), "meta": np.empty((0, 0))}
        if mode == "key":
            graphs.append(x.map_blocks(predict_block_lgbm, delayed(booster), **meta))
        else:
            graphs.append(x.map_blocks(functools.partial(predict_block_lgbm, booster=SharedBooster(booster)), **meta))
    graphs += [quality_counts_graph(splits[k]) for k in ("val", "test")]
    probe.start()
    t0 = time.perf_counter()
    compute(*graphs, desc="prediction pass")
    out = {"seconds": time.perf_counter() - t0, "peak_above_gib": probe.above()}
    client.close()
    return out


def case_train(lanes: int, prefetch: int) -> dict:
    """The train pass the audit and the checks share (X^T X and every check's sums), 100k rows."""
    from daudit.engine.memory import tune_allocator

    tune_allocator()
    import numpy as np

    from daudit.checks import passes
    from daudit.checks.permutation import PermutationKeys
    from daudit.checks.train_chunk import TrainConfig
    from daudit.core.progress import compute
    from daudit.engine.streaming import first_block_shift, fold_graph

    splits = _splits()
    tr = splits["train"]
    y = tr.y
    rng = np.random.default_rng(0)
    shift = first_block_shift(tr.error)
    cfg = TrainConfig(seed=42, level=1.0, shuffle=True, mask=True, aggregates=True, x_shift=shift,
                      y_shift=np.array([y.mean()]), shuffle_shift=float(shift.mean()),
                      perm_keys=PermutationKeys.draw(len(y), 200, rng), gram=True)
    group = rng.permuted(np.repeat(y[:, None], 10, axis=1), axis=0)

    def patched(step, args, merge, **kw):  # the pass's own graph with other fold settings
        return fold_graph(step, args, merge, lanes=lanes, prefetch=prefetch, into=kw.get("into", False))

    passes.fold_graph = patched
    probe = _Peak()
    client = _cluster()
    probe.start()
    t0 = time.perf_counter()
    compute(passes.train_pass_graph(tr, cfg, group_y=group, with_mask=True), desc="train pass")
    out = {"seconds": time.perf_counter() - t0, "peak_above_gib": probe.above()}
    client.close()
    return out


def case_lgbm(n: int, sample: int) -> dict:
    import gc

    import lightgbm as lgb
    import numpy as np

    from daudit.models.boosting import histogram_pool_mb, lightgbm_bytes

    tr = _splits()["train"]
    x = np.asarray(tr.error[:n].compute(scheduler="threads"), dtype=np.float32)
    y = tr.y[:n]
    gc.collect()
    probe = _Peak()
    probe.start()
    ds = lgb.Dataset(x, label=y, params={"bin_construct_sample_cnt": sample, "verbose": -1}, free_raw_data=True)
    lgb.train({"objective": "regression", "max_depth": 6, "learning_rate": 0.1, "verbose": -1,
               "histogram_pool_size": histogram_pool_mb(x.shape[1])}, ds, num_boost_round=100)
    return {"peak_above_gib": probe.above(), "model_gib": lightgbm_bytes(n, sample, x.shape[1]) / 2**30}


def _run(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--case", *args], cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"case {args} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--case":
        name, *rest = sys.argv[2:]
        fn = {"pred": lambda: case_pred(rest[0]), "train": lambda: case_train(int(rest[0]), int(rest[1])),
              "lgbm": lambda: case_lgbm(int(rest[0]), int(rest[1]))}[name]
        print(json.dumps(fn()))
        return
    sys.path.insert(0, str(ROOT / "bench"))
    from run_bench import ensure_demo

    ensure_demo()
    lines = ["# Memory of single stages (bench/memory_probe.py)", "",
             f"Measured on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores; peak RSS of the process tree above "
             "its RSS when the stage started, demo data (100k/10k/10k x 4096), each case in a fresh process.", "",
             "| stage | setting | seconds | peak above start (GiB) |", "|---|---|---|---|"]
    for mode, label in (("key", "booster as a graph key (delayed), trim threshold 64 KiB"),
                        ("shared-notrim", "SharedBooster in functools.partial, glibc defaults"),
                        ("shared", "SharedBooster in functools.partial, trim threshold 64 KiB (daudit's default)")):
        r = _run(["pred", mode])
        lines.append(f"| prediction pass, LightGBM in the in-process worker | {label} | {r['seconds']:.1f} | "
                     f"{r['peak_above_gib']:.2f} |")
        print(lines[-1], flush=True)
    for lanes, prefetch, label in ((1, 2, "one lane, reads gated 2 chunks ahead (default)"),
                                   (2, 2, "two lanes, reads gated 2 chunks ahead"),
                                   (1, 10**6, "one lane, reads not gated")):
        r = _run(["train", str(lanes), str(prefetch)])
        lines.append(f"| the train pass (audit's X^T X and the checks' sums), 100k rows | {label} | "
                     f"{r['seconds']:.1f} | {r['peak_above_gib']:.2f} |")
        print(lines[-1], flush=True)
    lines += ["", "LightGBM (100 trees, depth 6) on n x 4096 float32 rows: peak against the plan's model "
              "`1.2 n p + 18 s p + 8*255*16 p` (s = bin sample):", "",
              "| rows | bin sample | measured peak (GiB) | model (GiB) |", "|---|---|---|---|"]
    for n, s in ((20000, 5000), (20000, 20000), (100000, 10000)):
        r = _run(["lgbm", str(n), str(s)])
        lines.append(f"| {n} | {s} | {r['peak_above_gib']:.2f} | {r['model_gib']:.2f} |")
        print(lines[-1], flush=True)
    (ROOT / "bench" / "memory_RESULTS.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
