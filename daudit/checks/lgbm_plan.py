"""How the checks' LightGBM refits are sized: rows, bins, feature fraction and permutations.

The checks refit the audit's LightGBM (same trees, depth and learning rate) about 25 times: on
the same rows, the wavelength-shuffled rows, the group-shuffled labels, the mask columns and
the aggregates, and a label-permutation null (a reference fit and K permuted fits). On 4096
features each fit costs about as much as the audit's own fit on the same rows, so the refits
are planned to a time budget: `TIME_SHARE` of the audit's own LightGBM fit, in the cost model
below, with every refit single-threaded (results do not depend on the machine's core count) and
as many running at once as there are cores.

Cost model (seconds of one thread on the 2-core reference machine, fitted to measured fits of
3,000 and 20,000 rows x 4096 features; only its ratios matter, since the budget is a share of
the audit's fit in the same units)::

    fit   = trees * q * ff * (C_HIST * rows + C_SPLIT * bins)      q features, ff feature fraction
    bins  = C_BIN * sample * q                                    one binned Dataset per input

The plan takes the first rung of `LADDER` (feature fraction, max_bin, bin sample) whose cost fits
the budget; below the last rung it lowers the rows to their floors, and says when even the
floors exceed the budget. The permutation null needs K >= ceil(1 / alpha) permuted fits for
its p-value, ``(C + 1) / (K + 1)``, to be able to fall below alpha = 0.05 (the resolution the
report quotes), so K is never planned below that unless the spec asks for fewer; the null stops
early once ``STOP_AFTER`` permuted fits reach the observed R2 (Besag and Clifford's sequential
p-value, ``STOP_AFTER / L`` after L fits): then p > 0.05 is already decided.

Memory: the kept rows and their transformed copies, one binned Dataset and histogram pool per
running fit, and one bin sample being binned at a time must fit the memory budget.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from daudit.models.boosting import BINNED_BYTES, SAMPLE_BYTES, histogram_bytes

__all__ = ["RefitPlan", "plan_refits", "fit_seconds", "feature_fraction_for", "LADDER", "TIME_SHARE", "ALPHA",
           "STOP_AFTER"]

C_HIST = 3.6e-9  # s per row x feature x tree (histograms)
C_SPLIT = 9.5e-8  # s per bin x feature x tree (split finding over about 30 leaves)
C_BIN = 3.3e-7  # s per bin-sample row x feature (bin boundaries and pushing the rows)
TIME_SHARE = 0.5  # refits together: at most this share of the audit's own LightGBM fit ...
MIN_BUDGET = 10.0  # ... or this many reference seconds, when that fit is tiny (narrow inputs)
MIN_FEATURES = 64  # a feature fraction never leaves a tree fewer features than this
ALPHA = 0.05  # the gate's significance level: the null must be able to give p < ALPHA
STOP_AFTER = 3  # permuted fits at or above the observed R2 that end the null early
MIN_ROWS, MIN_NULL_ROWS = 2_000, 1_000
# (feature_fraction, max_bin, bin sample cap): best first
LADDER = ((1.0, 255, 10_000), (0.5, 255, 5_000), (0.25, 255, 5_000), (0.25, 63, 2_000), (0.1, 63, 2_000))
_HELD = 5.0  # bytes per value held through the refits: the kept float32 rows and their uint8 mask
_COPY = 4.0  # bytes per value of the input being binned (a float32 shuffled or mask copy), one at a time


def feature_fraction_for(features: int, feature_fraction: float) -> float:
    """The plan's feature fraction for an input of ``features`` columns (at least `MIN_FEATURES` per tree)."""
    return float(min(1.0, max(feature_fraction, MIN_FEATURES / max(1, int(features)))))


def fit_seconds(rows: int, features: int, *, bins: int = 255, feature_fraction: float = 1.0, trees: int = 100,
                sample: int | None = None) -> float:
    """Reference seconds of one fit (``sample``: also bin a Dataset from that many rows)."""
    eff_bins = min(bins, max(2, rows // 3))  # LightGBM keeps >= 3 rows per bin (min_data_in_bin)
    ff = feature_fraction_for(features, feature_fraction)
    t = trees * features * ff * (C_HIST * rows + C_SPLIT * eff_bins)
    return t + (C_BIN * sample * features if sample else 0.0)


@dataclass(frozen=True)
class RefitPlan:
    """The checks' LightGBM refits.

    rows / null_rows: train rows of the check refits / of the permutation null; bin_sample:
    bin_construct_sample_cnt; max_bin, feature_fraction: LightGBM's; n_permutations: K planned;
    threads: fits run at once (each single-threaded); seconds / budget_seconds: the cost model's
    prediction and the budget (reference seconds); estimated_bytes / budget_bytes: memory.
    """

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

    def params(self, n_features: int) -> dict:
        """The booster parameters the plan changes (added to the audit's) for an input of
        ``n_features`` columns."""
        return {"max_bin": self.max_bin, "feature_fraction": feature_fraction_for(n_features, self.feature_fraction),
                "bin_construct_sample_cnt": self.bin_sample, "num_threads": 1}

    def to_dict(self) -> dict:
        return asdict(self)


def _cost(rows, null_rows, n_perm, p, n_mask, ff, bins, cap, trees):
    s, sn = min(rows, cap), min(null_rows, cap)
    # same rows, shuffled, group; the group refit shares the same rows' Dataset (binned once)
    check = 3 * fit_seconds(rows, p, bins=bins, feature_fraction=ff, trees=trees, sample=s) - C_BIN * s * p
    mask = fit_seconds(rows, n_mask, bins=2, feature_fraction=ff, trees=trees, sample=s)
    null = (fit_seconds(null_rows, p, bins=bins, feature_fraction=ff, trees=trees, sample=sn)
            + n_perm * fit_seconds(null_rows, p, bins=bins, feature_fraction=ff, trees=trees)) if n_perm else 0.0
    return check + mask + null


def _bytes(rows, p, bins, sample, threads):
    """Peak bytes: held rows, one binned Dataset and histogram pool per running fit, and one
    input being binned (its copy and its bin sample)."""
    return int(_HELD * rows * p + threads * (BINNED_BYTES * rows * p + histogram_bytes(p, bins))
               + (_COPY * rows + SAMPLE_BYTES * min(rows, sample)) * p)


def _fit_memory(rows, p, bins, cap, budget_bytes):
    """Rows (down to `MIN_ROWS`) whose single-threaded refits fit ``budget_bytes``."""
    while rows > MIN_ROWS and _bytes(rows, p, bins, cap, 1) > budget_bytes:
        rows = max(MIN_ROWS, int(rows * 0.8))
    return rows


def plan_refits(*, n_train: int, n_features: int, n_mask: int, main_rows: int, main_sample: int, trees: int,
                max_rows: int, max_null_rows: int, n_permutations: int, threads: int, budget_bytes: int) -> RefitPlan:
    """The cheapest-enough plan: see the module docstring.

    n_mask: mask columns the mask refit sees (<= n_features); main_rows, main_sample: the
    audit's own fit (its rows and bin sample); max_rows, max_null_rows, n_permutations: the
    spec's ``lightgbm_rows``, ``lightgbm_permutation_rows``, ``n_permutations_lightgbm``.
    """

    p, threads = int(n_features), max(1, int(threads))
    budget = max(TIME_SHARE * fit_seconds(main_rows, p, trees=trees, sample=min(main_rows, main_sample)), MIN_BUDGET)
    k_min = math.ceil(1 / ALPHA)  # p = 1 / (K + 1) < alpha
    k = n_permutations if n_permutations <= k_min else k_min
    rows0 = min(int(max_rows), int(n_train))
    choice = None
    for ff, bins, cap in LADDER:
        rows = _fit_memory(rows0, p, bins, cap, budget_bytes)
        null_rows = min(int(max_null_rows), rows)
        t = _cost(rows, null_rows, k, p, n_mask, ff, bins, cap, trees)
        if t <= budget:
            choice = (ff, bins, cap, t, "fits the time budget")
            break
    if choice is None:  # the cheapest rung: fewer rows, down to the floors
        ff, bins, cap = LADDER[-1]
        while True:
            t = _cost(rows, null_rows, k, p, n_mask, ff, bins, cap, trees)
            if t <= budget or (rows <= MIN_ROWS and null_rows <= MIN_NULL_ROWS):
                break
            rows = max(min(MIN_ROWS, rows), int(rows * 0.8))
            null_rows = max(min(MIN_NULL_ROWS, null_rows), min(null_rows, int(null_rows * 0.8), rows))
        note = "fits the time budget" if t <= budget else f"over the time budget by {t / budget:.1f}x at the floors"
        choice = (ff, bins, cap, t, note)
    ff, bins, cap, t, note = choice
    threads = max([1] + [n for n in range(1, threads + 1) if _bytes(rows, p, bins, cap, n) <= budget_bytes])
    sample = min(rows, cap)
    null = (f"{null_rows} for the permutation null ({k} permutations: p can reach 1/{k + 1}"
            f"{' < ' + str(ALPHA) if k >= k_min else ''})" if k else "no permutation null (the spec asks for none)")
    why = (f"{rows} rows for the checks, {null}, feature_fraction {ff:g}, max_bin {bins}, "
           f"bin boundaries from {sample} rows; predicted {t:.0f} s against a budget of {budget:.0f} s "
           f"({TIME_SHARE:g} x the audit's own fit, at least {MIN_BUDGET:g}; reference seconds): {note}; "
           f"{threads} single-threaded fits at once")
    return RefitPlan(rows, null_rows, sample, bins, ff, k, STOP_AFTER, threads, round(t, 1), round(budget, 1),
                     _bytes(rows, p, bins, sample, threads), int(budget_bytes), why)
