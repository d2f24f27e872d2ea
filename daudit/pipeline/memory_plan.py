"""The smallest ``compute.memory_limit`` a run can honour for its width, checked before any pass.

A run's peak is set by p x p float64 matrices (``P = 8 p^2`` bytes, 134 MB at 4096 pixels), which
no plan can shrink; everything else (LightGBM's rows, the checks' refits) is planned to fit the
limit. Per stage, in this process and its Dask workers (measured on the demo data, bench/RESULTS.md):

- train pass: the Gram accumulator (P; each chunk goes straight into it, no chunk product), the
  checks' float32 shuffled and mask Grams (P), and the chunks in flight (about 24 bytes per
  value of a row chunk: measured 0.19 GiB at 2048 x 4096); all of it once per lane of the fold
  when ``compute.fold_lanes`` asks for more than one (`daudit.engine.streaming.fold_lanes`);
- the audit's eigendecompositions (`daudit.models.linear.decompose`, the equilibrated one, then
  the raw one): one p x p matrix that syevd overwrites with the eigenvectors and its workspace
  (3 P) while the other waits on disk (`daudit.engine.spill.Parked`), the checks' Grams still
  waiting (P);
- the checks' eigendecompositions: one check's S_xx and its workspace (3 P, the same parking),
  the other check's float32 Gram (0.5 P); the audit's two sets of eigenvectors are parked on
  disk meanwhile (`daudit.engine.spill.Parked`) and released once the permuted labels are solved;
- the checks' region refits (`daudit.checks.localise`, before the eigenvectors are released):
  the one set of the audit's eigenvectors the primary model needs (P: the other set is released
  first), one region's rows of them (at most P / 2: wider regions are not refitted) and its Gram
  with that Gram's decomposition (3 x P / 4), at most 2.25 P, counted with the checks' Grams (P)
  should any still wait;
- LightGBM and the prediction pass: the checks' Grams (P) plus LightGBM's planned budget (at
  least `daudit.engine.cluster.main_budget`'s floor); the audit's eigenvectors are parked.

With ``compute.n_workers`` worker processes (the local scheduler), each needs at least
`daudit.engine.cluster.WORKER_FLOOR` out of the workers' share of the limit
(`daudit.engine.cluster.WORKER_SHARE`): `check_workers` refuses more workers than that share can
hold, so the limit bounds the whole process tree whatever the worker count.

`minimum_limit` is the largest of these above `BASE` (libraries, the in-process Dask worker:
0.31 GiB measured after the row check), divided by `HEADROOM` for allocator slack;
`check_memory_limit` refuses a smaller limit with one line before any data is copied or read.
At 4096 pixels with the checks and LightGBM: 0.90 GiB, so a 1 GB node is honoured; at 8192: 2.6 GiB.
"""

from __future__ import annotations

import h5py

from daudit.checks.localise import MAX_UNIT_FRACTION
from daudit.core.errors import DauditError
from daudit.core.spec import AuditSpec
from daudit.data.layout import ERROR_KEY
from daudit.data.pfsspec import expand_paths
from daudit.engine.cluster import WORKER_FLOOR, WORKER_SHARE, max_workers
from daudit.models.boosting import BINNED_BYTES, SAMPLE_BYTES

__all__ = ["minimum_limit", "check_memory_limit", "check_workers", "BASE", "HEADROOM"]

BASE = 320 * 2**20  # Python, numpy, Dask (scheduler + in-process worker), LightGBM, a run's graphs
HEADROOM = 0.9  # the modelled peak may use this share of the limit
_LGBM_FLOOR = 256 * 2**20  # `daudit.engine.cluster.main_budget`'s floor


def minimum_limit(n_features: int, *, chunk_rows: int, checks: bool, lightgbm: bool, lanes: int = 1) -> int:
    """Bytes of ``compute.memory_limit`` below which a run over ``n_features`` pixels cannot
    stay within its limit (see the module docstring); ``lanes``: accumulators of the train pass."""
    p = int(n_features)
    big = 8.0 * p * p
    held = big if checks else 0.0  # the checks' two float32 Grams, waiting for their fits
    chunks = 24.0 * min(int(chunk_rows), 4096) * p
    stages = [max(1, int(lanes)) * (big + held + chunks), 3 * big + held]
    if checks:
        stages.append(3.5 * big)
        stages.append((1.0 + MAX_UNIT_FRACTION + 3.0 * MAX_UNIT_FRACTION**2) * big + held)  # region refits
    if lightgbm:  # the plan's floor, or what LightGBM needs for 20k rows and a 10k bin sample if less
        stages.append(held + min(_LGBM_FLOOR, (BINNED_BYTES * 20_000 + SAMPLE_BYTES * 10_000) * p))
    return int((BASE + max(stages)) / HEADROOM)


def _train_width(spec: AuditSpec) -> int | None:
    """Pixels of the first train file, or None when it cannot be read (`open_data` says why)."""
    try:
        path = expand_paths(spec.data.train_path, where="train split")[0]
        with h5py.File(path, "r") as f:
            return int(f[ERROR_KEY].shape[1])
    except (DauditError, OSError, KeyError, IndexError, TypeError, ValueError):
        return None


def check_workers(spec: AuditSpec) -> None:
    """Refuse (`DauditError`, one line) more local worker processes than ``compute.memory_limit`` can hold."""
    c = spec.compute
    if c.n_workers is None or c.scheduler != "local" or c.n_workers <= max_workers(c.memory_limit):
        return
    fits = max_workers(c.memory_limit)
    need = c.n_workers * WORKER_FLOOR / WORKER_SHARE
    advice = f"lower compute.n_workers to {fits} or less" if fits >= 1 else "leave compute.n_workers unset (one process)"
    raise DauditError(f"compute.n_workers {c.n_workers} worker processes need at least {WORKER_FLOOR // 2**20} MiB "
                      f"each, {c.n_workers * WORKER_FLOOR / 2**30:.2f} GiB in all, but compute.memory_limit "
                      f"{c.memory_limit / 2**30:.2f} GiB gives the workers {WORKER_SHARE:.0%} of it: {advice}, or "
                      f"raise compute.memory_limit (or --memory-limit) to at least {need / 2**30 + 0.005:.2f}GiB")


def check_memory_limit(spec: AuditSpec) -> int | None:
    """Refuse (`DauditError`, one line) a ``compute.memory_limit`` below `minimum_limit` for the
    width of the train files, or too small for its worker processes (`check_workers`); returns
    that minimum (None when the width is not known yet)."""
    check_workers(spec)
    p = _train_width(spec)
    if p is None:
        return None
    need = minimum_limit(p, chunk_rows=spec.compute.chunk_rows, checks=spec.sanity.enabled,
                         lightgbm=spec.lightgbm is not None, lanes=spec.compute.fold_lanes or 1)
    have = spec.compute.memory_limit
    if have < need:
        raise DauditError(f"compute.memory_limit {have / 2**30:.2f} GiB is below what an audit of {p} pixels "
                          f"needs at its peak (its p x p float64 matrices, {8 * p * p / 2**20:.0f} MiB each); "
                          f"the smallest limit it can honour is {need / 2**30:.2f} GiB: raise "
                          f"compute.memory_limit (or --memory-limit) to at least {need / 2**30 + 0.005:.2f}GiB")
    return need
