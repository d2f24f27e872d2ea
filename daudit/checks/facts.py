"""What the checks are given: a frozen record of the audit's facts, and hand-overs of what they spend.

`AuditFacts` is built by the pipeline once the audit's own models, predictions and metrics are
done; the checks read it and never see the pipeline's context. Two large things the checks
spend are not facts but are handed over (`Handover`): the audit's eigendecomposition (whose
p x p eigenvectors the linear refits park on disk, read back for the permuted labels' solves,
then release) and the train pass's `TrainStats` (whose Gram matrices the refits' decompositions
overwrite). A hand-over keeps no reference once taken, so the memory is freed when the taker
drops it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Generic, TypeVar

from daudit.core.spec import AuditSpec

__all__ = ["AuditFacts", "Handover"]

T = TypeVar("T")


class Handover(Generic[T]):
    """One value handed from its owner to the next: `take` returns it once and keeps no
    reference (a second `take` returns None), so the giver must hold no other reference."""

    __slots__ = ("_value",)

    def __init__(self, value: T | None):
        self._value = value

    def take(self) -> T | None:
        value, self._value = self._value, None
        return value


@dataclass(frozen=True)
class AuditFacts:
    """The audit the checks examine (read only).

    spec: the audit's spec; splits: {'train'|'val'|'test': `daudit.data.pfsspec.SpectraSplit`};
    fits: {noise level: `LinearFamilyFit`}; train_stats: `CenteredStats` of the train error at
    level 1 (no S_xx); metrics: the metrics.csv rows; predictions: {'val'|'test': {(level,
    model): (n,)}}; booster, lgbm_plan, lgbm_params: the audit's LightGBM (None without);
    scheduler: the Dask scheduler's description (lanes of a fold); section: a function of a
    name giving a context manager that records the peak RSS of a block (None: no monitor).
    """

    spec: AuditSpec
    splits: dict
    fits: dict
    train_stats: object | None = None
    metrics: list = field(default_factory=list)
    predictions: dict = field(default_factory=lambda: {"val": {}, "test": {}})
    booster: object | None = None
    lgbm_plan: object | None = None
    lgbm_params: dict | None = None
    scheduler: dict = field(default_factory=dict)
    section: Callable | None = None

    @property
    def levels(self) -> list:
        """The noise levels whose fit is not degenerate, in the spec's order."""
        return [lv for lv in self.spec.noise_levels if not self.fits[lv].degenerate]

    @property
    def ref(self) -> float:
        """The reference noise level of the checks: the highest non-degenerate one."""
        return max(self.levels)

    def labels(self) -> dict:
        """{split: labels (n,)}."""
        return {k: v.y for k, v in self.splits.items()}

    def timed(self, name: str):
        """Peak-RSS section ``name`` of the run's monitor (a no-op without one)."""
        return self.section(name) if self.section is not None else contextlib.nullcontext()
