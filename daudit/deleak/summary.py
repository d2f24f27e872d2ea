"""The summary.json of a deleak run (schema in docs/deleak.md), built from finished results."""

from __future__ import annotations

import dataclasses

import numpy as np

from daudit._version import __version__
from daudit.core.schema import SCHEMA_VERSION
from daudit.deleak.evaluate import decide
from daudit.deleak.features import STATE_JSON, STATE_NPZ
from daudit.pipeline.summary import package_versions
from daudit.pipeline.summary import split_facts as facts

__all__ = ["build_summary", "diagnose"]

GATE_NAME = "Gate-1"
MVP = "MVP-0.2"


def diagnose(per_strategy: list, *, logg_threshold: float, snr_threshold: float) -> dict:
    """Where the leak sits, from the probes among the strategies.

    S4 (the norm alone) is the pure scale probe: when it already predicts log_g, the overall
    error scale (i.e. the SNR itself) carries the label, and no representation that keeps the
    scale can remove the leak. S0 (all pixels) shows whether there is a leak at all.
    """
    by = {r["id"]: r for r in per_strategy}
    s0, s4 = by.get("S0"), by.get("S4")
    keep_scale = [r["id"] for r in per_strategy if r["snr_r2"] > snr_threshold]
    leaky_keepers = [i for i in keep_scale if by[i]["logg_r2"] >= logg_threshold]
    out = {
        "raw_leak": None if s0 is None else bool(s0["logg_r2"] >= logg_threshold),
        "raw_logg_r2": None if s0 is None else s0["logg_r2"],
        "scale_leak": None if s4 is None else bool(s4["logg_r2"] >= logg_threshold),
        "scale_logg_r2": None if s4 is None else s4["logg_r2"],
        "keep_snr": keep_scale,
        "keep_snr_but_leak": leaky_keepers,
    }
    if out["scale_leak"]:
        out["kind"] = "scale"
    elif out["raw_leak"]:
        out["kind"] = "shape"
    elif out["raw_leak"] is False:
        out["kind"] = "none"
    else:
        out["kind"] = "unknown"
    return out


def split_facts(split, counts, snr) -> dict:
    out = facts(split, counts)
    out["snr_mean"] = float(np.mean(snr))
    out["n_snr_undefined"] = int(np.sum(snr == 0))
    return out


def _gate(dspec, dec: dict, dec_ridge: dict, lead: dict) -> dict:
    """The MVP-0.2 gate: the decision over strategies, its Ridge-only twin, the lead strategy's numbers."""
    rec = dec["recommended"]
    return {
        "name": GATE_NAME, "mvp": MVP, "threshold": dspec.logg_threshold,
        "logg_threshold": dspec.logg_threshold, "snr_threshold": dspec.snr_threshold,
        "tie_tolerance": dspec.tie_tolerance, "verdict": dec["verdict"], "recommended": rec,
        "passing": dec["passing"], "tied": dec["tied"],
        "ridge_only": {"verdict": dec_ridge["verdict"], "recommended": dec_ridge["recommended"],
                       "passing": dec_ridge["passing"]},
        "best_model": lead["id"], "best_test_r2": lead["logg_r2"], "best_snr_r2": lead["snr_r2"],
        "ci95": lead["logg_ci95"], "borderline": bool(lead["logg_ci95"][0] < dspec.logg_threshold
                                                      <= lead["logg_ci95"][1]),
        "rule": "log_g R2 (test, highest over models) < logg_threshold and SNR R2 (test, highest "
                "over models) > snr_threshold; recommended: the passing strategy with the highest SNR R2, "
                "ties to fewer features",
    }


def _lightgbm(res: dict, strategies, n_train: int) -> dict | None:
    """How LightGBM was fitted (the wide strategies on a seeded subsample of train rows)."""
    if res["lgb_params"] is None:
        return None
    wide = [s.id for s in strategies if s.wide]
    n_wide = int(len(res["wide_rows"]))
    return {"params": res["lgb_params"], "fit_seconds": res["lgb_secs"], "n_train_rows": n_train,
            "wide_strategies": wide, "wide_n_train_rows_used": n_wide, "wide_subsampled": bool(n_wide < n_train),
            "wide_reason": f"strategies with one column per pixel ({', '.join(wide)}) are fitted on a seeded "
                           f"random subsample of {n_wide} of {n_train} train rows; "
                           "the small strategies on every train row"}


def build_summary(ctx, dspec, strategies, res, per_strategy, started) -> dict:
    spec = ctx.spec
    train = ctx.splits["train"]
    dec = decide(per_strategy, logg_threshold=dspec.logg_threshold, snr_threshold=dspec.snr_threshold,
                 tie_tolerance=dspec.tie_tolerance)
    for r in per_strategy:
        r["pass"] = r["id"] in dec["passing"]
        r["pass_logg"] = bool(r["logg_r2"] < dspec.logg_threshold)
        r["pass_snr"] = bool(r["snr_r2"] > dspec.snr_threshold)
    # the same rule on the user's model alone (Ridge after standardisation), as in the hand-run
    ridge_rows = [{"id": r["id"], "n_features": r["n_features"],
                   "logg_r2": max(v["logg_r2"] for k, v in r["by_model"].items() if k != "LightGBM"),
                   "snr_r2": max(v["snr_r2"] for k, v in r["by_model"].items() if k != "LightGBM")}
                  for r in per_strategy]
    dec_ridge = decide(ridge_rows, logg_threshold=dspec.logg_threshold, snr_threshold=dspec.snr_threshold,
                       tie_tolerance=dspec.tie_tolerance)
    for r in per_strategy:
        r["pass_ridge"] = r["id"] in dec_ridge["passing"]
    by = {r["id"]: r for r in per_strategy}
    rec = dec["recommended"]
    # the figure of merit of the gate: the recommended strategy, else the least leaky that keeps SNR
    keepers = [r for r in per_strategy if r["pass_snr"]] or per_strategy
    lead = by[rec] if rec else min(keepers, key=lambda r: (r["logg_r2"], r["n_features"]))
    gate = _gate(dspec, dec, dec_ridge, lead)
    lgb = _lightgbm(res, strategies, train.n_rows)
    snr = {"train": res["snr_train"], "val": res["truth"]["val"][:, 1], "test": res["truth"]["test"][:, 1]}
    return {
        "schema_version": SCHEMA_VERSION,
        "daudit_version": __version__, "experiment_id": spec.experiment_id, "status": "finished",
        "kind": "deleak", "mvp": MVP, "started_utc": started, "date": started[:10],
        "spec": spec.to_dict(), "deleak": dataclasses.asdict(dspec),
        "data": {"source": spec.data.source, "param": spec.data.param, "input": "error (flux for SNR, S1a, S1b)",
                 "n_pixels": train.n_pixels, "wave_min": float(train.wave.min()),
                 "wave_max": float(train.wave.max()),
                 "splits": {k: split_facts(ctx.splits[k], res["counts"][k], snr[k])
                            for k in ("train", "val", "test")}},
        "strategies": [{**s.to_dict(), **by[s.id]} for s in strategies],
        "metrics": ctx.metrics,
        "ridge": {"alphas": list(spec.alphas), "standardized": True,
                  "how": "StandardScaler + Ridge solved from streamed sufficient statistics (train std rescaling "
                         "of S_xx and S_xy), no in-memory refit"},
        "lightgbm": lgb,
        "gate": gate,
        "best": {"model": lead["id"], "test_r2": lead["logg_r2"], "snr_test_r2": lead["snr_r2"]},
        "diagnosis": diagnose(per_strategy, logg_threshold=dspec.logg_threshold, snr_threshold=dspec.snr_threshold),
        "quality_features": {"strategy": rec, "n_features": by[rec]["n_features"] if rec else None,
                             "json": STATE_JSON, "npz": STATE_NPZ, "n_check_rows": dspec.n_check_rows,
                             "pca_k": dspec.pca_k},
        "statistics": {"ci_level": 0.95, "n_bootstrap": dspec.n_bootstrap, "n_permutations": dspec.n_permutations,
                       "permutation": "test labels permuted against the fixed predictions of the fitted model"},
        "scheduler": ctx.scheduler, "versions": package_versions(),
        "outputs": {"report": "report.md", "metrics": "metrics.csv", "log": "run.log",
                    "state": [STATE_JSON, STATE_NPZ], "figures": {}},
    }
