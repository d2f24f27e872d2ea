"""Wavelength features of the PFS red arm: stellar lines, telluric bands, night-sky (OH) emission.

The one catalogue that the checks (which pixels and regions carry importance), the report (what
each named pixel group is) and the figures (lines drawn, bands shaded) read. It describes the
real star, atmosphere and sky, not daudit's demo simulator; the simulator
(`daudit.simulate.lines`) models a subset of it (Ca II, Na I, K I, Mg I, the O2 A band, one H2O
band, OH lines) and `tests/test_catalogue.py` checks that the two agree where they overlap.

Wavelengths are in air, Angstrom.

- Stellar lines: NIST Atomic Spectra Database (Kramida, Ralchenko, Reader & NIST ASD Team),
  air wavelengths of the strong lines of cool (FGK, early M) stars in 7100-8850 Å: the Ca II
  infrared triplet, the Na I 8183/8195 and K I 7665/7699 resonance doublets, Mg I 8807 and
  8736, the O I 7772-7775 triplet, and strong Fe I lines (the Fe I lines beside the Ca II
  triplet used by Gaia RVS are among them). A line's window is its centre +- a few Å: about
  three resolution elements of the PFS medium-resolution arm (R ~ 5000, FWHM ~ 1.6 Å at 8000 Å).
- Telluric absorption: the O2 A band (head at 7594 Å, P branch to ~7700 Å) and B band (head at
  6867 Å) and the H2O bands near 7200, 8200 and 9300 Å, as tabulated in telluric-correction work
  (e.g. Smette et al. 2015, A&A 576, A77, "Molecfit"; Hinkle, Wallace & Livingston 2003, "Atlas
  of the telluric spectrum"). Band limits are the envelope of the lines that absorb noticeably at
  airmass 1-1.5; water bands vary with humidity.
- Night-sky emission: the OH Meinel bands (8-3), (9-4) + (5-1), (6-2) and (7-3), and the O2
  (0-1) atmospheric band in emission near 8645 Å (Osterbrock et al. 1996, PASP 108, 277;
  Osterbrock et al. 2000, PASP 112, 733; Hanuschik 2003, A&A 407, 1157). Each range is the
  envelope of a band's bright lines; between its lines the sky is dark, so a pixel inside a sky
  range is not necessarily on a sky line.

The PFS medium-resolution arm covers about 7100-8850 Å; features outside it (O2 B, the 9300 Å
water band) are listed for the low-resolution red arm and simply match no pixel of an MR grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Feature", "CATALOGUE", "KINDS", "KIND_ZH", "stellar_lines", "feature_pixels", "pixel_features",
           "feature_labels", "by_key", "composition"]

KINDS = ("stellar", "telluric", "sky")
KIND_ZH = {"stellar": "恒星谱线", "telluric": "大气吸收带", "sky": "天光发射区"}
_LINE_HALF_WIDTH = 5.0  # Å, strong lines (the report's "near a line" since issue 3)
_WEAK_HALF_WIDTH = 3.0  # Å, weaker lines (Fe I, Mg I 8736, O I)


@dataclass(frozen=True)
class Feature:
    """One catalogue entry.

    key : short identifier (``"ca2_8542"``, ``"o2_a"``); kind : ``stellar``, ``telluric`` or
    ``sky``; name : English label (figures); name_zh : label of the Chinese report; lo, hi :
    its wavelength range, Å; centre : the line centre for a line, else None.
    """

    key: str
    kind: str
    name: str
    name_zh: str
    lo: float
    hi: float
    centre: float | None = None


def _line(species: str, centre: float, half: float = _LINE_HALF_WIDTH) -> Feature:
    label = f"{species} {centre:.1f}"
    key = species.lower().replace(" ", "") + f"_{centre:.0f}"
    return Feature(key, "stellar", label, label, centre - half, centre + half, centre)


def _band(key: str, kind: str, name: str, name_zh: str, lo: float, hi: float) -> Feature:
    return Feature(key, kind, f"{name} {lo:.0f}-{hi:.0f} Å", f"{name_zh}（{lo:.0f}–{hi:.0f} Å）", lo, hi)


CATALOGUE: tuple[Feature, ...] = (
    # stellar lines (NIST ASD, air)
    _line("K I", 7664.90), _line("K I", 7698.96),
    _line("Na I", 8183.26), _line("Na I", 8194.82),
    _line("Ca II", 8498.02), _line("Ca II", 8542.09), _line("Ca II", 8662.14),
    _line("Mg I", 8806.76), _line("Mg I", 8736.02, _WEAK_HALF_WIDTH),
    Feature("o1_7774", "stellar", "O I 7771.9-7775.4", "O I 7774 三重线", 7768.9, 7778.4, 7773.8),
    *(_line("Fe I", w, _WEAK_HALF_WIDTH) for w in (7511.02, 7748.27, 7780.56, 8327.05, 8387.77, 8468.41,
                                                    8514.07, 8621.60, 8688.62, 8824.22)),
    # telluric absorption
    _band("o2_b", "telluric", "O2 B band", "O2 B 吸收带", 6860.0, 6920.0),
    _band("h2o_7200", "telluric", "H2O band", "H2O 吸收带", 7160.0, 7340.0),
    _band("o2_a", "telluric", "O2 A band", "O2 A 吸收带", 7594.0, 7700.0),
    _band("h2o_8200", "telluric", "H2O band", "H2O 吸收带", 8110.0, 8350.0),
    _band("h2o_9300", "telluric", "H2O band", "H2O 吸收带", 8920.0, 9800.0),
    # night-sky emission
    _band("oh_8_3", "sky", "OH (8-3)", "OH (8-3) 天光带", 7240.0, 7460.0),
    _band("oh_9_4_5_1", "sky", "OH (9-4)+(5-1)", "OH (9-4)+(5-1) 天光带", 7720.0, 8080.0),
    _band("oh_6_2", "sky", "OH (6-2)", "OH (6-2) 天光带", 8270.0, 8560.0),
    _band("o2_8645", "sky", "O2 (0-1) emission", "O2 (0-1) 大气辉光带", 8630.0, 8700.0),
    _band("oh_7_3", "sky", "OH (7-3)", "OH (7-3) 天光带", 8740.0, 9050.0),
)


def by_key(key: str) -> Feature:
    """The catalogue entry ``key`` (KeyError when there is none)."""
    for f in CATALOGUE:
        if f.key == key:
            return f
    raise KeyError(key)


def stellar_lines() -> tuple[tuple[str, float], ...]:
    """(species, centre Å) of the catalogue's stellar lines, e.g. ``("Ca II", 8542.09)``."""
    out = []
    for f in CATALOGUE:
        if f.kind == "stellar" and f.key != "o1_7774":
            out.append((f.name.rsplit(" ", 1)[0], f.centre))
    return tuple(out)


def _pixel_edges(wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper edge (Å) of each pixel of a monotone grid (half-way to the neighbours)."""
    w = np.asarray(wave, dtype=np.float64)
    if w.size == 1:
        return w - 0.5, w + 0.5
    mid = 0.5 * (w[1:] + w[:-1])
    lo = np.concatenate([[w[0] - (mid[0] - w[0])], mid])
    hi = np.concatenate([mid, [w[-1] + (w[-1] - mid[-1])]])
    return np.minimum(lo, hi), np.maximum(lo, hi)


def feature_pixels(wave, features=CATALOGUE) -> dict[str, np.ndarray]:
    """Pixels of each feature on the grid ``wave`` (p,) Å: {key: bool (p,)}, features touching it only.

    A pixel belongs to a feature when its own wavelength bin overlaps the feature's range, so a
    line narrower than a pixel still owns the pixel it falls in.
    """
    lo, hi = _pixel_edges(wave)
    out = {}
    for f in features:
        sel = (hi >= f.lo) & (lo <= f.hi)
        if sel.any():
            out[f.key] = sel
    return out


def pixel_features(wavelength: float, *, features=CATALOGUE, pad: float = 0.0) -> list[Feature]:
    """Catalogue features whose range (widened by ``pad`` Å on each side) holds ``wavelength``."""
    w = float(wavelength)
    return [f for f in features if f.lo - pad <= w <= f.hi + pad]


def feature_labels() -> set[str]:
    """Every label of the catalogue (English and Chinese): identifiers, not results, in the report."""
    return {f.name for f in CATALOGUE} | {f.name_zh for f in CATALOGUE}


def composition(pixels, wave, features=CATALOGUE) -> dict:
    """What a set of pixels is: how many fall in each kind of feature, against chance.

    Parameters
    ----------
    pixels : sequence of int        pixel indices (e.g. the 40 most variable pixels)
    wave : (p,) wavelengths, Å

    Returns
    -------
    dict
        {"n": len(pixels), "kinds": {kind | "none": {"count", "expected", "features": {key:
        count}}}}; a pixel inside two kinds (K I inside the O2 A band) counts for both;
        ``expected`` is the count a random set of the same size would have on average (the
        kind's fraction of all pixels times n), the reference for "concentrated in".
    """
    pix = feature_pixels(wave, features)
    idx = np.asarray(list(pixels), dtype=np.int64)
    p = len(np.asarray(wave))
    out = {}
    anywhere = np.zeros(p, dtype=bool)
    for kind in KINDS:
        keys = [k for k in pix if by_key(k).kind == kind]
        union = np.zeros(p, dtype=bool)
        for k in keys:
            union |= pix[k]
        anywhere |= union
        counts = {k: int(pix[k][idx].sum()) for k in keys if pix[k][idx].any()}
        out[kind] = {"count": int(union[idx].sum()), "expected": float(union.mean() * len(idx)),
                     "features": dict(sorted(counts.items(), key=lambda kv: -kv[1]))}
    out["none"] = {"count": int((~anywhere[idx]).sum()), "expected": float((~anywhere).mean() * len(idx)),
                   "features": {}}
    return {"n": len(idx), "kinds": out}
