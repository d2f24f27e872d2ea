"""Where LightGBM's fit time goes: Dataset construction and ``lgb.train``, per Dataset path.

Reads the first ``--rows`` demo train spectra through daudit's own zarr cache (set
``DAUDIT_CACHE_DIR``), plans the fit as the audit does (`plan_lightgbm`, 4 GB limit) and times, in
one process and alternating over ``--repeats`` rounds: (a) today's `lightgbm.Sequence` path,
(b) the floor, LightGBM on the same rows as an in-memory float32 array with the same Dataset
parameters, (c) the block path (`daudit.models.lgbm_blocks.build_dataset`), (d) the binary Dataset cache
(`cached_dataset`: a miss in the first round, then hits).

    DAUDIT_CACHE_DIR=/tmp/cache-x DAUDIT_DEMO_DIR=... python bench/lgbm_dataset.py --rows 20000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lightgbm as lgb  # noqa: E402
import numpy as np  # noqa: E402


def _open(rows: int):
    from daudit.core.paths import demo_dir
    from daudit.data.cache import ZarrCache
    from daudit.data.pfsspec import load_pfsspec

    return load_pfsspec([f"{demo_dir()}/train/dataset.h5"], n_rows=rows, param="log_g", zarr_cache=ZarrCache())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--paths", default="seq,floor,block")
    args = ap.parse_args()
    from daudit.engine.cluster import main_budget
    from daudit.engine.memory import RssMonitor, release_memory, tree_rss
    from daudit.models import boosting as bo

    split = _open(args.rows)
    x, y = split.error, split.y
    p = split.n_pixels
    plan = bo.plan_lightgbm(x.chunks[0], p, main_budget(4 * 10**9, p), rng=np.random.default_rng(42))
    print(f"plan: {plan.reason}; bin_construct_sample_cnt={plan.bin_construct_sample_cnt}", flush=True)
    ds_params = {"bin_construct_sample_cnt": plan.bin_construct_sample_cnt, "verbose": -1, "seed": 42}
    train_params = {"objective": "regression", "max_depth": 6, "learning_rate": 0.1, "seed": 42, "verbose": -1,
                    "bin_construct_sample_cnt": plan.bin_construct_sample_cnt,
                    "histogram_pool_size": bo.histogram_pool_mb(p)}

    def seq_ds():
        seq = type("S", (bo.DaskRowSequence, lgb.Sequence), {})(x, plan.chunks)
        return lgb.Dataset(seq, label=y[seq.rows()], params=ds_params, free_raw_data=True).construct()

    def floor_ds():
        arr = np.asarray(x.compute(scheduler="synchronous"), dtype=np.float32)
        return lgb.Dataset(arr, label=y, params=ds_params, free_raw_data=True).construct()

    def block_ds():
        from daudit.models.lgbm_blocks import build_dataset
        return build_dataset(x, y, plan.chunks, ds_params)

    import tempfile

    from daudit.data.cache import FileCache
    from daudit.data.splits import stats_cache_key
    from daudit.models.lgbm_blocks import cached_dataset, dataset_cache_key

    cache = FileCache(Path(tempfile.mkdtemp(prefix="lgbm-bench-", dir=os.environ.get("DAUDIT_CACHE_DIR"))))
    key = dataset_cache_key(stats_cache_key(split, "lgbm", chunk_rows=2048), plan.chunks, ds_params)

    def cached_ds():  # the first call builds and saves (a miss), later calls read the binary Dataset
        ds, hit = cached_dataset(cache, key, x, y, plan.chunks, ds_params)
        print(f"  cache {'hit' if hit else 'miss (built and saved)'}", flush=True)
        return ds

    makers = {"seq": seq_ds, "floor": floor_ds, "block": block_ds, "cached": cached_ds}
    preds = {}
    print(f"load average {os.getloadavg()}", flush=True)
    for r in range(args.repeats):
        for name in args.paths.split(","):
            release_memory()
            base = tree_rss()
            t0, c0 = time.perf_counter(), time.process_time()
            with RssMonitor(interval=0.05) as mon, mon.section("construct"):
                ds = makers[name]()
            t1, c1 = time.perf_counter(), time.process_time()
            peak = (mon.peaks["construct"] - base) / 2**20
            booster = lgb.train(train_params, ds, num_boost_round=args.trees) if args.trees else None
            t2, c2 = time.perf_counter(), time.process_time()
            if booster is not None:
                preds[name] = booster.predict(np.asarray(x.blocks[0].compute()))
            print(f"round {r} {name:6s} construct {t1 - t0:6.2f} s (cpu {c1 - c0:6.2f} s, peak +{peak:.0f} MiB)  "
                  f"train {t2 - t1:6.2f} s (cpu {c2 - c1:6.2f} s)  "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
            del ds, booster
    ref = preds.get("seq")
    for name, pr in preds.items():
        if ref is not None:
            print(f"{name}: max |pred - seq pred| = {np.max(np.abs(pr - ref)):.3g}")


if __name__ == "__main__":
    main()
