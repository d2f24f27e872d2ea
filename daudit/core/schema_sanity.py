"""The typed ``sanity`` block of an audit's summary.json: what `daudit.checks` writes, record by record.

`Sanity` is either `SanitySkipped` (every noise level degenerate: nothing to check) or
`SanityChecks`; `daudit.core.schema` validates it on write and on load like every other section,
so the report, the sanity figure and the app read these records by key. A key marked
``NotRequired`` is one a check writes only when it ran (a spec switch, a LightGBM model, a
varying mask); a value typed ``X | None`` is a number that may be undefined (non-finite, stored as
null). R² values are dimensionless; p-values are in (0, 1]; wavelengths in Å.
"""

# No `from __future__ import annotations` here: TypedDict must see NotRequired[...] at run time.
from typing import Literal, NotRequired, TypedDict

from daudit.core.schema_evidence import (
    Bootstrap,
    GateEvidence,
    ImportanceNull,
    Interval,
    Localisation,
    LocalisedRegion,
    Permutation,
    Snr,
    SnrSkipped,
    ValSelected,
    Variability,
)
from daudit.core.typecheck import optional  # also re-exported

__all__ = [  # the evidence records are re-exported from `daudit.core.schema_evidence`
    "Sanity", "SanityChecks", "SanitySkipped", "CheckRecord", "ModelR2", "CheckModels", "Original",
    "WavelengthShuffle", "GroupShuffle", "GroupNotRun", "MaskOnly", "AggregateStats", "Permutation", "Bootstrap",
    "GateEvidence", "ValSelected", "Snr", "SnrSkipped", "ImportanceNull", "Variability", "Localisation",
    "LocalisedRegion", "checks_of", "optional",
]

ShuffleEffect = Literal["survived", "reduced", "collapsed", "no_leak_to_explain", "not_run"]
CaptureEffect = Literal["captured", "partly_captured", "no_leak", "no_varying_mask", "not_run"]
GroupEffect = Literal["retained", "reduced", "collapsed", "no_leak_to_explain"]


class ModelR2(TypedDict):
    """One model of a linear family (``models[name]``): val and test R²; group shuffles add the range."""

    val_r2: float | None
    test_r2: float | None
    test_r2_min: NotRequired[float | None]  # group shuffle: lowest test R² over the shuffles
    test_r2_max: NotRequired[float | None]


class CheckRecord(ModelR2):
    """A headline record of a check (OLS, the val-selected Ridge or LightGBM) with its paired bootstrap
    interval (``test_ci95``; absent for the group shuffle's linear means)."""

    model: str
    test_ci95: NotRequired[Interval | None]
    noise_level: NotRequired[float]  # the original models: the reference noise level
    n_train_rows: NotRequired[int | None]  # LightGBM: train rows of the refit
    n_shuffles: NotRequired[int]  # group shuffle, LightGBM: 1


class CheckModels(TypedDict):
    """The models of one check: the linear family (``models``), its OLS and val-selected Ridge, LightGBM."""

    models: NotRequired[dict[str, ModelR2]]
    OLS: NotRequired[CheckRecord]
    best_ridge: NotRequired[CheckRecord]
    LightGBM: NotRequired[CheckRecord]


class Original(CheckModels):
    """``sanity.original``: the audit's own models at the reference noise level."""

    models: dict[str, ModelR2]
    LightGBM_same_rows: NotRequired[CheckRecord]  # LightGBM refitted on the checks' train rows


class WavelengthShuffle(TypedDict):
    """``sanity.wavelength_shuffle``: each spectrum's pixels permuted; refitted, and not refitted."""

    refit: CheckModels
    unrefitted: CheckModels
    effect: ShuffleEffect
    best_refit_test_r2: float | None
    original_best_test_r2: float | None


class GroupEdges(TypedDict):
    mag: list[float]
    snr: list[float]


class GroupShuffle(CheckModels):
    """``sanity.group_shuffle`` when it ran: train labels permuted within mag x SNR groups."""

    n_groups: int
    edges: GroupEdges
    min_group_size: int
    n_shuffles: int
    mag_bins: int
    snr_bins: int
    models: dict[str, ModelR2]
    statistic: str
    best_test_r2: float | None
    retained_fraction: float | None  # best R² retained / original best R² (None: nothing to explain)
    effect: GroupEffect


class GroupNotRun(TypedDict):
    """``sanity.group_shuffle`` when it did not run (switched off, or no mag and snr columns: ``skipped``)."""

    effect: Literal["not_run"]
    skipped: NotRequired[str]


class MaskOnly(CheckModels):
    """``sanity.mask_only``: the models on the binary bad-pixel pattern alone."""

    n_pixels_ever_masked: int
    n_pixels_used: int  # varying mask columns used as inputs
    masked_fraction: float
    source: str
    effect: CaptureEffect
    best_test_r2: float | None


class AggregateStats(CheckModels):
    """``sanity.aggregate_stats``: the models on a few per-spectrum statistics."""

    features: list[str]
    n_features: int
    models: dict[str, ModelR2]
    effect: CaptureEffect
    best_test_r2: float | None


class LightGBMRefits(TypedDict):
    n_train_rows: int | None
    bin_construct_sample_cnt: int
    estimated_bytes: int
    budget_bytes: int
    plan: str


class NullStopped(TypedDict):
    n_fitted: int
    planned: int
    stopped_early: bool
    split: str


class RefitPlanRecord(TypedDict):
    """`daudit.checks.lgbm_plan.RefitPlan` as written, with how the LightGBM null stopped."""

    rows: int
    null_rows: int
    bin_sample: int
    max_bin: int
    feature_fraction: float
    n_permutations: int
    stop_after: int
    threads: int
    seconds: float
    budget_seconds: float
    estimated_bytes: int
    budget_bytes: int
    reason: str
    null: NullStopped | dict[str, None]  # {} when the null was not fitted


class CheckPlanRecord(TypedDict):
    lightgbm_refits: RefitPlanRecord


class SanityChecks(TypedDict):
    """``sanity`` of a run whose checks ran (`daudit.checks.run_sanity_checks`)."""

    threshold: float
    effect_tolerance: float
    reference_noise_level: float
    n_val: int
    n_test: int
    original: Original
    wavelength_shuffle: NotRequired[WavelengthShuffle]
    group_shuffle: GroupShuffle | GroupNotRun
    mask_only: NotRequired[MaskOnly]
    aggregate_stats: NotRequired[AggregateStats]
    permutation: Permutation
    bootstrap: Bootstrap
    gate: GateEvidence
    snr: Snr | SnrSkipped
    importance_null: ImportanceNull
    localisation: Localisation | None
    variability: Variability
    lightgbm_refits: NotRequired[LightGBMRefits]
    plan: NotRequired[CheckPlanRecord]
    timings: dict[str, float | dict[str, float]]  # seconds per step


class SanitySkipped(TypedDict):
    """``sanity`` when every noise level is degenerate (identically zero input): nothing to check."""

    skipped: str


Sanity = SanityChecks | SanitySkipped


def checks_of(summary) -> SanityChecks | None:
    """``summary["sanity"]`` when the checks ran, else None (switched off, or skipped)."""
    sanity = optional(summary, "sanity")
    if sanity is None or "skipped" in sanity:
        return None
    return sanity

