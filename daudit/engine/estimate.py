"""How long a run will take: stage costs measured on the reference machine, scaled to the data and this machine.

The cost of each stage of ``python -m daudit run`` is modelled by what drives it (values read,
Gram products, eigendecompositions, LightGBM histogram work), with coefficients fitted to the
stage timings of the demo run on the 2-core reference machine (bench/estimate_reference.md:
100k/10k/10k x 4096 pixels, cold caches, 456 s). `machine_speed` scales them to this machine as it is now:
the CPU time of a small matrix product against the reference machine's (per-core speed; CPU
time, unlike wall time, does not grow when other work competes for the cores), the core count
(as its square root: 16 cores ran the statistics and the eigendecomposition 2 to 2.5x faster
than 2, bench/gpu_RESULTS.md) and the share of the cores other work leaves free (`core_share`,
from the load average). On the shared 2-core reference machine at a load average of 12 to 20
the demo run took 82 minutes; this model, at its start (load average 12), gives 45 (a first
version that timed the product's wall time printed 11). It is an estimate:
later load, disk speed and warm caches (a second run reuses the zarr copies and the
statistics) move the real time.

`estimate_run` is the one entry point: ``run --detach`` prints it, and a run can log it at its
start.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from daudit.core.spec import AuditSpec
from daudit.core.timefmt import format_duration

__all__ = ["REFERENCE", "Estimate", "RunSize", "core_share", "estimate_run", "estimate_seconds", "machine_speed"]

# Coefficients (seconds per unit on the reference machine), from bench/estimate_reference.md, the
# cold demo run of this code ("this checkout: demo, cold caches", 456 s): open data 20 s (zarr copy), row check
# 9 s, statistics pass 138 s (the Gram, 52 s alone in the same run's baseline, and the checks'
# statistics in the same pass), eigendecomposition 8 s, LightGBM 161 s, prediction pass 8 s,
# sanity checks 102 s (two more eigendecompositions, the val/test pass, and LightGBM refits
# planned to half the audit's own fit).
REFERENCE = {
    "startup": 8.0,                      # interpreter, imports, Dask cluster, artifacts
    "copy_per_value": 20.0 / (120_000 * 4096),       # open data: zarr copy of every split
    "read_per_value": 9.0 / (120_000 * 4096),        # row check
    "gram_per_unit": 52.0 / (100_000 * 4096**2),     # statistics pass: n_train * p^2
    "eigh_per_unit": 8.0 / 4096**3,                  # one eigendecomposition: p^3
    "predict_per_value": 8.0 / (120_000 * 4096),     # prediction pass over every split
    "lgbm_per_tree_pixel": 5.03e-6,                  # LightGBM: per tree and feature, fixed part
    "lgbm_per_tree_pixel_row": 3.885e-9,             # ... and per row
    "sanity_gram_per_unit": 86.0 / (100_000 * 4096**2),  # the checks' sums, in the statistics pass
    "sanity_eighs": 2,                               # eigendecompositions inside the checks
    "sanity_eval_per_value": 5.5 / (20_000 * 4096),  # the checks' val/test pass
    "sanity_lgbm_share": 0.5,                        # the refits' time budget: this share of the audit's fit
    # CPU seconds of ``a.T @ a`` for a (2048, 1024) float64 array (4.3 GFLOP) on the reference
    # machine (best of 5, measured in the session of the reference run)
    "calibration_cpu_seconds": 0.064,
    "reference_cores": 2,
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
                f"now, {self.speed:.2g}x the reference machine; load and warm caches change it)")


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
    if size.sanity:  # the checks' sums ride in the statistics pass; their refits have a time budget
        stages["statistics pass"] += c["sanity_gram_per_unit"] * size.n_train * p**2
        stages["sanity checks"] = (c["sanity_eighs"] * c["eigh_per_unit"] * p**3
                                   + c["sanity_eval_per_value"] * (size.n_val + size.n_test) * p)
        if size.n_trees:
            stages["sanity checks"] += c["sanity_lgbm_share"] * stages["lightgbm fit"]
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


_BLAS: list[float] = []


def core_share() -> float:
    """The share of this machine's cores a run starting now can expect: ``n / (n + load)``.

    ``load`` is the 1-minute load average (processes running or waiting for a core), ``n`` the
    core count; 1 where the load average is unknown (Windows).
    """
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return 1.0
    n = os.cpu_count() or 1
    return n / (n + max(float(load), 0.0))


def machine_speed(*, repeats: int = 5) -> float:
    """This machine's speed relative to the reference machine now (> 1: faster).

    ``per-core speed x sqrt(cores / 2) x core_share()``: the per-core speed from the CPU time of
    ``a.T @ a`` for a (2048, 1024) float64 array, best of ``repeats`` (measured once per
    process); the share of the cores from the load average (read at every call).
    """
    if not _BLAS:
        a = np.random.default_rng(0).standard_normal((2048, 1024))
        best = float("inf")
        for _ in range(max(int(repeats), 1)):
            t0 = time.process_time()
            a.T @ a
            best = min(best, time.process_time() - t0)
        _BLAS.append(REFERENCE["calibration_cpu_seconds"] / max(best, 1e-4))
    cores = (os.cpu_count() or 1) / REFERENCE["reference_cores"]
    return _BLAS[0] * cores ** 0.5 * core_share()


def estimate_run(spec: AuditSpec, n_rows: dict, n_pixels: int, *, speed: float | None = None) -> Estimate:
    """Estimated wall time of ``spec`` on splits of ``n_rows`` x ``n_pixels`` on this machine.

    ``speed`` defaults to `machine_speed` (a calibration of about a second, once per process).
    """
    return estimate_seconds(run_size(spec, n_rows, n_pixels), speed=machine_speed() if speed is None else speed)
