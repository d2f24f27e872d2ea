"""Small typed records of the checks: what the eval pass computes, and where each model's columns are.

The eval pass stacks many models into a few matrix products (one per input: the error, the
wavelength-shuffled error, the mask columns). `EvalLayout` remembers which columns belong to
which model family (`ModelBlock`) or booster, and `EvalOutputs` hands back one model's
predictions by role, so no caller unpacks columns by position or by string tuples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ModelBlock", "LinearStack", "EvalLayout", "EvalOutputs", "INPUTS"]

INPUTS = ("real", "shuffled", "mask")  # what an eval-pass model reads: error, shuffled error, mask


@dataclass(frozen=True)
class ModelBlock:
    """The columns of one linear family in an eval-pass output.

    role : ``"original"`` (the audit's models), ``"group"``, ``"unrefitted"``, ``"shuffled"``
    or ``"mask"``; level : the noise level it acts at; names : its model names; k : target
    columns per model (1, or one per group shuffle); start, stop : its columns. Column of model
    ``i``, target ``j``: ``start + i * k + j``.
    """

    role: str
    level: float
    names: tuple[str, ...]
    k: int
    start: int
    stop: int

    def column(self, name: str, j: int = 0) -> int:
        """The output column of model ``name``, target ``j``."""
        return self.start + self.names.index(name) * self.k + j

    def take(self, pred: np.ndarray) -> np.ndarray:
        """This block's columns of ``pred`` (n, a): (n, len(names) * k)."""
        return pred[:, self.start:self.stop]


@dataclass
class LinearStack:
    """Families stacked for one input: coef (q, a) and intercept (a,) include the noise level."""

    coef: list = field(default_factory=list)
    intercept: list = field(default_factory=list)
    blocks: list = field(default_factory=list)
    width: int = 0

    def add(self, role: str, level: float, names, coef: np.ndarray, intercept: np.ndarray, k: int = 1):
        """Append one family: coef (q, m * k) model-major, intercept (m * k,)."""
        a = coef.shape[1]
        self.blocks.append(ModelBlock(role, float(level), tuple(names), k, self.width, self.width + a))
        self.coef.append(coef)
        self.intercept.append(intercept)
        self.width += a

    def matrices(self):
        """(coef (q, width), intercept (width,)), or None when nothing was added."""
        if not self.coef:
            return None
        return np.ascontiguousarray(np.concatenate(self.coef, axis=1)), np.concatenate(self.intercept)


@dataclass(frozen=True)
class EvalLayout:
    """Where every check model sits in the eval-pass outputs, per input."""

    linear: dict  # input -> tuple of ModelBlock
    boosters: dict  # input -> tuple of booster roles, in column order

    def block(self, kind: str, role: str, level: float | None = None) -> ModelBlock | None:
        """The linear family ``role`` (at ``level``, when given) read from input ``kind``, or None."""
        return next((b for b in self.linear.get(kind, ())
                     if b.role == role and (level is None or b.level == float(level))), None)

    def has_booster(self, kind: str, role: str) -> bool:
        return role in self.boosters.get(kind, ())


@dataclass(frozen=True)
class EvalOutputs:
    """Stage 5 of the checks, the gathered eval pass: predictions per split, plus the permuted
    models' test RSS.

    pred / lgbm : {split: {input: (n, a)}}; aggregates : {split: (n, 10) or None};
    perm_rss : (K,) residual sums of squares of the permuted linear models on test, or None;
    need_original : the audit's own predictions were recomputed in this pass (role
    ``"original"``); seconds : {"eval_pass": wall time, "eval_pass_chunk_seconds": {part: s}}.
    """

    layout: EvalLayout
    pred: dict
    lgbm: dict
    aggregates: dict
    perm_rss: np.ndarray | None
    need_original: bool = False
    seconds: dict = field(default_factory=dict)

    def linear(self, split: str, kind: str, role: str) -> np.ndarray | None:
        """Predictions (n, m * k) of the family ``role`` on ``split``, or None."""
        b = self.layout.block(kind, role)
        return None if b is None else b.take(self.pred[split][kind])

    def booster(self, split: str, kind: str, role: str) -> np.ndarray | None:
        """Predictions (n,) of the booster ``role`` on ``split``, or None."""
        roles = self.layout.boosters.get(kind, ())
        return self.lgbm[split][kind][:, roles.index(role)] if role in roles else None
