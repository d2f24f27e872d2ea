"""Memory bounds: the peak monitor, the budget arithmetic and the gated reads of a fold."""

import threading

import numpy as np


def test_rss_monitor_sees_an_allocation_inside_its_section():
    from daudit.engine.memory import RssMonitor, tree_rss

    base = tree_rss()
    with RssMonitor(interval=0.02) as mon:
        with mon.section("alloc"):
            a = np.ones(40_000_000)  # 320 MB, touched
            a.sum()
            del a
    assert mon.peaks["alloc"] - base > 250 * 2**20


def test_tree_rss_counts_child_processes():
    """psutil-based readings include a child's memory (the Dask worker processes), on any OS."""
    import subprocess
    import sys

    from daudit.engine.memory import tree_rss

    code = ("import sys, numpy as np; a = np.ones(40_000_000); a.sum(); print('ready', flush=True); "
            "sys.stdin.readline()")  # 320 MB touched, held until told to go
    before = tree_rss()
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        with_child = tree_rss()
        alone = tree_rss(child.pid)
    finally:
        child.communicate("go\n", timeout=60)
    assert alone > 300 * 2**20
    assert with_child - before > 250 * 2**20
    assert tree_rss(child.pid) == 0  # gone: no reading, no error


def test_budgets_shrink_with_the_limit_and_refits_fit_them():
    from daudit.checks.lgbm_plan import MIN_ROWS, plan_refits
    from daudit.engine.cluster import TARGET_SHARE, main_budget, resident_bytes
    from daudit.models.boosting import lightgbm_bytes, plan_lightgbm

    p = 4096
    b4, b2, b1 = (main_budget(g * 2**30, p) for g in (4, 2, 1))
    assert b4 > b2 >= b1 == 256 * 2**20
    assert b4 + resident_bytes(p) <= TARGET_SHARE * 4 * 2**30 + 1

    def refits(budget):
        return plan_refits(n_train=100_000, n_features=p, n_mask=p, main_rows=100_000, main_sample=200_000,
                           trees=100, max_rows=20_000, max_null_rows=3_000, n_permutations=20, threads=2,
                           budget_bytes=budget)

    for budget in (b4, b2, 2**30, b1):
        r = refits(budget)
        assert r.bin_sample <= min(r.rows, 10_000)
        assert r.estimated_bytes <= budget or (r.rows == MIN_ROWS and r.threads == 1)  # the floor may not fit
    assert refits(b4).rows == 20_000 and refits(b1).rows == MIN_ROWS
    plan = plan_lightgbm([2048] * 48 + [1696], p, b4, rng=np.random.default_rng(0))
    assert plan.n_rows_used == 100_000 and lightgbm_bytes(100_000, plan.bin_construct_sample_cnt, p) <= b4


def test_fold_reads_at_most_prefetch_chunks_ahead():
    import dask
    import dask.array as da

    from daudit.engine.streaming import fold_graph

    events, lock = [], threading.Lock()

    def log(kind, i):
        with lock:
            events.append((kind, i))

    def read(block, block_info=None):
        log("read", block_info[0]["chunk-location"][0])
        return block

    def step(block, i):
        log("step", i)
        return block.sum()

    x = da.ones((40, 3), chunks=(2, 3)).map_blocks(read, dtype=float)
    n = x.numblocks[0]
    for prefetch in (1, 2, 3):
        events.clear()
        with dask.config.set(scheduler="threads", num_workers=4):
            total = fold_graph(step, [(x.blocks[i], i) for i in range(n)], lambda a, b: a + b,
                               prefetch=prefetch).compute()
        assert total == 120
        pos = {e: k for k, e in enumerate(events)}
        for i in range(prefetch, n):
            assert pos[("step", i - prefetch)] < pos[("read", i)]


def test_shared_booster_is_rebuilt_once_per_process_and_predicts_the_same():
    import pickle

    import lightgbm as lgb

    from daudit.models import boosting
    from daudit.models.boosting import SharedBooster

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5))
    y = x[:, 0] * 2 + rng.normal(scale=0.1, size=300)
    b = lgb.train({"objective": "regression", "verbose": -1}, lgb.Dataset(x, y), num_boost_round=5)
    shared = SharedBooster(b)
    one, two = pickle.loads(pickle.dumps(shared)), pickle.loads(pickle.dumps(shared))
    assert one.booster is b and two.booster is b  # same process: the trained Booster itself
    boosting._SHARED.clear()  # as in another process
    three, four = pickle.loads(pickle.dumps(shared)), pickle.loads(pickle.dumps(shared))
    assert three.booster is four.booster and three.booster is not b
    np.testing.assert_array_equal(three.predict(x), b.predict(x))


def test_every_lane_of_the_train_pass_counts_against_the_limit(tmp_path):
    """compute.fold_lanes > 1 holds one set of Gram accumulators per lane: a 1 GB limit that a
    4096-pixel audit fits in one lane is refused up front in four, with the smallest limit."""
    import pytest
    from pfsspec_factory import write_spec, write_split_set

    from daudit.core.errors import DauditError
    from daudit.core.spec import load_spec
    from daudit.pipeline.memory_plan import check_memory_limit

    data = write_split_set(tmp_path / "data", n_train=40, n_val=20, n_test=20, p=4096)
    path = write_spec(tmp_path / "spec.yaml", data, output_dir=tmp_path / "out", chunk_rows=2048)
    text = path.read_text().replace("memory_limit: 2GB", "memory_limit: 1GB")
    path.write_text(text)
    one_lane = check_memory_limit(load_spec(path))
    assert one_lane <= 2**30
    path.write_text(text.replace("scheduler: synchronous,", "scheduler: synchronous, fold_lanes: 4,"))
    with pytest.raises(DauditError, match="the smallest limit it can honour is") as err:
        check_memory_limit(load_spec(path))
    # four lanes of the train pass: the float64 Gram and the checks' two float32 Grams (two of
    # 8 p^2 bytes together) and about 24 bytes per value of the chunks in flight, each
    four = 4 * (2 * 8 * 4096**2 + 24 * 2048 * 4096)
    assert f"{(320 * 2**20 + four) / 0.9 / 2**30:.2f} GiB" in str(err.value)
