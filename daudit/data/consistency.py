"""Do the splits pose one problem? The same wavelength grid, and labels from one population.

Two inputs make a Gate-1 verdict meaningless even when every file is well formed:

- splits (or the shards of one split) on different wavelength grids with the same pixel count
  (reversed, shifted by a few pixels): pixel j of test is not pixel j of train, so every model is
  scored on other inputs than it was fitted on. `grid_mismatch` compares the grids element by
  element (`GRID_RTOL`), and `check_same_grid` refuses with the first differing pixel.
- a val or test split whose label distribution is far from train's (a file sorted by the label,
  first rows taken): R² is measured against that split's own spread, so a narrow or shifted split
  turns a leak into a negative R² and a PASS. `label_shift` compares each split's labels with
  train's by the two-sample Kolmogorov-Smirnov statistic D and the ratio of standard deviations;
  `check_label_shift` refuses a gross difference and flags a clear one (the flag blocks a PASS,
  `daudit.models.selection.decide_gate`). The thresholds are below and in docs/bad-inputs.md.

Pure numpy / scipy on arrays already in memory (the grids and the labels); no pass over spectra.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import ks_2samp

from daudit.core.errors import DauditError

__all__ = ["GRID_RTOL", "KS_REFUSE", "KS_FLAG", "SPREAD_REFUSE", "SPREAD_FLAG", "SHIFT_ALPHA",
           "grid_mismatch", "check_same_grid", "label_shift", "check_label_shift"]

# Grids agree when every pixel differs by at most GRID_RTOL x the largest |wavelength|: 1e-6 is
# ~15x float32's rounding (a grid stored in float32 on one side still agrees) and ~2% of a pixel
# at 4096 pixels over 7100-8850 A, so a shift by any fraction of a pixel that matters is caught.
GRID_RTOL = 1e-6

# Labels of val / test against train: D = sup |F_split - F_train| (two-sample KS), s = std ratio.
# Either rule counts only when the KS p-value is below SHIFT_ALPHA (not a chance difference).
KS_REFUSE = 0.5  # half the mass displaced: refused
SPREAD_REFUSE = 2.0  # std narrower or wider by 2x or more (R2 scales with 1 / variance): refused
KS_FLAG = 0.2  # a clear difference: flagged, recorded, and a PASS is blocked
SPREAD_FLAG = 1.25
SHIFT_ALPHA = 1e-3


def grid_mismatch(a, b, rtol: float = GRID_RTOL) -> int | None:
    """Index of the first pixel where grids ``a`` and ``b`` (1-D, same length) differ, or None.

    Differ: ``|a - b| > rtol * max(|a|, |b|)`` over the whole grid, or a NaN on one side only.
    Raises ValueError when the lengths differ (callers compare pixel counts first).
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"grids of {a.size} and {b.size} pixels")
    with np.errstate(invalid="ignore"):
        scale = float(np.nanmax(np.abs(np.concatenate([a, b])))) if a.size else 0.0
        bad = ~((np.abs(a - b) <= rtol * scale) | (np.isnan(a) & np.isnan(b)))
    hit = np.flatnonzero(bad)
    return int(hit[0]) if hit.size else None


def check_same_grid(wave, ref, *, where: str, path: str, ref_path: str) -> None:
    """Refuse (`DauditError`, one line) a grid ``wave`` (read from ``path``) that is not ``ref``."""
    wave, ref = np.asarray(wave), np.asarray(ref)
    if wave.shape != ref.shape:
        raise DauditError(f"{where}: {path} has {wave.size} pixels but {ref_path} has {ref.size}; give every "
                          "split and shard the same wavelength grid")
    i = grid_mismatch(wave, ref)
    if i is not None:
        raise DauditError(
            f"{where}: the wavelength grid of {path} differs from that of {ref_path} at pixel {i} "
            f"({float(wave.ravel()[i]):.6g} vs {float(ref.ravel()[i]):.6g}; tolerance {GRID_RTOL:g} of the largest "
            "wavelength), so pixel j would not be the same wavelength in both: give every split the same grid, "
            "in the same order (resample or reorder the error arrays)")


def label_shift(y_train, y) -> dict:
    """How far the labels ``y`` of a val / test split are from train's (1-D float arrays).

    Returns ``{"ks_d", "ks_p", "std_ratio", "level", "flagged", "reason"}``: ``level`` is
    ``"refuse"``, ``"flag"`` or ``"ok"`` by the module's thresholds (``flagged`` = level is not
    ok); ``reason`` states the numbers in one clause.
    """
    yt, ys = np.asarray(y_train, dtype=np.float64), np.asarray(y, dtype=np.float64)
    res = ks_2samp(ys, yt)
    d, p = float(res.statistic), float(res.pvalue)
    st, ss = float(np.std(yt)), float(np.std(ys))
    ratio = ss / st if st > 0 else float("inf")
    wide = max(ratio, 1.0 / ratio) if ratio > 0 else float("inf")
    real = p < SHIFT_ALPHA
    level = ("refuse" if real and (d >= KS_REFUSE or wide >= SPREAD_REFUSE) else
             "flag" if real and (d >= KS_FLAG or wide >= SPREAD_FLAG) else "ok")
    reason = (f"KS D = {d:.3f} (p = {p:.2g}), std {ss:.4g} vs train {st:.4g} (ratio {ratio:.3f}), "
              f"range {ys.min():.4g} to {ys.max():.4g} vs train {yt.min():.4g} to {yt.max():.4g}")
    return {"ks_d": d, "ks_p": p, "std_ratio": ratio, "level": level, "flagged": level != "ok", "reason": reason}


def check_label_shift(splits: dict, param: str) -> list[str]:
    """Compare val and test labels with train's: refuse a gross shift, flag a clear one.

    ``splits``: name -> split (``y``, ``notes``); each val / test split gets
    ``notes["label_shift"]`` (`label_shift`). Returns the warnings of flagged splits; raises
    `DauditError` (one line) for the first split at level ``refuse``.
    """
    if "train" not in splits:
        return []
    warnings = []
    for name in ("val", "test"):
        if name not in splits:
            continue
        s = splits[name]
        shift = label_shift(splits["train"].y, s.y)
        what = f"{name} split: its {param!r} labels differ from train's beyond chance ({shift['reason']})"
        if shift["level"] == "refuse":
            raise DauditError(
                f"{what}: an R2 on such a split does not measure the leak on train's population (KS D >= "
                f"{KS_REFUSE:g} or a std ratio beyond {SPREAD_REFUSE:g}x); draw val and test at random from the same "
                f"population as train (e.g. shuffle the rows before taking the first ones)")
        s.notes["label_shift"] = shift
        if shift["flagged"]:
            msg = (f"WARNING: {what}: no PASS can be given on it (KS D >= {KS_FLAG:g} or a std ratio beyond "
                   f"{SPREAD_FLAG:g}x); draw val and test at random from train's population")
            s.notes.setdefault("warnings", []).append(msg)
            warnings.append(msg)
    return warnings
