"""The block-built LightGBM Dataset (daudit.models.lgbm_blocks) trains the same trees as LightGBM's own paths."""

import dask.array as da
import lightgbm as lgb
import numpy as np
import pytest

from daudit.models.boosting import DaskRowSequence
from daudit.models.lgbm_blocks import build_dataset

TRAIN = {"objective": "regression", "max_depth": 4, "learning_rate": 0.1, "seed": 3, "verbose": -1,
         "num_threads": 1}


def _planted(n=600, p=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p)).astype(np.float32)
    x[:, 5] = 0.0  # a column of zeros and one of mostly zeros: LightGBM leaves zeros out of its sample
    x[rng.random(n) < 0.7, 7] = 0.0
    x[rng.random(n) < 0.05, 9] = np.nan
    y = 2.0 * x[:, 0] - np.nan_to_num(x[:, 7]) + 0.1 * rng.normal(size=n)
    return x, y


@pytest.mark.parametrize("sample_cnt", [600, 250])
def test_block_dataset_trains_the_same_booster_as_lightgbm_sequence_and_in_memory(sample_cnt):
    """Same bin sample and parameters: the model (trees, thresholds, leaves) equals LightGBM's own
    Sequence path (and its in-memory path when every row is in the bin sample), predictions to 1e-12."""
    x, y = _planted()
    xd = da.from_array(x, chunks=(100, x.shape[1]))
    chunks = (0, 2, 3, 5)  # a subsample of whole chunks, as plan_lightgbm makes
    ds_params = {"bin_construct_sample_cnt": sample_cnt, "verbose": -1, "seed": 3}
    params = {**TRAIN, "bin_construct_sample_cnt": sample_cnt}
    seq = type("Seq", (DaskRowSequence, lgb.Sequence), {})(xd, chunks)
    rows = seq.rows()
    oracle_seq = lgb.train(params, lgb.Dataset(seq, label=y[rows], params=ds_params), num_boost_round=15)
    oracle_mem = lgb.train(params, lgb.Dataset(x[rows], label=y[rows], params=ds_params), num_boost_round=15)
    ds = build_dataset(xd, y, chunks, ds_params)
    assert ds.num_data() == len(rows)
    new = lgb.train(params, ds, num_boost_round=15)
    assert new.model_to_string() == oracle_seq.model_to_string()
    if sample_cnt >= len(rows):  # LightGBM's in-memory path samples other rows when it subsamples
        assert new.model_to_string() == oracle_mem.model_to_string()
    np.testing.assert_allclose(new.predict(x), oracle_seq.predict(x), rtol=0, atol=1e-12)


def test_block_dataset_applies_the_transform_per_block():
    x, y = _planted(seed=1)
    xd = da.from_array(x, chunks=(128, x.shape[1]))
    ds_params = {"bin_construct_sample_cnt": 300, "verbose": -1, "seed": 3}
    params = {**TRAIN, "bin_construct_sample_cnt": 300}
    t = lambda b: np.abs(b)  # noqa: E731
    seq = type("Seq", (DaskRowSequence, lgb.Sequence), {})(xd, range(5), transform=t)
    oracle = lgb.train(params, lgb.Dataset(seq, label=y, params=ds_params), num_boost_round=10)
    new = lgb.train(params, build_dataset(xd, y, range(5), ds_params, transform=t), num_boost_round=10)
    assert new.model_to_string() == oracle.model_to_string()
