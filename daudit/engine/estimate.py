"""How long a run will take: stage costs measured on the reference machine, scaled to the data and this machine.

The cost of each stage of ``python -m daudit run`` is modelled by what drives it (values read,
Gram products, eigendecompositions, LightGBM histogram work), with coefficients fitted to the
stage timings of the demo run on the 2-core reference machine (bench/RESULTS.md: 100k/10k/10k
x 4096 pixels, cold caches, 383 s). `machine_speed` times a small matrix product here and
compares it with the same product on the reference machine, so the printed figure follows
the machine it runs on. It is an estimate: machine load, disk speed and warm caches move the
real time (a second run reuses the zarr copies and the statistics).

`estimate_run` is the one entry point: ``run --detach`` prints it, and a run can log it at its
start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from daudit.core.spec import AuditSpec
from daudit.core.timefmt import format_duration

__all__ = ["REFERENCE", "Estimate", "RunSize", "estimate_run", "estimate_seconds", "machine_speed"]

# Coefficients (seconds per unit on the reference machine), from bench/RESULTS.md's cold demo run:
# open data 7 s (zarr copy), row check 3 s, statistics pass 34 s, eigendecomposition 6 s,
# LightGBM 71 s, prediction pass 8 s, sanity checks 251 s (train pass 70 s in memory_RESULTS.md).
REFERENCE = {
    "startup": 10.0,                     # interpreter, imports, Dask cluster, artifacts
    "copy_per_value": 7.0 / (120_000 * 4096),        # open data: zarr copy of every split
    "read_per_value": 3.0 / (120_000 * 4096),        # row check
    "gram_per_unit": 34.0 / (100_000 * 4096**2),     # statistics pass: n_train * p^2
    "eigh_per_unit": 6.0 / 4096**3,                  # one eigendecomposition: p^3
    "predict_per_value": 8.0 / (120_000 * 4096),     # prediction pass over every split
    "lgbm_per_tree_pixel": 2.2e-6,                   # LightGBM: per tree and feature, fixed part
    "lgbm_per_tree_pixel_row": 1.7e-9,               # ... and per row
    "sanity_gram_per_unit": 70.0 / (100_000 * 4096**2),  # the checks' train pass (two more Grams)
    "sanity_eighs": 6.5,                             # eigendecompositions inside the checks
    "sanity_eval_per_value": 5.0 / (20_000 * 4096),  # the checks' val/test pass
    # ``a.T @ a`` of a (2048, 1024) float64 array (4.3 GFLOP) on the reference machine's 2 Haswell
    # cores at their peak (about 73 GFLOP/s); the best seen there under a load average of 8 was 0.10 s
    "calibration_seconds": 0.06,
}


@dataclass(frozen=True)
class RunSize:
    """What a run's cost depends on.

    Attributes
    ----------
    n_train, n_val, n_test : int
        Rows of each split.
    n_pixels : int
        Columns of the error array.
    n_trees : int
        LightGBM trees (0: no LightGBM).
    sanity : bool
        Whether the sanity checks run.
    refits_rows, n_refits : int
        Rows and count of the checks' LightGBM refits on ``sanity.lightgbm_rows`` rows.
    permutation_rows, n_permutation_refits : int
        Rows and count of the LightGBM permutation-null refits.
    """

    n_train: int
    n_val: int
    n_test: int
    n_pixels: int
    n_trees: int = 0
    sanity: bool = True
    refits_rows: int = 0
    n_refits: int = 0
    permutation_rows: int = 0
    n_permutation_refits: int = 0

    @property
    def n_rows(self) -> int:
        return self.n_train + self.n_val + self.n_test


@dataclass(frozen=True)
class Estimate:
    """An estimated duration: ``seconds`` in total and per stage, at ``speed`` x the reference machine."""

    seconds: float
    stages: dict = field(default_factory=dict)
    speed: float = 1.0
    size: RunSize | None = None

    def text(self) -> str:
        """``"about 6m 20s (estimate: 120,000 spectra x 4096 pixels, this machine at 0.8x the reference)"``."""
        what = f"{self.size.n_rows:,} spectra x {self.size.n_pixels} pixels, " if self.size else ""
        return (f"about {format_duration(self.seconds)} (an estimate from {what}this machine's measured speed "
                f"{self.speed:.2g}x the reference machine; load and warm caches change it)")


def estimate_seconds(size: RunSize, *, speed: float = 1.0) -> Estimate:
    """Estimated wall time of a run of ``size`` on a machine ``speed`` times the reference machine.

    Pure: no measurement here (see `machine_speed`).

    Parameters
    ----------
    size : RunSize
    speed : float
        > 1 for a machine faster than the reference one.

    Returns
    -------
    Estimate
    """
    c, p = REFERENCE, size.n_pixels
    values = size.n_rows * p
    lgbm_rows = size.n_train

    def lgbm(rows: int, fits: int) -> float:
        return fits * size.n_trees * p * (c["lgbm_per_tree_pixel"] + c["lgbm_per_tree_pixel_row"] * rows)

    stages = {
        "startup": c["startup"],
        "open data": c["copy_per_value"] * values,
        "row check": c["read_per_value"] * values,
        "statistics pass": c["gram_per_unit"] * size.n_train * p**2,
        "eigendecomposition": c["eigh_per_unit"] * p**3,
        "lightgbm fit": lgbm(lgbm_rows, 1) if size.n_trees else 0.0,
        "prediction pass": c["predict_per_value"] * values,
    }
    if size.sanity:
        stages["sanity checks"] = (c["sanity_gram_per_unit"] * size.n_train * p**2
                                   + c["sanity_eighs"] * c["eigh_per_unit"] * p**3
                                   + c["sanity_eval_per_value"] * (size.n_val + size.n_test) * p)
        if size.n_trees:
            stages["sanity checks"] += (lgbm(min(size.refits_rows, size.n_train), size.n_refits)
                                        + lgbm(min(size.permutation_rows, size.n_train), size.n_permutation_refits))
    speed = max(float(speed), 1e-3)
    stages = {k: v / speed for k, v in stages.items()}
    return Estimate(seconds=sum(stages.values()), stages=stages, speed=speed, size=size)


def run_size(spec: AuditSpec, n_rows: dict, n_pixels: int) -> RunSize:
    """The `RunSize` of ``spec`` on splits of ``n_rows`` (``{"train": n, "val": n, "test": n}``)."""
    s = spec.sanity
    trees = spec.lightgbm.n_estimators if spec.lightgbm is not None and any(lv > 0 for lv in spec.noise_levels) else 0
    n_refits = 1 + sum(bool(v) for v in (s.wavelength_shuffle, s.group_shuffle, s.mask_only, s.aggregate_stats))
    return RunSize(n_train=int(n_rows["train"]), n_val=int(n_rows["val"]), n_test=int(n_rows["test"]),
                   n_pixels=int(n_pixels), n_trees=trees, sanity=s.enabled, refits_rows=s.lightgbm_rows,
                   n_refits=n_refits, permutation_rows=s.lightgbm_permutation_rows,
                   n_permutation_refits=s.n_permutations_lightgbm + (1 if s.n_permutations_lightgbm else 0))


_SPEED: list[float] = []


def machine_speed(*, repeats: int = 5) -> float:
    """This machine's speed relative to the reference machine (> 1: faster), measured once per process.

    Times ``a.T @ a`` of a (2048, 1024) float64 array (about 4 GFLOP, 0.05 to 0.5 s) ``repeats``
    times and takes the best, against the same product on the reference machine.
    """
    if not _SPEED:
        a = np.random.default_rng(0).standard_normal((2048, 1024))
        best = float("inf")
        for _ in range(max(int(repeats), 1)):
            t0 = time.perf_counter()
            a.T @ a
            best = min(best, time.perf_counter() - t0)
        _SPEED.append(REFERENCE["calibration_seconds"] / max(best, 1e-6))
    return _SPEED[0]


def estimate_run(spec: AuditSpec, n_rows: dict, n_pixels: int, *, speed: float | None = None) -> Estimate:
    """Estimated wall time of ``spec`` on splits of ``n_rows`` x ``n_pixels`` on this machine.

    ``speed`` defaults to `machine_speed` (a calibration of about a second, once per process).
    """
    return estimate_seconds(run_size(spec, n_rows, n_pixels), speed=machine_speed() if speed is None else speed)
