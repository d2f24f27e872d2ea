"""From pass outputs to fitted models and metric rows (numpy and LightGBM; no Dask, no I/O).

Targets are always the pair (log_g, SNR), in this column order.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from daudit.deleak.evaluate import fit_lightgbm_dense, permutation_pvalue, ridge_standardized_path
from daudit.models.linear import model_name
from daudit.models.metrics import bootstrap_r2, regression_metrics

__all__ = ["TARGETS", "fit_ridge", "fit_lightgbm", "predict_small", "metric_rows", "strategy_rows"]

TARGETS = ("log_g", "snr")


def fit_ridge(stats_by_id: dict, alphas) -> dict:
    """(id, model name) -> `RidgeFit` from each strategy's `GramStats`: one eigendecomposition per
    strategy, every alpha zero below the audit's resolution threshold (`daudit.models.linear.resolution`;
    the features are computed from the float32 error and flux, so float32 precision)."""
    out = {}
    for sid, stats in stats_by_id.items():
        for a, fit in zip(alphas, ridge_standardized_path(stats.centered(), list(alphas))):
            out[(sid, model_name(a))] = fit
    return out


def fit_lightgbm(x_by_id: dict, targets: dict, params: dict, *, n_threads: int | None = None,
                 progress=None) -> tuple:
    """id -> [Booster for log_g, Booster for SNR], and id -> fit seconds.

    x_by_id : id -> train features (n_id, k) (the wide strategies: their subsample);
    targets : id -> (n_id, 2) matching rows.

    The fits are many and small, so they run side by side, one thread each (``n_threads`` at a
    time, default: the CPU count); one multi-threaded fit after another is much slower on a busy
    machine (OpenMP threads wait for each other).
    """

    one = dict(params, n_jobs=1)
    jobs = [(sid, j) for sid in x_by_id for j in range(2)]

    def work(job):
        sid, j = job
        t0 = time.time()
        booster = fit_lightgbm_dense(x_by_id[sid], targets[sid][:, j], one)
        return job, booster, time.time() - t0

    boosters, secs = {sid: [None, None] for sid in x_by_id}, {sid: 0.0 for sid in x_by_id}
    with ThreadPoolExecutor(max_workers=n_threads or os.cpu_count() or 1) as pool:
        for (sid, j), booster, dt in pool.map(work, jobs):
            boosters[sid][j] = booster
            secs[sid] = round(secs[sid] + dt, 3)
            if progress is not None and j == 1:
                progress(sid)
    return boosters, secs


def predict_small(strategies, slices, small: np.ndarray, ridge: dict, boosters: dict) -> dict:
    """(id, model) -> (n, 2) predictions of the small strategies from their stacked features."""
    out = {}
    for s in strategies:
        if s.wide:
            continue
        x = small[:, slices[s.id]]
        for (sid, name), fit in ridge.items():
            if sid == s.id:
                out[(sid, name)] = fit.predict(x)
        if s.id in boosters:
            xf = x.astype(np.float32)
            out[(s.id, "LightGBM")] = np.column_stack([b.predict(xf) for b in boosters[s.id]])
    return out


def metric_rows(strategies, preds: dict, truth: dict, *, train_r2: dict, n_train: dict,
                n_boot: int, n_perm: int, rng: np.random.Generator) -> list:
    """One row per (strategy, model, target): R2, MAE, RMSE on val/test, bootstrap 95 % CI, and
    the permutation p-value of the test log_g R2.

    preds : split -> (id, model) -> (n, 2); truth : split -> (n, 2) (log_g, SNR).
    train_r2 : (id, model) -> (2,); n_train : (id, model) -> rows the model was fitted on.
    """
    keys = [k for k in preds["test"]]
    order = {s.id: i for i, s in enumerate(strategies)}
    keys.sort(key=lambda k: (order[k[0]], k[1] == "LightGBM", k[1]))
    nfeat = {s.id: s.n_features for s in strategies}
    res = {}
    for split in ("val", "test"):
        y = truth[split]
        for j, target in enumerate(TARGETS):
            p = np.column_stack([preds[split][k][:, j] for k in keys])
            r2 = regression_metrics(y[:, j], p)["r2"]
            err = p - y[:, j][:, None]
            ci = bootstrap_r2(y[:, j], p, n_boot, rng)
            pv = permutation_pvalue(y[:, j], p, n_perm=n_perm, rng=rng) if (split, target) == ("test", "log_g") else None
            for i, k in enumerate(keys):
                rec = res.setdefault((k, target), {})
                rec.update({f"{split}_r2": float(r2[i]), f"{split}_mae": float(np.abs(err[:, i]).mean()),
                            f"{split}_rmse": float(np.sqrt((err[:, i] ** 2).mean())),
                            f"{split}_ci95_lo": float(ci[i, 0]), f"{split}_ci95_hi": float(ci[i, 1])})
                if pv is not None:
                    rec["test_perm_p"] = float(pv[i])
    rows = []
    for k in keys:
        for j, target in enumerate(TARGETS):
            tr = train_r2.get(k)
            rows.append({"strategy": k[0], "n_features": nfeat[k[0]], "model": k[1], "target": target,
                         "train_r2": None if tr is None else float(tr[j]), "n_train_rows": int(n_train[k]),
                         **res[(k, target)], "test_perm_p": res[(k, target)].get("test_perm_p")})
    return rows


def strategy_rows(strategies, rows: list) -> list:
    """Per strategy: test log_g R2 and SNR R2, the highest over models (and which model), and
    each model's value. The highest log_g R2 is the conservative leakage figure; the highest SNR
    R2 is the quality that a model can still read from the features."""
    out = []
    for s in strategies:
        mine = [r for r in rows if r["strategy"] == s.id]
        lg = [r for r in mine if r["target"] == "log_g"]
        sn = [r for r in mine if r["target"] == "snr"]
        bl, bs = max(lg, key=lambda r: r["test_r2"]), max(sn, key=lambda r: r["test_r2"])
        out.append({
            "id": s.id, "description": s.description, "n_features": s.n_features,
            "logg_r2": bl["test_r2"], "logg_model": bl["model"],
            "logg_ci95": [bl["test_ci95_lo"], bl["test_ci95_hi"]], "logg_perm_p": bl["test_perm_p"],
            "snr_r2": bs["test_r2"], "snr_model": bs["model"],
            "snr_ci95": [bs["test_ci95_lo"], bs["test_ci95_hi"]],
            "val_logg_r2": max(r["val_r2"] for r in lg), "val_snr_r2": max(r["val_r2"] for r in sn),
            "by_model": {r["model"]: {"logg_r2": r["test_r2"],
                                      "snr_r2": next(x["test_r2"] for x in sn if x["model"] == r["model"])}
                         for r in lg},
        })
    return out
