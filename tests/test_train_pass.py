"""The one pass over train (issue 17): the audit's statistics and every check's, against dense
oracles, and the statistics cache serving a second run with the same numbers."""

import json

import dask
import numpy as np
import pytest
from pfsspec_factory import write_spec, write_split_set
from planted import label_mask, write_planted

from daudit.checks import prepare, train_finish
from daudit.checks.passes import train_pass_graph
from daudit.checks.permutation import PermutationKeys
from daudit.checks.transforms import aggregate_features, shuffle_chunk
from daudit.core.spec import load_spec
from daudit.data.splits import open_data
from daudit.engine.streaming import row_offsets
from daudit.models.passes import gram_graph
from daudit.models.stats import gram_chunk
from daudit.pipeline.context import AuditContext
from daudit.pipeline.run import run_audit


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    root = tmp_path_factory.mktemp("tp")
    spec = load_spec(write_planted(root, _maker, n_train=700, n_val=100, n_test=100, p=40, mask=label_mask,
                                   extra="sanity: {n_permutations_linear: 7, n_group_shuffles: 3}"))
    c = AuditContext(spec=spec, splits=open_data(spec), rng=np.random.default_rng(0),
                     scheduler={"kind": "synchronous", "n_workers": 1})
    c.check_plan = prepare(c.spec, c.splits)
    return c


def _maker(n, p, *, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.uniform(1, 5, n)
    err = (1 + 0.3 * rng.normal(size=(n, p))) * (1 + 0.05 * y[:, None])
    return err.astype(np.float32), y


def _dense(ctx):
    train = ctx.splits["train"]
    x = np.asarray(train.error.compute(scheduler="synchronous"), dtype=np.float32)
    m = np.asarray(train.mask.compute(scheduler="synchronous")) != 0
    return train, x, m


def test_one_pass_equals_dense_oracles(ctx):
    plan = ctx.check_plan
    train, x, m = _dense(ctx)
    cfg = plan.cfg.__class__(**{**plan.cfg.__dict__, "gram": True})
    with dask.config.set(scheduler="synchronous"):
        (tp,) = dask.compute(train_pass_graph(train, cfg, group_y=plan.group_y, with_mask=True, lanes=3))
        (alone,) = dask.compute(gram_graph(train.error, train.y, x_shift=cfg.x_shift, y_shift=cfg.y_shift, lanes=3))
    # the audit's statistics are the statistics pass's own, to the bit
    for k in ("sum_x", "xtx", "xty", "yty"):
        np.testing.assert_array_equal(getattr(tp.gram, k), getattr(alone, k))
    st = train_finish(tp, cfg)
    y = train.y
    # shuffled Gram: the chunks shuffled by their own generators, then a float64 product
    off = row_offsets(train.error)
    xs = np.concatenate([shuffle_chunk(x[a:b], seed=cfg.seed, split="train", chunk_index=i)
                         for i, (a, b) in enumerate(zip(off[:-1], off[1:]))]).astype(np.float64)
    ref = gram_chunk(xs, y, x_shift=xs.mean(0), y_shift=np.array([y.mean()])).centered()
    got = st.shuffled.centered()
    np.testing.assert_allclose(got.sxx, ref.sxx, rtol=1e-5, atol=1e-5 * np.abs(ref.sxx).max())
    np.testing.assert_allclose(got.sxy, ref.sxy, rtol=1e-6, atol=1e-6 * np.abs(ref.sxy).max())
    # mask Gram over the pixels ever bad (the file's mask OR a stored NaN / non-positive error): exact counts
    raw = np.asarray(train.error_raw.compute(scheduler="synchronous"))
    m = m | ~np.isfinite(raw) | (raw <= 0)
    cols = np.flatnonzero(m.any(0))
    np.testing.assert_array_equal(st.mask.cols, cols)
    np.testing.assert_array_equal(st.mask.xtx, m[:, cols].T.astype(float) @ m[:, cols])
    # X^T Y of the permuted labels (keys) and the group shuffles
    yy = np.hstack([plan.perm_keys.labels(y, np.arange(len(y))), plan.group_y])
    sxy, syy, ymean = st.cross.centered()
    xc = x.astype(np.float64) - x.mean(0)
    np.testing.assert_allclose(sxy, xc.T @ (yy - yy.mean(0)), rtol=1e-4, atol=1e-4 * np.abs(sxy).max())
    np.testing.assert_allclose(ymean, yy.mean(0), rtol=1e-12)
    np.testing.assert_allclose(st.aggregates, aggregate_features(cfg.level * x), rtol=1e-12)


def test_permutation_keys_are_bijections_with_uniform_positions():
    rng = np.random.default_rng(1)
    for n in (1, 2, 3, 5, 8, 9, 100, 1000, 4097):
        idx = PermutationKeys.draw(n, 4, rng).labels(np.arange(n, dtype=float), np.arange(n)).astype(int)
        assert all(np.array_equal(np.sort(idx[:, j]), np.arange(n)) for j in range(4)), n
    # where row 0 lands over 4000 permutations of 8: uniform (chi-square, 7 dof, p ~ 1e-4 cut)
    counts = np.bincount(PermutationKeys.draw(8, 4000, rng).indices(np.array([0]))[0], minlength=8)
    assert ((counts - 500) ** 2 / 500).sum() < 29
    # two different rows never collide, and rows spread independently of their neighbours
    pos = PermutationKeys.draw(500, 2000, rng).indices(np.array([0, 1]))
    assert np.all(pos[0] != pos[1]) and abs(np.corrcoef(pos[0], pos[1])[0, 1]) < 0.1


def test_warm_run_reuses_both_caches_and_gives_the_same_numbers(tmp_path, monkeypatch):
    monkeypatch.setenv("DAUDIT_CACHE_DIR", str(tmp_path / "cache"))
    data = write_split_set(tmp_path / "data", n_train=500, n_val=150, n_test=150, p=24)
    spec_path = write_spec(tmp_path / "spec.yaml", data, output_dir=tmp_path / "out", chunk_rows=100, lightgbm=False,
                           extra="sanity: {n_permutations_lightgbm: 3}")
    spec_path.write_text(spec_path.read_text().replace("memory_limit: 2GB}", "memory_limit: 2GB, stats_cache: true}"))
    cold = run_audit(load_spec(spec_path), output_dir=tmp_path / "out", echo=lambda *a: None)
    warm = run_audit(load_spec(spec_path), output_dir=tmp_path / "out", echo=lambda *a: None)
    log = (tmp_path / "out" / "run.log").read_text()
    assert "reused cached sufficient statistics" in log and "reused the checks' cached train statistics" in log
    assert "train pass" not in log.split("reused the checks")[1].split("stage eigendecomposition")[0]
    def values(rows):
        return json.dumps([{k: v for k, v in r.items() if k != "fit_seconds"} for r in rows])

    assert values(cold["metrics"]) == values(warm["metrics"])
    for key in ("wavelength_shuffle", "mask_only", "aggregate_stats", "group_shuffle", "permutation", "gate"):
        assert json.dumps(cold["sanity"][key], sort_keys=True) == json.dumps(warm["sanity"][key], sort_keys=True), key
