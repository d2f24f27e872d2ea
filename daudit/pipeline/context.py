"""`AuditContext`: what the stages of one audit run share (typed; no attribute added later)."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import numpy as np
from lightgbm import Booster

from daudit.checks import CheckPlan, TrainStats
from daudit.core import runlog
from daudit.core.progress import heartbeat
from daudit.core.spec import AuditSpec
from daudit.core.timefmt import format_duration
from daudit.data.pfsspec import SpectraSplit
from daudit.engine.memory import RssMonitor
from daudit.models.boosting import LightGBMPlan
from daudit.models.linear import GramEigen, LinearFamilyFit
from daudit.models.stats import CenteredStats

__all__ = ["AuditContext"]

log = logging.getLogger("daudit")


@dataclass(slots=True)
class AuditContext:
    """The shared state of one run. The sanity checks never see it: the pipeline gives them a
    frozen `daudit.checks.AuditFacts` built from it and hands over ``eigen`` and ``check_train``
    (`daudit.pipeline.run._run_checks`).

    ``predictions`` holds ``{'val'|'test': {(noise_level, model): predictions (n,)}}``;
    ``lgbm_backend`` is ``{"backend": "in-process" | "lightgbm.dask (N workers)", "backend_note"?}``.
    """

    spec: AuditSpec
    splits: dict[str, SpectraSplit]
    rng: np.random.Generator
    eigen: GramEigen | None = None  # of the train error at noise level 1
    fits: dict[float, LinearFamilyFit] = field(default_factory=dict)
    linear_checks: dict[float, dict] = field(default_factory=dict)  # level -> `check_train_r2` result
    ols_path_summary: dict | None = None  # `daudit.models.linear_checks.ols_path_summary` result
    train_stats: CenteredStats | None = None  # of the train error at noise level 1
    booster: Booster | None = None
    lgbm_plan: LightGBMPlan | None = None
    lgbm_params: dict | None = None
    lgbm_backend: dict | None = None
    metrics: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    scheduler: dict = field(default_factory=dict)
    predictions: dict[str, dict] = field(default_factory=lambda: {"val": {}, "test": {}})
    sanity: dict | None = None
    memory: RssMonitor | None = None  # while a run is going
    check_plan: CheckPlan | None = None  # drawn before the train pass the checks share
    check_train: TrainStats | None = None  # the checks' statistics from that pass

    @contextmanager
    def stage(self, name: str):
        """Time a stage, record its peak RSS, log its start and end (with the run's elapsed time)
        and tell the run's state file (`daudit.core.runlog`); while it runs, a "still running"
        line whenever the log has been silent for `daudit.core.progress.PROGRESS_INTERVAL` s."""
        t0 = time.time()
        rec = runlog.current()
        log.info("stage %s: start%s", name, _since_start(rec))
        if rec is not None:
            rec.stage_started(name)
        with self.section(name), heartbeat(f"stage {name}", spinner=False):
            yield
        self.timings[name] = round(time.time() - t0, 3)
        peak = (self.memory.peaks.get(name, 0) if self.memory is not None else 0) / 2**30
        log.info("stage %s: done in %s, peak RSS of the process tree %.2f GiB%s", name,
                 format_duration(self.timings[name]), peak, _since_start(rec))
        if rec is not None:
            rec.stage_ended(name, self.timings[name])

    def section(self, name: str):
        """Record the peak RSS while the block runs (no-op without a monitor)."""
        return self.memory.section(name) if self.memory is not None else nullcontext()


def _since_start(rec) -> str:
    return f" (run at {format_duration(rec.elapsed())})" if rec is not None else ""
