"""Stage 1 of the checks: the plan (`CheckPlan`), drawn before any pass.

`prepare` draws everything random before the one streamed pass over train (label permutations,
group shuffles; the checks' generator then continues with the LightGBM refit chunks and
subsamples), so that the pass serves the audit and the checks together
(`daudit.checks.passes.train_pass_graph` with ``cfg.gram``; the pipeline runs it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from daudit.checks.permutation import PermutationKeys, group_codes, permute_within_groups
from daudit.checks.train_chunk import TrainConfig
from daudit.engine.streaming import first_block_shift, row_offsets

__all__ = ["CheckPlan", "prepare", "train_cache_fields", "checks_rng"]

_CHECKS_STREAM = 4  # issue number: the checks' own stream of the spec seed


def checks_rng(seed: int) -> np.random.Generator:
    """The one generator of the checks, derived from the spec seed (independent of other stages)."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(_CHECKS_STREAM,)))


@dataclass(frozen=True)
class CheckPlan:
    """What the train pass and the refits will do, drawn before any pass.

    rng: the checks' generator, continued by the LightGBM refits (its draws are the plan's, in
    order); perm_keys: the linear label permutations; group_y (n, G) within-group shuffles or
    None; group_facts: what the group shuffle's summary says about its groups (or why it is
    skipped); offsets (n_chunks + 1,) row offsets of the train chunks; cfg: the train pass
    configuration (checks only; the pipeline adds the audit's statistics); use_lgbm: the spec
    has LightGBM; mask_source: where the mask-only check's mask comes from.
    """

    rng: np.random.Generator
    perm_keys: PermutationKeys
    group_y: np.ndarray | None
    group_facts: dict
    offsets: np.ndarray
    cfg: TrainConfig
    use_lgbm: bool
    mask_source: str

    @property
    def n_perm_linear(self) -> int:
        """Linear label permutations planned (K)."""
        return len(self.perm_keys)


def _group_plan(labels, s, ytr, rng) -> tuple[np.ndarray | None, dict]:
    """Within-group shuffles of the train labels (n, G) or None, and the groups' facts."""
    if not s.group_shuffle:
        return None, {}
    if "mag" not in labels.columns or "snr" not in labels.columns:
        return None, {"skipped": "the params table has no mag and snr columns"}
    codes, edges = group_codes(labels["mag"].to_numpy(), labels["snr"].to_numpy(), s.group_mag_bins,
                               s.group_snr_bins)
    group_y = permute_within_groups(ytr, codes, s.n_group_shuffles, rng)
    sizes = np.bincount(codes)
    return group_y, {"n_groups": int(np.count_nonzero(sizes)), "edges": edges,
                     "min_group_size": int(sizes[sizes > 0].min()), "n_shuffles": s.n_group_shuffles,
                     "mag_bins": s.group_mag_bins, "snr_bins": s.group_snr_bins}


def prepare(spec, splits: dict) -> CheckPlan | None:
    """Draw the permutations and group shuffles (in this order of the checks' generator) before
    the train pass; None when the checks are off or every noise level is 0. Needs only the spec
    and the opened (row-checked) splits."""
    s = spec.sanity
    ref = max(spec.noise_levels)
    if not s.enabled or ref <= 0:
        return None
    rng = checks_rng(spec.seed)
    train = splits["train"]
    ytr = train.y
    keys = PermutationKeys.draw(len(ytr), s.n_permutations_linear, rng)
    group_y, group_facts = _group_plan(train.labels, s, ytr, rng)
    off = row_offsets(train.error)
    shift = first_block_shift(train.error)
    cfg = TrainConfig(seed=spec.seed, level=ref, shuffle=s.wavelength_shuffle, mask=s.mask_only,
                      aggregates=s.aggregate_stats, x_shift=shift, y_shift=np.array([ytr[: int(off[1])].mean()]),
                      shuffle_shift=float(shift.mean()), perm_keys=keys if len(keys) else None)
    source = ("the file's mask array or non-finite or non-positive error" if train.mask is not None
              else "derived: non-finite or non-positive error")
    return CheckPlan(rng, keys, group_y, group_facts, off, cfg, spec.lightgbm is not None, source)


def train_cache_fields(plan: CheckPlan) -> dict:
    """What the checks' train statistics depend on beyond the train data (for the cache key)."""
    c = plan.cfg
    digest = hashlib.sha256()
    for arr in (c.x_shift, c.y_shift, plan.perm_keys.keys, plan.group_y):
        if arr is not None:
            digest.update(np.ascontiguousarray(arr).tobytes())
    return {"seed": c.seed, "level": c.level, "shuffle": c.shuffle, "mask": c.mask, "aggregates": c.aggregates,
            "shuffle_shift": c.shuffle_shift, "arrays": digest.hexdigest(), "version": 3}  # 3: mask OR NaN
