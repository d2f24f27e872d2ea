"""Property tests (hypothesis): the statistics do not depend on how the rows are cut or ordered,
and the spec loader answers any YAML with a spec or one `DauditError`, never a traceback."""

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daudit.core.errors import DauditError
from daudit.core.spec import load_spec, parse_spec
from daudit.models.stats import combine_stats, gram_chunk, reduce_stats

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _data(seed, n, p):
    rng = np.random.default_rng(seed)
    # Physical-unit scale and an offset, as in real error arrays: the shift must keep precision.
    x = (1e-17 * (5 + rng.normal(size=(n, p)))).astype(np.float32)
    y = 3 + rng.normal(size=n) + 1e16 * x[:, : min(3, p)].sum(axis=1)
    return x, y


def _stats(x, y, cuts, order=None, shift_rows=None):
    shift_rows = shift_rows if shift_rows is not None else x[: max(1, cuts[1] if len(cuts) > 1 else len(x))]
    xs = np.asarray(shift_rows, np.float64).mean(axis=0)
    ys = np.array([3.0])
    parts = [gram_chunk(x[a:b], y[a:b], x_shift=xs, y_shift=ys) for a, b in zip(cuts[:-1], cuts[1:])]
    if order is not None:
        parts = [parts[i] for i in order]
    return reduce_stats(parts).centered()


def _close(a, b):
    scale = np.abs(a.sxx).max()
    np.testing.assert_allclose(a.sxx, b.sxx, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(a.sxy, b.sxy, rtol=1e-9, atol=1e-9 * np.abs(a.sxy).max())
    np.testing.assert_allclose(a.syy, b.syy, rtol=1e-9)
    np.testing.assert_allclose(a.x_mean, b.x_mean, rtol=1e-9)
    assert a.n == b.n


def _cuts(draw, n):
    k = draw(st.integers(0, min(8, n - 1)))
    inner = sorted(draw(st.sets(st.integers(1, n - 1), min_size=k, max_size=k)))
    return [0, *inner, n]


@st.composite
def cut_problem(draw):
    n = draw(st.integers(2, 120))
    p = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**16))
    return seed, n, p, _cuts(draw, n), _cuts(draw, n)


@FAST
@given(cut_problem(), st.randoms(use_true_random=False))
def test_stats_invariant_to_chunking_and_chunk_order(problem, rnd):
    seed, n, p, cuts_a, cuts_b = problem
    x, y = _data(seed, n, p)
    ref = _stats(x, y, [0, n], shift_rows=x[:1])
    a = _stats(x, y, cuts_a, shift_rows=x[:1])
    order = list(range(len(cuts_b) - 1))
    rnd.shuffle(order)
    b = _stats(x, y, cuts_b, order=order, shift_rows=x[:1])
    _close(ref, a)
    _close(ref, b)


@FAST
@given(cut_problem(), st.integers(0, 2**16))
def test_stats_invariant_to_row_order_and_shift(problem, perm_seed):
    seed, n, p, cuts_a, _ = problem
    x, y = _data(seed, n, p)
    perm = np.random.default_rng(perm_seed).permutation(n)
    ref = _stats(x, y, [0, n], shift_rows=x[:1])
    shuffled = _stats(x[perm], y[perm], cuts_a, shift_rows=x[perm][: cuts_a[1]])
    _close(ref, shuffled)


@FAST
@given(cut_problem(), st.sampled_from([1, 2, 3, 512]))
def test_deferred_chunks_accumulate_the_same_gram(problem, panel):
    """Chunks added in column panels straight into the accumulator (no p x p partial) give the
    Gram of whole products: the same sums (bitwise on the reference machine at 512-column panels;
    to rounding here, whatever the panel width)."""
    from daudit.models import stats as st_mod
    from daudit.models.stats import gram_merge

    seed, n, p, cuts, _ = problem
    x, y = _data(seed, n, p)
    shift, ys = x[:1].astype(np.float64).mean(axis=0), np.array([3.0])
    whole = [gram_chunk(x[a:b], y[a:b], x_shift=shift, y_shift=ys) for a, b in zip(cuts[:-1], cuts[1:])]
    lazy = [gram_chunk(x[a:b], y[a:b], x_shift=shift, y_shift=ys, defer=True) for a, b in zip(cuts[:-1], cuts[1:])]
    acc_w, acc_l = whole[0], lazy[0]
    old = st_mod.PANEL
    try:
        st_mod.PANEL = panel
        for w, lz in zip(whole[1:], lazy[1:]):
            acc_w, acc_l = gram_merge(acc_w, w), gram_merge(acc_l, lz)
        acc_l.settle()
    finally:
        st_mod.PANEL = old
    assert acc_l.pending is None and acc_l.n == acc_w.n
    np.testing.assert_allclose(acc_l.xtx, acc_w.xtx, rtol=1e-12, atol=1e-12 * np.abs(acc_w.xtx).max())
    np.testing.assert_array_equal(acc_l.sum_x, acc_w.sum_x)


def test_combine_refuses_different_shifts():
    x, y = _data(0, 10, 2)
    a = gram_chunk(x[:5], y[:5], x_shift=np.zeros(2), y_shift=np.zeros(1))
    b = gram_chunk(x[5:], y[5:], x_shift=np.ones(2), y_shift=np.zeros(1))
    with pytest.raises(ValueError, match="different shifts"):
        combine_stats(a, b)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.data())
def test_streamed_gram_invariant_to_dask_chunks_and_shard_split_points(tmp_path_factory, data):
    """Through the real reader and Dask pass: shards cut anywhere, any chunk size, same stats."""
    import dask
    from pfsspec_factory import linear_leak_dataset, write_pfsspec

    from daudit.data.pfsspec import load_pfsspec
    from daudit.engine.streaming import first_block_shift
    from daudit.models.passes import gram_graph

    n, p = 300, 8
    err, logg = linear_leak_dataset(n, p, seed=3)
    root = tmp_path_factory.mktemp("shards")
    one = write_pfsspec(root / "one.h5", err, {"log_g": logg})
    cuts = _cuts(data.draw, n)
    shards = [write_pfsspec(root / f"s{i:02d}.h5", err[a:b], {"log_g": logg[a:b]}, chunk_rows=17)
              for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:]))]
    chunk_a, chunk_b = data.draw(st.integers(16, 400)), data.draw(st.integers(16, 400))
    with dask.config.set(scheduler="synchronous"):
        s1 = load_pfsspec([str(one)], n_rows=None, param="log_g", chunk_rows=chunk_a)
        s2 = load_pfsspec([str(p) for p in shards], n_rows=None, param="log_g", chunk_rows=chunk_b)
        shift = first_block_shift(s1.error)
        y0 = np.array([3.0])
        g1 = gram_graph(s1.error, s1.y, x_shift=shift, y_shift=y0).compute()
        g2 = gram_graph(s2.error, s2.y, x_shift=shift, y_shift=y0).compute()
    _close(g1.centered(), g2.centered())
    np.testing.assert_array_equal(s1.y, s2.y)


# --- spec loader fuzz ----------------------------------------------------------------------

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(allow_nan=True),
                     st.text(max_size=12), st.sampled_from(["error", "log_g", "Ridge", "LightGBM", "local", "4GB",
                                                            "LinearRegression", "../x", "/abs", "r2_bar_chart"]))
_KEYS = st.sampled_from(["experiment_id", "data", "input", "models", "noise_levels", "seed", "plots", "compute",
                         "sanity", "output_dir", "author", "repo_path", "train_path", "val_path", "test_path",
                         "num_samples", "param", "type", "alpha", "X", "y", "chunk_rows", "scheduler",
                         "memory_limit", "n_workers", "fold_lanes", "enabled", "snr_bins", "save", "n_estimators",
                         "bogus"])
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(_KEYS, inner, max_size=5)), max_leaves=25)

_BASE = {"experiment_id": "FUZZ-01", "data": {"train_path": "a.h5", "val_path": "b.h5", "test_path": "c.h5"},
         "models": [{"type": "LinearRegression"}, {"type": "Ridge", "alpha": [0.1]}]}


def _outcome(raw):
    try:
        parse_spec(raw, source="fuzz.yaml")
    except DauditError as err:
        msg = str(err)
        assert msg.startswith("spec fuzz.yaml: ") and "\n" not in msg, msg


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, max_size=8))
def test_spec_fuzz_random_mappings(raw):
    _outcome(raw)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["data", "models", "compute", "sanity", "plots", "input", "noise_levels", "seed",
                        "experiment_id", "output_dir"]), _VALUES)
def test_spec_fuzz_one_bad_section_in_a_good_spec(key, value):
    raw = {**_BASE, key: value}
    _outcome(raw)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_spec_fuzz_random_text_through_load_spec(tmp_path, text):
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_spec(path)
    except DauditError as err:
        assert "\n" not in str(err)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200))
def test_spec_fuzz_random_bytes_through_load_spec(tmp_path, blob):
    path = tmp_path / "spec.yaml"
    path.write_bytes(blob)
    try:
        load_spec(path)
    except DauditError as err:
        assert "\n" not in str(err)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_VALUES)
def test_spec_fuzz_yaml_dumped_values(tmp_path, value):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**_BASE, "compute": value}), encoding="utf-8")
    try:
        load_spec(path)
    except DauditError as err:
        assert "\n" not in str(err)


@pytest.mark.parametrize("text", ["seed: " + "9" * 400, "plots: true", "compute: {chunk_rows: 1e400}",
                                  "noise_levels: [.nan]", "models: {type: Ridge}", "input: [error]",
                                  "[" * 2000, "data: !!binary aGVsbG8="])
def test_spec_found_by_fuzzing(tmp_path, text):
    """Inputs that once crashed (or could crash) the loader with a traceback."""
    base = yaml.safe_dump(_BASE)
    path = tmp_path / "spec.yaml"
    path.write_text(text if text.startswith("[") else base + text + "\n")
    with pytest.raises(DauditError):
        load_spec(path)
