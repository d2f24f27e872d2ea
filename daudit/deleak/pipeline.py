"""One strategy-comparison run (MVP-0.2): spec -> passes -> models -> metrics -> artifacts.

Outputs are written like ``run`` writes them (the helpers of `daudit.pipeline.run`): a staging
folder swapped in at the end, ``summary.json`` last, a PID lock beside the output folder.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path

import numpy as np
from dask import delayed

from daudit.core.progress import compute
from daudit.core.schema import write_summary
from daudit.data.splits import open_data, quality_counts_graph
from daudit.deleak import passes as ps
from daudit.deleak.artifacts import write_outputs, write_report
from daudit.deleak.evaluate import RidgeFit
from daudit.deleak.fit import (
    fit_lightgbm,
    fit_ridge,
    metric_rows,
    predict_small,
    strategy_rows,
)
from daudit.deleak.strategies import (
    block_features,
    strategy_table,
    templates_from_stats,
)
from daudit.deleak.summary import build_summary
from daudit.engine.cluster import dask_context
from daudit.engine.memory import RssMonitor
from daudit.models.boosting import lightgbm_log_to_debug, lightgbm_params
from daudit.models.metrics import r2
from daudit.output.staging import staged_output
from daudit.pipeline.context import AuditContext

__all__ = ["run_deleak"]

log = logging.getLogger("daudit")


def _train_statistics(ctx, dspec, strategies, flux) -> dict:
    """Template pass, templates, fused pass: every strategy's train statistics and features."""
    train, ids = ctx.splits["train"], [s.id for s in strategies]
    e0, f0, y0 = ps.first_blocks(train, flux["train"])
    y_shift = np.column_stack([y0, ps.st.snr(e0, f0)]).mean(axis=0)
    with ctx.stage("template pass"):
        stats0, counts_train = compute(ps.template_pass(train, flux["train"], x_shift=e0.mean(axis=0),
                                                        y_shift=y_shift),
                                       quality_counts_graph(train), desc="template pass (train error Gram)")
    with ctx.stage("templates"):
        k = max([s.param for s in strategies if s.id.startswith("S2b")] or [1])
        templates = templates_from_stats(stats0.centered(), k)
    n = train.n_rows
    wide_rows = (np.sort(ctx.rng.choice(n, size=min(dspec.wide_lightgbm_rows, n), replace=False))
                 if any(s.wide for s in strategies) else np.empty(0, np.int64))
    first = block_features(strategies, e0, f0, templates)
    shifts = {sid: first[sid].mean(axis=0) for sid in ids}
    with ctx.stage("fused pass"):
        stats, small, snr_train, wide = compute(
            *ps.fused_pass(train, flux["train"], strategies, templates, shifts=shifts, y_shift=y_shift,
                           wide_rows=wide_rows),
            desc="fused pass (all strategies' statistics)")
    stats = dict(stats or {})
    if "S0" in ids:
        stats["S0"] = stats0
    return {"stats": {sid: stats[sid] for sid in ids}, "templates": templates, "small": small, "wide": wide,
            "snr_train": snr_train, "wide_rows": wide_rows, "counts_train": counts_train}


def _lightgbm_fits(ctx, strategies, tr: dict, slices: dict):
    """LightGBM per strategy and target: (boosters, seconds, params, train R² per strategy)."""
    spec, train = ctx.spec, ctx.splits["train"]
    if spec.lightgbm is None:
        return {}, {}, None, {}
    params = lightgbm_params(spec.lightgbm, seed=spec.seed)
    y_train = np.column_stack([train.y, tr["snr_train"]])
    x_by = {s.id: (tr["wide"][s.id] if s.wide else tr["small"][:, slices[s.id]]) for s in strategies}
    t_by = {s.id: (y_train[tr["wide_rows"]] if s.wide else y_train) for s in strategies}
    with ctx.stage("lightgbm fits"):
        boosters, secs = fit_lightgbm(x_by, t_by, params, progress=lambda sid: log.info("LightGBM fitted: %s", sid))
        train_r2 = {sid: np.array([r2(t_by[sid][:, j], b.predict(np.asarray(x_by[sid], np.float32)))
                                   for j, b in enumerate(boosters[sid])]) for sid in boosters}
    return boosters, secs, params, train_r2


def _passes(ctx, dspec, strategies):
    """The three passes and the model fits; returns a dict of everything the summary needs."""
    splits = ctx.splits
    flux = {k: ps.flux_array(s, ctx.spec.compute.chunk_rows) for k, s in splits.items()}
    tr = _train_statistics(ctx, dspec, strategies, flux)
    with ctx.stage("ridge fits"):
        ridge = fit_ridge(tr["stats"], ctx.spec.alphas)
    slices = ps.stack_small(strategies)
    boosters, lgb_secs, params, lgb_train_r2 = _lightgbm_fits(ctx, strategies, tr, slices)
    tr["wide"] = None  # the wide strategies' rows are spent: free them before the prediction pass
    wide_ids = [s.id for s in strategies if s.wide]
    graphs = []
    for name in ("val", "test"):
        graphs += _pred_graphs(ps, splits[name], flux[name], strategies, tr["templates"], ridge, boosters,
                               wide_ids, n_check=dspec.n_check_rows if name == "test" else 0)
    with ctx.stage("prediction pass"):
        done = compute(*graphs, quality_counts_graph(splits["val"]), quality_counts_graph(splits["test"]),
                       desc="prediction pass (val, test)")
    preds, truth, check = {}, {}, None
    for i, name in enumerate(("val", "test")):
        small_s, snr_s, wide_p, chk = done[4 * i: 4 * i + 4]
        preds[name] = {**predict_small(strategies, slices, small_s, ridge, boosters), **wide_p}
        truth[name] = np.column_stack([splits[name].y, snr_s])
        if name == "test":
            check = chk
    return {"templates": tr["templates"], "stats": tr["stats"], "ridge": ridge, "boosters": boosters,
            "lgb_secs": lgb_secs, "lgb_params": params, "lgb_train_r2": lgb_train_r2, "preds": preds, "truth": truth,
            "snr_train": tr["snr_train"], "wide_rows": tr["wide_rows"], "check": check,
            "counts": {"train": tr["counts_train"], "val": done[-2], "test": done[-1]}}


def _pred_graphs(ps, split, flux, strategies, templates, ridge, boosters, wide_ids, *, n_check):
    # stack every alpha's wide Ridge model into one RidgeFit per strategy: columns (alpha, target)
    names = sorted({name for (_, name) in ridge})
    rw = {}
    for sid in wide_ids:
        fits = [ridge[(sid, name)] for name in names]
        rw[sid] = RidgeFit(np.hstack([f.coef for f in fits]), np.concatenate([f.intercept for f in fits]),
                           None, None, np.nan)
    bw = {sid: boosters[sid] for sid in wide_ids if sid in boosters}
    small, snr, wide_p, chk = ps.prediction_pass(split, flux, strategies, templates, rw, bw, n_check=n_check)

    return [small, snr, delayed(_label_wide)(wide_p, names), chk]


def _label_wide(wide_p, names):
    out = {}
    for (sid, kind), p in wide_p.items():
        if kind == "ridge":
            for i, name in enumerate(names):
                out[(sid, name)] = p[:, 2 * i: 2 * i + 2]
        else:
            out[(sid, "LightGBM")] = p
    return out


def run_deleak(spec, dspec, *, output_dir, echo=print) -> dict:
    """Run the comparison and return the summary (also written as ``summary.json``)."""

    out = Path(output_dir)
    t_start = time.time()
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with staged_output(out, echo=echo, experiment_id=spec.experiment_id, kind="deleak") as staging, \
            RssMonitor() as monitor, lightgbm_log_to_debug():
        # the audit's measurement of the process tree's peak RSS per stage (`daudit.engine.memory`)
        ctx = AuditContext(spec=spec, splits={}, rng=np.random.default_rng(spec.seed), memory=monitor)
        with ctx.stage("open data"):
            ctx.splits = open_data(spec)
        for k, s in ctx.splits.items():
            echo(f"{k}: {s.n_rows} spectra x {s.n_pixels} pixels from {len(s.paths)} file(s)")
        strategies = strategy_table(dspec.strategies, ctx.splits["train"].n_pixels, pca_k=dspec.pca_k,
                                    quantiles=dspec.quantiles)
        with dask_context(spec.compute, echo=echo) as sched:
            ctx.scheduler = sched
            res = _passes(ctx, dspec, strategies)
        with ctx.stage("metrics"):
            train_r2 = {k: f.train_r2 for k, f in res["ridge"].items()}
            n_train = {k: ctx.splits["train"].n_rows for k in res["ridge"]}
            train_r2.update({(sid, "LightGBM"): v for sid, v in res["lgb_train_r2"].items()})
            for s in strategies:
                if s.id in res["boosters"]:
                    n_train[(s.id, "LightGBM")] = len(res["wide_rows"]) if s.wide else ctx.splits["train"].n_rows
            rows = metric_rows(strategies, res["preds"], res["truth"], train_r2=train_r2, n_train=n_train,
                               n_boot=dspec.n_bootstrap, n_perm=dspec.n_permutations, rng=ctx.rng)
            per_strategy = strategy_rows(strategies, rows)
        ctx.metrics = rows
        summary = build_summary(ctx, dspec, strategies, res, per_strategy, started)
        with ctx.stage("artifacts"):
            write_outputs(staging, summary, res, strategies, ctx)
        ctx.timings["total"] = round(time.time() - t_start, 3)
        summary["timings"] = {"total_seconds": ctx.timings["total"], "stages": dict(ctx.timings),
                              "peak_rss_gib": {k: round(v / 2**30, 2) for k, v in monitor.peaks.items()}}
        summary["finished_utc"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

        write_report(staging, summary)
        write_summary(staging / "summary.json", summary)  # last: its presence means finished
        g = summary["gate"]
        log.info("finished in %.1fs: %s %s, recommended %s", ctx.timings["total"], g["name"], g["verdict"],
                 g["recommended"])
    return summary
