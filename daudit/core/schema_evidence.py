"""The typed evidence records of ``summary["sanity"]``: permutation nulls, bootstrap intervals, the
Gate-1 evidence, R² by SNR, the importance nulls, the "40 positions" variability, the localisation.

Part of the sanity block's schema (`daudit.core.schema_sanity` assembles it); written by
`daudit.checks` (its gate evidence, importance nulls, variability and localisation modules). A
value typed ``X | None`` is a number that may be undefined (non-finite, stored as null).
"""

# No `from __future__ import annotations` here: TypedDict must see NotRequired[...] at run time.
from typing import NotRequired, TypedDict

__all__ = [
    "Interval", "Permutation", "LinearPermutation", "PermStats", "PermModel", "Familywise", "LightGBMPermutation",
    "Bootstrap", "ModelInterval", "GateEvidence", "ValSelected", "Snr", "SnrSkipped", "SnrBin", "ImportanceNull",
    "ShareNull", "LinearImportanceNull", "LightGBMImportanceNull", "RegionNull", "PixelGroup", "Variability",
    "OverlapNull", "Overlap", "Localisation", "LocalisedRegion",
]

Interval = list[float | None]  # [low, high] of a 95% interval; an end is None where undefined


class PermStats(TypedDict):
    observed_test_r2: float | None
    p_value: float
    null_mean: float | None
    null_std: float | None
    null_q95: float | None
    null_max: float | None


class PermModel(PermStats):
    """One linear model's permutation null (``permutation.linear.models["L=<level> <name>"]``)."""

    noise_level: float
    model: str


class Familywise(TypedDict):
    """The best linear test R² against the best linear fit of each permutation."""

    statistic: str
    n_models: int
    n_permutations: int
    observed_max: float | None
    observed_model: str
    p_value: float
    min_p_value: float
    null_mean: float | None
    null_q95: float | None
    null_max: list[float | None]


class LinearPermutation(TypedDict):
    n_permutations: int
    min_p_value: float
    models: dict[str, PermModel]
    familywise: NotRequired[Familywise]
    figure_model: NotRequired[str]  # the model whose null the figure draws, "L=<level> <name>"
    figure_null: NotRequired[list[float | None]]


class LightGBMPermutation(PermStats):
    n_permutations: int
    n_train_rows: int | None
    min_p_value: float
    at_resolution: bool  # p equals its floor 1 / (permutations + 1)
    null: list[float | None]
    note: str


class Permutation(TypedDict):
    """``sanity.permutation``: label-permutation nulls (permutation_test_score)."""

    method: str
    split: str
    linear: LinearPermutation
    lightgbm: NotRequired[LightGBMPermutation]


class ModelInterval(TypedDict):
    noise_level: float
    model: str
    test_r2: float | None
    ci95: Interval


class Bootstrap(TypedDict):
    """``sanity.bootstrap``: every model's test R² interval on the same paired resamples."""

    n_resamples: int
    level: float
    method: str
    resampling: str
    test_r2_ci95: dict[str, ModelInterval]  # keyed "L=<level> <name>"


class ValSelected(TypedDict):
    """The model with the best validation R² (`daudit.models.selection.select_by_val`) and its test R²."""

    model: str
    noise_level: float
    val_r2: float | None
    test_r2: float | None
    ci95: Interval | None


class GateEvidence(TypedDict):
    """``sanity.gate``: what the checks add to the Gate-1 record (no verdict: see `daudit.core.schema.Gate`)."""

    best_model: str
    best_noise_level: float
    best_test_r2: float | None
    ci95: Interval | None
    ci95_method: str
    n_candidates: int
    ci95_best_model: Interval | None
    val_selected: ValSelected | None
    p_value_familywise: float | None
    familywise_n_models: int | None
    familywise_n_permutations: int | None
    familywise_min_p_value: float | None
    lightgbm_p_value: float | None
    lightgbm_n_permutations: int | None
    lightgbm_min_p_value: float | None


class SnrBin(TypedDict):
    bin: str
    lo: float | None  # None: open below
    hi: float | None  # None: open above
    n: int
    test_r2: float | None  # None: fewer than 2 rows or constant labels


class Snr(TypedDict):
    """``sanity.snr``: the best model's test R² by SNR bin and quartile."""

    model: str
    noise_level: float
    bins: list[SnrBin]
    quartiles: list[SnrBin]


class SnrSkipped(TypedDict):
    skipped: str


class ShareNull(TypedDict):
    """A top-k share (or count) against its permutation null (`daudit.checks.importance_null.share_null`)."""

    k: int
    observed: float
    null_mean: float | None
    null_q95: float | None
    null_max: float | None
    p_value: float | None
    min_p_value: float
    n_permutations: int
    resolvable: bool
    above_null: bool
    null: list[float | None]


class RegionNull(TypedDict):
    key: str
    feature: str
    without_lines: bool
    kind: str
    name: str
    name_zh: str
    lo: float
    hi: float
    n_pixels: int
    share: float
    null_mean: float
    null_sd: float
    null_q95: float
    threshold: float | None
    t: float | None
    above_null: bool


class RegionExcess(TypedDict):
    threshold_t: float | None
    regions: list[RegionNull]


class PixelGroup(TypedDict):
    pixel_lo: int
    pixel_hi: int
    wave_lo: float
    wave_hi: float
    n_above: int
    share: float
    max_t: float | None
    features: list[str]


class PixelExcess(TypedDict):
    threshold_t: float | None
    n_above: int
    n_groups: int
    above: list[int]
    groups: list[PixelGroup]


class LinearImportanceNull(TypedDict):
    model: str
    noise_level: float
    kind: str
    n_permutations: int
    top_k_share: ShareNull
    regions: RegionExcess
    pixels: PixelExcess


class LightGBMImportanceNull(TypedDict):
    n_permutations: int
    n_train_rows: int | None
    observed: str
    split: ShareNull
    gain: ShareNull


class ImportanceNull(TypedDict):
    """``sanity.importance_null``: the importance statistics against refits on permuted labels."""

    level: float
    top_k: int
    lightgbm: LightGBMImportanceNull | None  # None: no LightGBM permutation null
    linear: LinearImportanceNull | None  # None: no linear permutations


class OverlapNull(TypedDict):
    count: int
    null_mean: float | None
    null_q95: float | None
    p_value: float | None
    resolvable: bool
    above_null: bool


class LightGBMOverlapNull(OverlapNull):
    observed: str
    n_permutations: int


class Overlap(TypedDict):
    count: int
    jaccard: float
    k: int
    null: NotRequired[OverlapNull]


class TopSpreadPixel(TypedDict):
    rank: int
    pixel: int
    wavelength: float
    relative_spread: float


class KindCount(TypedDict):
    count: int
    expected: float
    features: dict[str, int]


Kinds = TypedDict("Kinds", {"stellar": KindCount, "telluric": KindCount, "sky": KindCount, "none": KindCount})


class Composition(TypedDict):
    """What the most variable pixels are (`daudit.data.catalogue.composition`); a pixel may count in two kinds."""

    n: int
    kinds: Kinds


class Variability(TypedDict):
    """``sanity.variability``: the "40 positions" question (`daudit.checks.variability`)."""

    definition: str
    threshold: float
    n_pixels: int
    n_above_threshold: int
    fraction_above_threshold: float
    median_spread: float
    max_spread: float
    top_k: int
    top_pixels: list[TopSpreadPixel]
    overlap: dict[str, Overlap]
    composition: Composition
    overlap_lightgbm_null: NotRequired[LightGBMOverlapNull]


class LocalisedRegion(TypedDict):
    """One region's refits (`daudit.checks.localise.judge_units`): test R² dropped and alone."""

    key: str
    kind: str  # stellar, telluric, sky (catalogue), band (per-pixel null), bands (all bands)
    name: str
    name_zh: str
    lo: float
    hi: float
    n_pixels: int
    feature: str | None
    without_lines: bool
    dropped_test_r2: float | None
    drop: float | None
    drop_ci95: Interval
    alone_test_r2: float | None
    alone_ci95: Interval
    source: bool
    removes: bool
    why: list[str]


class SkippedUnit(TypedDict):
    key: str
    why: str


class Localisation(TypedDict):
    """``sanity.localisation``: where the leak is, from refits of the primary linear model."""

    model: str
    noise_level: float
    split: str
    threshold: float
    tolerance: float
    n_resamples: int
    rule: str
    full_test_r2: float | None
    full_ci95: Interval
    units: list[LocalisedRegion]
    n_sources: int
    sources: list[str]
    removing: list[str]
    skipped: list[SkippedUnit]
