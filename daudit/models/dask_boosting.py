"""LightGBM across the Dask workers (`lightgbm.dask`) on the row chunks a `LightGBMPlan` chose.

Data-parallel training: the chunks are spread round-robin over the workers, each worker bins
and histograms the chunks it holds and the workers agree on every split over LightGBM's own
sockets, so the rows never travel to the client. Each worker finds the bin boundaries of a
share of the features from its own rows, so the trees are close to, not equal to, those of
`daudit.models.boosting.fit_lightgbm` on the same rows, and they depend on which worker gets which
rank (lightgbm.dask's choice): two runs on one cluster may differ in the third decimal of R2.

At the peak (Dataset construction) a worker holds its chunks twice (the Dask parts and
lightgbm.dask's concatenation of them), the binned copy, the bin sample and LightGBM's
histogram cache:

    bytes ~ (2 itemsize + 1.2) n_w p  +  18 s_w p  +  8 * 255 * 16 p

with n_w the worker's rows and s_w = min(n_w, bin_construct_sample_cnt): each worker samples
that many of its own rows, as the in-process fit does of all rows (measured: 552 MiB above an
idle worker for 20k rows x 1024 float32, 596 MiB estimated, before the histogram cache was capped
at eight histograms as in `daudit.models.boosting`). `cluster_client` uses the cluster
only when the busiest worker's share fits its memory limit; the plan itself is sized for the
client, which can therefore always train in-process instead.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings

import dask.array as da
import numpy as np
from distributed import default_client
from lightgbm.dask import DaskLGBMRegressor

from daudit.models.boosting import (  # one memory model for both paths
    BINNED_BYTES,
    SAMPLE_BYTES,
    histogram_bytes,
    histogram_pool_mb,
)

__all__ = ["plan_arrays", "worker_bytes", "worker_memory", "cluster_client", "fit_lightgbm_dask"]

log = logging.getLogger("daudit")

_USABLE = 0.8  # of a worker's memory limit: distributed pauses a worker there (and kills it at 95%)
_WORKER_BASE = 256 * 2**20  # an idle worker process with numpy, dask and lightgbm imported
_TIME_OUT_MIN = 10  # LightGBM's socket time-out (its default is 120 minutes: a lost peer would hang the run)


def plan_arrays(x, y: np.ndarray, chunks):
    """The plan's row chunks of ``x`` (dask (n, p)) and their labels.

    Returns ``(x_used, y_used)``: a dask array (n_used, p) and a numpy array (n_used,).
    """
    if x.numblocks[1] != 1:
        x = x.rechunk({1: -1})  # lightgbm.dask wants whole rows in every part
    chunks = [int(c) for c in chunks]
    off = np.concatenate([[0], np.cumsum(x.chunks[0])])
    rows = np.concatenate([np.arange(off[c], off[c + 1]) for c in chunks])
    return x.blocks[chunks], np.asarray(y, dtype=np.float64)[rows]


def worker_bytes(chunk_sizes, plan, n_features: int, n_workers: int, *, itemsize: int = 4) -> int:
    """Peak bytes on the busiest worker when the plan's chunks spread evenly over ``n_workers``."""
    sizes = sorted((int(chunk_sizes[c]) for c in plan.chunks), reverse=True)
    n_w = sum(sizes[:-(-len(sizes) // max(1, n_workers))])
    s_w = min(n_w, int(plan.bin_construct_sample_cnt))
    return int(((2 * itemsize + BINNED_BYTES) * n_w + SAMPLE_BYTES * s_w) * n_features + histogram_bytes(n_features))


def worker_memory(client) -> tuple[int, int | None]:
    """``(n_workers, bytes one worker may give LightGBM)``; bytes is None when no limit is set."""
    workers = client.scheduler_info().get("workers", {})
    limits = [int(w.get("memory_limit") or 0) for w in workers.values()]
    if not limits or not all(limits):
        return len(limits), None
    return len(limits), max(int(_USABLE * min(limits)) - _WORKER_BASE, 0)


def cluster_client(scheduler: dict, x, plan):
    """The client to train on with lightgbm.dask, or None; and a one-line note why not (or None).

    scheduler : `daudit.engine.cluster.dask_context` info. Needs a distributed cluster with two or more
    workers now (external clusters may gain workers after the start) and workers whose memory
    limit holds their share of the plan's rows (`worker_bytes`).
    """
    if scheduler.get("kind") not in ("local-cluster", "external"):
        return None, None

    client = default_client()
    n_workers, usable = worker_memory(client)
    if n_workers < 2:
        return None, None
    need = worker_bytes(x.chunks[0], plan, x.shape[1], n_workers, itemsize=x.dtype.itemsize)
    if usable is not None and need > usable:
        return None, (f"lightgbm.dask not used: a worker would need about {need / 2**30:.2f} GiB for its share "
                      f"of the {plan.n_rows_used} rows, its memory limit leaves {usable / 2**30:.2f} GiB "
                      f"({n_workers} workers); raise compute.memory_limit or use fewer, larger workers")
    return client, None


def fit_lightgbm_dask(client, x, y: np.ndarray, plan, params: dict, *, transform=None):
    """Fit LightGBM with `lightgbm.dask.DaskLGBMRegressor` on the plan's chunks.

    x : dask array (n, p), row chunks as planned; y : (n,) labels (numpy);
    plan : `daudit.models.boosting.LightGBMPlan`; params : `daudit.models.boosting.lightgbm_params` output.
    Same booster parameters as `daudit.models.boosting.fit_lightgbm`; ``num_threads`` is each worker's
    thread count (lightgbm.dask sets it). Returns a plain ``lightgbm.Booster``; the number of
    workers that trained is ``booster.params['num_machines']``.
    """

    if transform is not None:
        x = x.map_blocks(transform, dtype=x.dtype)
    x_used, y_used = _spread(client, *plan_arrays(x, y, plan.chunks))
    model = DaskLGBMRegressor(
        client=client, objective=params["objective"], n_estimators=int(params["n_estimators"]),
        max_depth=int(params["max_depth"]), learning_rate=float(params["learning_rate"]),
        random_state=int(params["random_state"]), subsample_for_bin=int(plan.bin_construct_sample_cnt),
        tree_learner="data", time_out=_TIME_OUT_MIN, verbose=-1,
        histogram_pool_size=histogram_pool_mb(x.shape[1]),
    )
    chatter = io.StringIO()  # lightgbm.dask prints its progress in the client
    with warnings.catch_warnings(), contextlib.redirect_stdout(chatter):
        warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
        model.fit(x_used, y_used)
    for line in chatter.getvalue().splitlines():
        log.debug("lightgbm.dask: %s", line)
    return model.booster_


def _spread(client, x, y):
    """Place the row chunks of ``x`` (dask) round-robin on the workers (sorted by address) and
    each chunk's labels (numpy, sent from here) beside it: the even share `worker_bytes`
    assumes, and every worker takes part. Returns dask arrays (n, p) and (n,), chunked alike."""

    names = sorted(client.scheduler_info()["workers"])
    off = np.concatenate([[0], np.cumsum(x.chunks[0])])
    xs, ys = [], []
    for i, xb in enumerate(x.to_delayed().ravel()):
        where = [names[i % len(names)]]
        # a preference, not a pin: if that worker dies, the chunk is computed elsewhere
        fx = client.compute(xb, workers=where, allow_other_workers=True)
        fy = client.scatter(y[off[i]:off[i + 1]], workers=where, hash=False)
        xs.append(da.from_delayed(fx, shape=(off[i + 1] - off[i], x.shape[1]), dtype=x.dtype))
        ys.append(da.from_delayed(fy, shape=(off[i + 1] - off[i],), dtype=y.dtype))
    return da.concatenate(xs), da.concatenate(ys)
