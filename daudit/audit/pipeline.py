"""One audit run: spec -> data -> statistics -> models -> checks -> outputs -> report.

Everything is written into a staging folder beside the output folder and swapped in at the end,
with ``summary.json`` last (`daudit.output.staging`), so an interrupted run never leaves outputs
that look finished and the previous results stay intact until the new ones are complete.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from pathlib import Path

import numpy as np

from daudit.audit.context import AuditContext
from daudit.audit.summary import build_summary
from daudit.checks import run_sanity_checks
from daudit.core.progress import Bar, compute
from daudit.core.schema import write_summary
from daudit.core.spec import AuditSpec
from daudit.data.splits import check_splits, open_data, quality_counts_graph, stats_cache, stats_cache_key
from daudit.data.validate import drop_empty_rows
from daudit.engine.cluster import dask_context, main_budget
from daudit.engine.memory import RssMonitor
from daudit.engine.streaming import first_block_shift, fold_lanes, predict_graph
from daudit.models.boosting import (
    SharedBooster,
    fit_lightgbm,
    lightgbm_log_to_debug,
    lightgbm_params,
    plan_lightgbm,
    predict_block_lgbm,
)
from daudit.models.dask_boosting import cluster_client, fit_lightgbm_dask
from daudit.models.gpu import GramAccumulator, decompose_cuda
from daudit.models.importance import importance_summary, importance_table
from daudit.models.linear import decompose, fit_family
from daudit.models.metrics import metrics_rows
from daudit.models.passes import gram_graph
from daudit.models.selection import best_by_val
from daudit.models.stats import GramStats
from daudit.output.staging import staged_output
from daudit.output.writers import write_figures, write_report, write_tables

__all__ = ["run_audit", "AuditContext", "open_data"]

log = logging.getLogger("daudit")


def _fit_linear(ctx: AuditContext, counts_graphs):
    train = ctx.splits["train"]
    x = train.error
    cache = stats_cache(ctx.spec)
    key = stats_cache_key(train, "gram-error", chunk_rows=ctx.spec.compute.chunk_rows) if cache is not None else None
    hit = cache.load(key) if cache is not None else None
    with ctx.stage("statistics pass"):
        if hit is not None:
            log.info("statistics pass: reused cached sufficient statistics")
            stats = GramStats(n=int(hit["n"]), **{k: hit[k] for k in _GRAM_FIELDS})
            counts = [hit["counts"]]
        elif ctx.spec.compute.device == "cuda":
            stats = _gram_on_gpu(x, train.y)
            counts = list(compute(*counts_graphs, desc="NaN / non-positive counts"))
        else:
            shift = first_block_shift(x)
            y0 = np.array([train.y[: x.chunks[0][0]].mean()])
            stats, *counts = compute(gram_graph(x, train.y, x_shift=shift, y_shift=y0,
                                                lanes=fold_lanes(ctx.scheduler)), *counts_graphs,
                                     desc="statistics pass (X^T X, X^T y)", rows=train.n_rows)
            if cache is not None:
                cache.save(key, {"n": stats.n, "counts": counts[0], **{k: getattr(stats, k) for k in _GRAM_FIELDS}})
    with ctx.stage("eigendecomposition"):
        if ctx.spec.compute.device == "cuda":
            ctx.eigen = decompose_cuda(stats)
        else:
            ctx.eigen = decompose(stats)
    ctx.train_stats = stats.centered()
    for level in ctx.spec.noise_levels:
        t0 = time.time()
        ctx.fits[level] = fit_family(ctx.eigen, ctx.spec.alphas, include_ols=ctx.spec.include_ols,
                                     noise_level=level)
        ctx.fits[level].solve_seconds = time.time() - t0
        for note in ctx.fits[level].notes:
            log.warning("noise level %g: %s", level, note)
    return counts


def _gram_on_gpu(x, y):
    """The statistics pass with the products on a CUDA device; chunks read in order here."""

    off = np.concatenate([[0], np.cumsum(x.chunks[0])])
    first = np.asarray(x.blocks[0].compute(scheduler="synchronous"))
    acc = GramAccumulator(first.astype(np.float64).mean(0), np.array([y[: len(first)].mean()]))
    with Bar(len(x.chunks[0]), "statistics pass on GPU", unit="chunk") as bar:
        for i in range(len(x.chunks[0])):
            block = first if i == 0 else np.asarray(x.blocks[i].compute(scheduler="synchronous"))
            acc.add(block, y[off[i]:off[i + 1]])
            bar.update()
    return acc.result()


_GRAM_FIELDS = ("x_shift", "y_shift", "sum_x", "sum_y", "xtx", "xty", "yty")


def _fit_lightgbm(ctx: AuditContext):
    spec = ctx.spec
    if spec.lightgbm is None or not any(level > 0 for level in spec.noise_levels):
        return
    train = ctx.splits["train"]
    x = train.error
    ctx.lgbm_plan = plan_lightgbm(x.chunks[0], train.n_pixels, main_budget(spec.compute.memory_limit, train.n_pixels),
                                  rng=np.random.default_rng(spec.seed))
    log.info("LightGBM: %s", ctx.lgbm_plan.reason)
    ctx.lgbm_params = lightgbm_params(spec.lightgbm, seed=spec.seed)
    client, note = cluster_client(ctx.scheduler, x, ctx.lgbm_plan)
    ctx.lgbm_backend = {"backend": "in-process"}
    if client is not None:
        t0 = time.time()
        try:
            with ctx.stage("lightgbm fit"):
                ctx.booster = fit_lightgbm_dask(client, x, train.y, ctx.lgbm_plan, ctx.lgbm_params)
            ctx.lgbm_backend["backend"] = f"lightgbm.dask ({ctx.booster.params.get('num_machines', '?')} workers)"
        except Exception as err:  # noqa: BLE001
            # Fall back instead of failing: the plan was sized for this process, so the in-process
            # fit holds the same rows, and an error here would discard the passes already done
            # (tens of minutes at 1M rows) over a choice that does not change what is measured.
            note = (f"lightgbm.dask failed after {time.time() - t0:.0f}s ({type(err).__name__}: "
                    f"{str(err).splitlines()[0] if str(err) else ''}); trained in-process instead")
            log.warning("LightGBM: %s", note)
    elif note:
        log.info("LightGBM: %s", note)
    if note:
        ctx.lgbm_backend["backend_note"] = note
    if ctx.booster is None:
        with ctx.stage("lightgbm fit"), Bar(spec.lightgbm.n_estimators, "LightGBM boosting", unit="tree") as bar:
            ctx.booster = fit_lightgbm(x, train.y, ctx.lgbm_plan, ctx.lgbm_params, progress=bar)
    log.info("LightGBM: trained %s on %d rows", ctx.lgbm_backend["backend"], ctx.lgbm_plan.n_rows_used)


def _predict(ctx: AuditContext, extra_graphs=()):
    """One streamed pass per split for all linear models at all levels (and LightGBM)."""

    levels = [lv for lv in ctx.spec.noise_levels if not ctx.fits[lv].degenerate]
    # Level-L models act on L * x: fold L into the coefficients so one product serves all.
    coef = np.concatenate([lv * ctx.fits[lv].coef[:, :, 0].T for lv in levels], axis=1) if levels else None
    icpt = np.concatenate([ctx.fits[lv].intercept[:, 0] for lv in levels]) if levels else None
    graphs = []
    for name in ("train", "val", "test"):
        x = ctx.splits[name].error
        graphs.append(predict_graph(x, coef, icpt) if levels else None)
        if ctx.booster is not None:
            # inside the task (not a graph key) and rebuilt at most once per process: measured
            # +0.6 GiB for this pass against +2.1 GiB with delayed(booster) (bench/memory_probe.py)
            lgbm = functools.partial(predict_block_lgbm, booster=SharedBooster(ctx.booster))
            graphs.append(x.map_blocks(lgbm, dtype=np.float64, chunks=(x.chunks[0], (1,)), meta=np.empty((0, 0))))
        else:
            graphs.append(None)
    todo = [g for g in graphs if g is not None] + list(extra_graphs)
    with ctx.stage("prediction pass"):
        done = list(compute(*todo, desc="prediction pass (train, val, test)",
                            rows=sum(s.n_rows for s in ctx.splits.values())))
    out = [done.pop(0) if g is not None else None for g in graphs]
    preds = {}
    for i, name in enumerate(("train", "val", "test")):
        preds[name] = {"linear": out[2 * i], "lightgbm": out[2 * i + 1]}
    return preds, levels, done


def _metrics(ctx: AuditContext, preds, levels):
    y = {k: s.y for k, s in ctx.splits.items()}
    ymean = ctx.splits["train"].y.mean()
    rows, col = [], 0
    lgbm_secs = ctx.timings.get("lightgbm fit")
    for level in ctx.spec.noise_levels:
        fit = ctx.fits[level]
        m = len(fit.names)
        if fit.degenerate:
            p = {k: np.full((len(v), m), ymean) for k, v in y.items()}
        else:
            p = {k: preds[k]["linear"][:, col:col + m] for k in y}
            col += m
        for split in ("val", "test"):
            for i, name in enumerate(fit.names):
                ctx.predictions[split][(float(level), name)] = p[split][:, i]
        per_model = [getattr(fit, "solve_seconds", 0.0) / m] * m
        rows += metrics_rows(level, fit.names, fit.alphas, y, p,
                             train_from_stats=(fit.train_r2[:, 0], fit.train_rmse[:, 0]),
                             fit_seconds=per_model, degenerate=fit.degenerate)
        if ctx.spec.lightgbm is not None:
            deg = level == 0 or ctx.booster is None
            p = {k: (np.full(len(v), ymean) if deg else preds[k]["lightgbm"][:, 0]) for k, v in y.items()}
            for split in ("val", "test"):
                ctx.predictions[split][(float(level), "LightGBM")] = p[split]
            rows += metrics_rows(level, ["LightGBM"], [None], y, {k: v[:, None] for k, v in p.items()},
                                 fit_seconds=[0.0 if deg else lgbm_secs], degenerate=deg)
    return rows


def _importance(ctx: AuditContext):
    ref = max(ctx.spec.noise_levels)
    fit = ctx.fits[ref]
    train = ctx.splits["train"]
    if fit.degenerate:
        return None, None
    x_std = ref * np.sqrt(ctx.train_stats.x_var)
    gain = ctx.booster.feature_importance("gain") if ctx.booster is not None else None
    table = importance_table(train.wave, ctx.train_stats.x_mean, fit.names, fit.coef[:, :, 0], x_std, gain)
    primary = best_by_val(ctx.metrics, level=ref)
    summ = importance_summary(table, train.wave, fit.names, primary=primary)
    summ["reference_noise_level"] = ref
    return table, summ


def run_audit(spec: AuditSpec, *, output_dir: Path, echo=print, drop_bad_labels: bool = False,
              splits: dict | None = None) -> dict:
    """Run the whole audit and return the summary (also written as ``summary.json``).

    ``drop_bad_labels``: leave out rows with a NaN or infinite label instead of refusing them.
    ``splits``: the three `SpectraSplit` to audit (e.g. built from in-memory arrays), checked like
    opened files; default: open ``spec.data``'s files.
    """
    out = Path(output_dir)
    t_start = time.time()
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with (staged_output(out, echo=echo, experiment_id=spec.experiment_id) as staging, RssMonitor() as monitor,
          lightgbm_log_to_debug()):
        log.info("daudit run %s -> %s", spec.experiment_id, out)
        ctx = AuditContext(spec=spec, splits={}, rng=np.random.default_rng(spec.seed), memory=monitor)
        with ctx.stage("open data"):
            ctx.splits = (open_data(spec, drop_bad_labels=drop_bad_labels) if splits is None
                          else check_splits(spec, splits, drop_bad_labels=drop_bad_labels))
        for k, s in ctx.splits.items():
            echo(f"{k}: {s.n_rows} spectra x {s.n_pixels} pixels from {len(s.paths)} "
                 + ("file(s)" if splits is None else "array(s)"))
        with dask_context(spec.compute, echo=echo) as sched:
            ctx.scheduler = sched
            with ctx.stage("row check"):
                drop_empty_rows(ctx.splits, cache=stats_cache(spec))
            (train_counts,) = _fit_linear(ctx, [quality_counts_graph(ctx.splits["train"])])
            _fit_lightgbm(ctx)
            preds, levels, extra = _predict(ctx, [quality_counts_graph(ctx.splits[k]) for k in ("val", "test")])
            counts = {"train": train_counts, "val": extra[0], "test": extra[1]}
            ctx.metrics = _metrics(ctx, preds, levels)
            imp_table, imp_summary = _importance(ctx)
            ctx.sanity = _run_checks(ctx)
        with ctx.stage("artifacts"):
            write_tables(staging, ctx.metrics, imp_table)
            figs = write_figures(staging, plots=spec.plots, prefix=spec.prefix, metrics=ctx.metrics,
                                 wave=ctx.splits["train"].wave, imp_table=imp_table, imp_summary=imp_summary,
                                 sanity=ctx.sanity)
        ctx.timings["total"] = round(time.time() - t_start, 3)
        summary = build_summary(ctx, started, counts, imp_summary, figs)
        summary["timings"] = {"total_seconds": ctx.timings["total"], "stages": dict(ctx.timings),
                              "peak_rss_gib": {k: round(v / 2**30, 2) for k, v in monitor.peaks.items()}}
        summary["finished_utc"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        write_report(staging, summary)
        write_summary(staging / "summary.json", summary)  # last: its presence means finished
        log.info("finished in %.1fs: Gate-1 %s (best test R2 %.4f, %s)", ctx.timings["total"],
                 summary["gate"]["verdict"], summary["gate"]["best_test_r2"], summary["gate"]["best_model"])
    return summary


def _run_checks(ctx: AuditContext):
    if not ctx.spec.sanity.enabled:
        return None
    with ctx.stage("sanity checks"):
        return run_sanity_checks(ctx)

