"""Stage 3a of the checks: the linear refits (`LinearRefits`), from the finished train statistics.

The wavelength-shuffled, mask-only and aggregate families; the permuted and group-shuffled
labels' fits from the audit's own eigendecomposition (`daudit.checks.permutation.solve_many`);
the primary model's importance and its permutation null; the drop / alone refits of every
region (`daudit.checks.localise`).

Ownership: `linear_refits` takes the audit's `GramEigen` and the `TrainStats` from their
`Handover`s. The audit's eigenvectors are parked on disk (`daudit.engine.spill.Parked`) while
the shuffled and mask decompositions run, which each need three p x p matrices of their own
(`daudit.pipeline.memory_plan`), read back for the permuted labels' solves and the localisation,
then released: the caller gets the decomposition back without its eigenvectors, and the train
statistics without the Gram records the decompositions spent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from daudit.checks.facts import AuditFacts, Handover
from daudit.checks.importance_null import abs_importance_null, pixel_excess
from daudit.checks.localise import LocalisePlan, band_units, build_plan, catalogue_units
from daudit.checks.permutation import solve_many
from daudit.checks.plan import CheckPlan
from daudit.checks.train_pass import TrainStats
from daudit.engine.spill import Parked
from daudit.models.linear import (
    GramEigen,
    LinearFamilyFit,
    decompose,
    fit_family,
    fit_family_dense,
    release_eigvecs,
    resolution,
)
from daudit.models.resolution import path_name
from daudit.models.selection import best_by_val
from daudit.models.stats import CenteredStats, center_gram

__all__ = ["LinearRefits", "PrimaryImportance", "linear_refits"]


@dataclass(frozen=True)
class PrimaryImportance:
    """The audit's primary linear model (best by val at the reference level): model name,
    importance |coef| * std (p,), and the same of every permuted fit (p, K) or None."""

    model: str
    importance: np.ndarray
    null: np.ndarray | None


@dataclass(frozen=True)
class LinearRefits:
    """What the linear refits made (None or empty where a check is off or had nothing to fit).

    shuffled_fit, mask_fit, agg_fit: the families on the shuffled input (at the reference level),
    on the varying mask columns ``mask_cols`` and on the aggregates; mask_facts: the mask check's
    counts; group_fit: k = one per group shuffle; perm_fits: {level: family, k = K permutations};
    primary: `PrimaryImportance`; localise: the regions' refits; seconds: wall times by part.
    """

    shuffled_fit: LinearFamilyFit | None = None
    mask_fit: LinearFamilyFit | None = None
    mask_cols: np.ndarray | None = None
    mask_facts: dict = field(default_factory=dict)
    agg_fit: LinearFamilyFit | None = None
    group_fit: LinearFamilyFit | None = None
    perm_fits: dict = field(default_factory=dict)
    primary: PrimaryImportance | None = None
    localise: LocalisePlan | None = None
    seconds: dict = field(default_factory=dict)


def _mask_refit(facts: AuditFacts, held: Handover, y_shift: float):
    """(mask_cols, mask_facts, mask_fit or None): the linear family on the mask columns that vary
    (from the train pass's mask Gram, taken from ``held`` and freed before the decomposition)."""
    mg, ytr, p = held.take(), facts.splits["train"].y, facts.splits["train"].n_pixels
    used = (mg.sum_x > 0) & (mg.sum_x < mg.n)
    cols = mg.cols[used]
    counts = {"n_pixels_ever_masked": int(len(mg.cols)), "n_pixels_used": int(used.sum()),
              "masked_fraction": float(mg.sum_x.sum() / (mg.n * p))}
    n_rows = mg.n
    if not used.any():
        return cols, counts, None
    sel = np.flatnonzero(used)
    mx = mg.sum_x / mg.n
    dy = float((ytr - y_shift).sum()) / mg.n
    sxy = mg.xty - mg.n * mx * dy
    # S_xx of the used columns only, centred in place: one float64 matrix, which the
    # eigendecomposition then overwrites; the float32 counts are freed first
    sub = mg.xtx if len(sel) == mg.xtx.shape[0] else mg.xtx[np.ix_(sel, sel)]
    sxx = sub.astype(np.float64)
    mg = sub = None
    center_gram(sxx, n_rows, mx[sel], out=sxx)
    yc = ytr - ytr.mean()
    st = CenteredStats(n_rows, mx[sel], np.array([ytr.mean()]), sxx, sxy[sel, None], np.array([float(yc @ yc)]))
    del sxx  # held by st alone: the decomposition spends it
    # 0/1 values are exact: only the Gram term of the threshold
    fit = fit_family(decompose(st, input_dtype=np.uint8, overwrite=True, park=Parked), facts.spec.alphas,
                     include_ols=facts.spec.include_ols, noise_level=1.0)
    return cols, counts, fit


def _shuffled_fit(facts: AuditFacts, held: Handover) -> LinearFamilyFit | None:
    """The family on the wavelength-shuffled input, whose Gram (taken from ``held``) the
    decomposition consumes; the same threshold rule as the audit's fit (float32 values)."""
    shuffled = held.take()
    if shuffled is None:
        return None
    return fit_family(decompose(shuffled, input_dtype=facts.splits["train"].error.dtype, overwrite=True,
                                park=Parked), facts.spec.alphas, include_ols=facts.spec.include_ols,
                      noise_level=facts.ref)


def _primary(facts: AuditFacts, perm_fit: LinearFamilyFit | None, k: int) -> PrimaryImportance | None:
    """The primary linear model's importance and its null (None without a primary model)."""
    ref = facts.ref
    prim = best_by_val(facts.metrics, level=ref)
    if prim is None or facts.train_stats is None:
        return None
    fit = facts.fits[ref]
    x_std = ref * np.sqrt(facts.train_stats.x_var)
    imp = np.abs(fit.coef[fit.names.index(prim), :, 0]) * x_std
    null = abs_importance_null(perm_fit.coef[perm_fit.names.index(prim)], x_std) if perm_fit is not None and k \
        else None
    return PrimaryImportance(prim, imp, null)


def _localise_plan(facts: AuditFacts, held: Handover, primary: PrimaryImportance | None):
    """(LocalisePlan or None, the decomposition): the drop / alone refits of every catalogue
    region and every band of the per-pixel null, for the primary linear model, from the audit's
    eigenpairs (taken from ``held``; the set the model does not use is dropped first)."""
    eg = held.take()
    if eg is None or eg.eigvecs is None or primary is None:
        return None, eg
    wave = facts.splits["train"].wave
    units = catalogue_units(wave)
    if primary.null is not None:
        units += band_units(pixel_excess(primary.importance, primary.null, wave)["groups"], wave)
    if not units:
        return None, eg
    ref, prim = facts.ref, primary.model
    fit = facts.fits[ref]
    a = fit.alphas[fit.names.index(prim)]
    if np.isnan(a):  # an OLS step: the equilibrated decomposition and the step's cut; the raw set goes
        eg = replace(eg, eigvecs=None)
        cut = next(t for f, t, _ in resolution(eg).path if path_name(f) == prim)
        vals, vecs, scale = eg.eq_vals, eg.eq_vecs, eg.eq_scale
    else:  # a Ridge: the raw decomposition; the equilibrated set goes
        eg = replace(eg, eq_vecs=None)
        cut, vals, vecs, scale = 0.0, eg.eigvals, eg.eigvecs, None
    plan = build_plan(vals, vecs, n=eg.n, x_mean=eg.x_mean, y_mean=float(eg.y_mean[0]),
                      sxy=facts.train_stats.sxy[:, 0], syy=float(eg.syy[0]), units=units, model=prim,
                      alpha=None if np.isnan(a) else float(a), level=ref, threshold=cut,
                      input_dtype=facts.splits["train"].error.dtype, row_scale=scale)
    return plan, eg


def _solves(facts: AuditFacts, plan: CheckPlan, cross, eg: GramEigen, seconds: dict):
    """({level: permuted fits}, group-shuffle fit or None) from the real decomposition."""
    perm_fits, group_fit = {}, None
    if cross is None:
        return perm_fits, group_fit
    alphas, ols = facts.spec.alphas, facts.spec.include_ols
    sxy, syy, ymean = cross.centered()
    k = plan.n_perm_linear
    t = time.time()
    for lv in facts.levels:
        perm_fits[lv] = solve_many(eg, facts.train_stats, sxy[:, :k], syy[:k], ymean[:k], alphas,
                                   include_ols=ols, level=lv)
    seconds["permuted_linear_solve"] = time.time() - t
    if plan.group_y is not None:
        group_fit = solve_many(eg, facts.train_stats, sxy[:, k:], syy[k:], ymean[k:], alphas,
                               include_ols=ols, level=facts.ref)
    return perm_fits, group_fit


def linear_refits(facts: AuditFacts, plan: CheckPlan, train: Handover,
                  eigen: Handover) -> tuple[LinearRefits, TrainStats, GramEigen | None]:
    """Every linear refit of the checks; see the module docstring for what it takes over.

    Returns (`LinearRefits`, the train statistics without their Gram records, the audit's
    decomposition without its eigenvectors: the caller owns both)."""
    t_lin = time.time()
    tp = train.take()
    shuffled, mask, cross = Handover(tp.shuffled), Handover(tp.mask), tp.cross
    has_mask = tp.mask is not None
    spent = replace(tp, shuffled=None, mask=None, cross=None)
    del tp
    eg = eigen.take()
    eigvecs, eq_vecs, eg = eg.eigvecs, eg.eq_vecs, release_eigvecs(eg)
    secs, mask_cols, mask_facts, mask_fit = {}, None, {}, None
    with (Parked(eigvecs, what="the audit's eigenvectors") as eigvecs_back,
          Parked(eq_vecs, what="the audit's equilibrated eigenvectors") as eq_vecs_back):
        del eigvecs, eq_vecs
        t = time.time()
        shuffled_fit = _shuffled_fit(facts, shuffled)
        secs["shuffled_eigh_and_solve"] = time.time() - t
        if has_mask:
            mask_cols, mask_facts, mask_fit = _mask_refit(facts, mask, float(plan.cfg.y_shift[0]))
        eg = replace(eg, eigvecs=eigvecs_back(), eq_vecs=eq_vecs_back())
    agg_fit = None
    if spent.aggregates is not None:
        # aggregates are float64 numbers computed from the float32 error: float32 precision
        agg_fit = fit_family_dense(spent.aggregates, facts.splits["train"].y, facts.spec.alphas,
                                   include_ols=facts.spec.include_ols, input_dtype=facts.splits["train"].error.dtype)
    perm_fits, group_fit = _solves(facts, plan, cross, eg, secs)
    primary = _primary(facts, perm_fits.get(facts.ref), plan.n_perm_linear)
    t = time.time()
    held, eg = Handover(eg), None
    localise, eg = _localise_plan(facts, held, primary)
    secs["localisation_refits"] = time.time() - t
    eg = release_eigvecs(eg)  # every fit that needs them is made
    secs["linear_refits"] = time.time() - t_lin
    out = LinearRefits(shuffled_fit, mask_fit, mask_cols, mask_facts, agg_fit, group_fit, perm_fits, primary,
                       localise, secs)
    return out, spent, eg
