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


def _fit(xd, y, cache, rows_key, n_trees=8):
    from daudit.core.spec import LightGBMSpec
    from daudit.models.boosting import fit_lightgbm, lightgbm_params, plan_lightgbm

    plan = plan_lightgbm(xd.chunks[0], xd.shape[1], 2**30, rng=np.random.default_rng(0))
    params = lightgbm_params(LightGBMSpec(n_estimators=n_trees, max_depth=4), seed=3, n_threads=1)
    return fit_lightgbm(xd, y, plan, params, cache=cache, rows_key=rows_key)


class _Spy:
    def __init__(self, monkeypatch):
        import daudit.models.lgbm_blocks as mod

        self.calls, real = 0, mod.build_dataset

        def spy(*a, **k):
            self.calls += 1
            return real(*a, **k)
        monkeypatch.setattr(mod, "build_dataset", spy)


def test_second_fit_reads_the_cached_dataset_and_predicts_the_same(tmp_path, monkeypatch):
    from daudit.data.cache import FileCache

    x, y = _planted()
    xd = da.from_array(x, chunks=(100, x.shape[1]))
    cache, spy = FileCache(tmp_path, "lgbm"), _Spy(monkeypatch)
    first = _fit(xd, y, cache, {"rows": "planted-0"})
    assert spy.calls == 1 and len(list((tmp_path / "lgbm").glob("lgbm-dataset-*/data.bin"))) == 1
    second = _fit(xd, y, cache, {"rows": "planted-0"})
    assert spy.calls == 1  # no Dataset constructed from the rows the second time
    oracle = _fit(xd, y, None, None)  # no cache
    np.testing.assert_allclose(second.predict(x), oracle.predict(x), rtol=0, atol=1e-12)
    np.testing.assert_allclose(first.predict(x), oracle.predict(x), rtol=0, atol=1e-12)


def test_damaged_or_foreign_cached_dataset_is_rebuilt_not_trusted(tmp_path, monkeypatch):
    import json
    import zlib

    from daudit.data.cache import FileCache

    x, y = _planted()
    xd = da.from_array(x, chunks=(100, x.shape[1]))
    cache, spy = FileCache(tmp_path, "lgbm"), _Spy(monkeypatch)
    oracle = _fit(xd, y, None, None).predict(x)
    _fit(xd, y, cache, {"rows": "planted-0"})
    entry = next((tmp_path / "lgbm").glob("lgbm-dataset-*"))
    # damaged: one byte flipped in the middle of the binary file
    raw = bytearray((entry / "data.bin").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (entry / "data.bin").write_bytes(bytes(raw))
    calls = spy.calls
    np.testing.assert_allclose(_fit(xd, y, cache, {"rows": "planted-0"}).predict(x), oracle, rtol=0, atol=1e-12)
    assert spy.calls == calls + 1
    # foreign: another data set's binary Dataset, sealed with this key's manifest (sizes and digests
    # its own): the loaded rows' labels differ, so it is refused and rebuilt
    x2, y2 = _planted(seed=5)
    _fit(da.from_array(x2, chunks=(100, x.shape[1])), y2, cache, {"rows": "planted-5"})
    other = next(p for p in (tmp_path / "lgbm").glob("lgbm-dataset-*") if p != entry)
    raw = (other / "data.bin").read_bytes()
    (entry / "data.bin").write_bytes(raw)
    meta = json.loads((entry / "daudit-manifest.json").read_text())
    meta["files"]["data.bin"] = [len(raw), zlib.crc32(raw)]
    meta["sha256"] = json.loads((other / "daudit-manifest.json").read_text())["sha256"]
    (entry / "daudit-manifest.json").write_text(json.dumps(meta))
    calls = spy.calls
    np.testing.assert_allclose(_fit(xd, y, cache, {"rows": "planted-0"}).predict(x), oracle, rtol=0, atol=1e-12)
    assert spy.calls == calls + 1
    _fit(xd, y, cache, {"rows": "planted-0"})
    assert spy.calls == calls + 1  # the refused entry was replaced by the rebuilt one
    # a different key (other Dataset parameters or rows) never reads this entry
    calls = spy.calls
    _fit(xd, y, cache, {"rows": "planted-0", "transform": "other"})
    assert spy.calls == calls + 1


def test_pipeline_second_fit_reuses_the_cached_dataset(tmp_path, monkeypatch):
    """The audit's call site: a second LightGBM fit on the same train split reads the binary Dataset
    from the cache beside the statistics; another label set (same file) does not."""
    from types import SimpleNamespace

    from daudit.pipeline.run import AuditContext, _fit_lightgbm

    monkeypatch.setenv("DAUDIT_CACHE_DIR", str(tmp_path / "cache"))
    spy = _Spy(monkeypatch)
    x, y = _planted()
    src = tmp_path / "train.h5"
    src.write_bytes(b"stand-in for the source file")  # only its identity enters the key

    def fit(labels):
        spec = SimpleNamespace(lightgbm=SimpleNamespace(n_estimators=5, max_depth=3, learning_rate=0.1),
                               noise_levels=[1.0], seed=42,
                               compute=SimpleNamespace(memory_limit=2**31, stats_cache=True, chunk_rows=100))
        train = SimpleNamespace(error=da.from_array(x, chunks=(100, x.shape[1])), y=labels, n_pixels=x.shape[1],
                                paths=[str(src)], rows_per_file=[len(labels)], param="log_g", row_index=None)
        ctx = AuditContext(spec=spec, splits={"train": train}, rng=np.random.default_rng(0),
                           scheduler={"kind": "in-process"})
        _fit_lightgbm(ctx)
        return ctx.booster.predict(x)

    first = fit(y)
    assert spy.calls == 1 and list((tmp_path / "cache" / "stats").glob("lgbm-dataset-*/data.bin"))
    np.testing.assert_allclose(fit(y), first, rtol=0, atol=1e-12)
    assert spy.calls == 1
    fit(-y)
    assert spy.calls == 2
