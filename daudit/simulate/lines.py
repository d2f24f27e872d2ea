"""Fixed line lists and pre-convolved templates of the PFS-like demo model (pure numpy).

Everything here is built once per process from constants and a fixed instrument seed, so the
line forest, the OH sky lines and the bad detector columns are the same in every demo dataset,
whatever the user's ``--seed``. Templates are sampled on the 4096-pixel grid and already include
the Gaussian line spread function (LSF) of the spectrograph, so no per-spectrum convolution is
needed: a chunk's optical depth is one ``(chunk, K) @ (K, n_pix)`` product.

Approximation: for absorption lines the LSF is applied to the optical depth ``tau`` rather than
to ``exp(-tau)``. This is exact for weak lines and makes strong line cores slightly too deep and
too narrow; it keeps the depth a smooth, monotone function of the line strength, which is all the
demo needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = [
    "WAVE_MIN",
    "WAVE_MAX",
    "N_PIX",
    "RESOLUTION",
    "INSTRUMENT_SEED",
    "STAR_TEMPLATES",
    "Templates",
    "wave_grid",
    "lsf_sigma",
    "gaussian_lines",
    "lsf_convolve",
    "build_templates",
]

WAVE_MIN = 7100.0  # Angstrom, PFS medium-resolution arm (approximate)
WAVE_MAX = 8850.0
N_PIX = 4096
RESOLUTION = 5000.0  # lambda / FWHM of the line spread function
INSTRUMENT_SEED = 20_160_101  # fixed: line forest, OH lines and bad columns never follow --seed

_FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))

# Rows of Templates.star_tau, in this order (physics.star_strengths fills the same columns).
STAR_TEMPLATES = (
    "cat_core",  # Ca II triplet 8498.0, 8542.1, 8662.1 A: Doppler cores
    "cat_wing",  # Ca II triplet pressure-broadened (Lorentzian) wings
    "nai_core",  # Na I 8183.3, 8194.8 A
    "nai_wing",
    "ki_core",  # K I 7664.9, 7699.0 A (inside the telluric O2 A band, as in real spectra)
    "ki_wing",
    "mgi",  # Mg I 8806.8 A
    "forest_neutral",  # weak low-excitation neutral metal lines (Fe I, Ti I, ...)
    "forest_ionized",  # weak lines of ionised metals (Fe II, Ti II, ...): stronger at low gravity
    "tio",  # TiO band heads, degraded to the red
)

CAT_LINES = np.array([8498.02, 8542.09, 8662.14])
CAT_WEIGHTS = np.array([0.55, 1.0, 0.85])  # relative strengths (gf-like)
NAI_LINES = np.array([8183.26, 8194.82])
NAI_WEIGHTS = np.array([0.8, 1.0])
KI_LINES = np.array([7664.90, 7698.96])
KI_WEIGHTS = np.array([1.0, 0.7])
MGI_LINE = np.array([8806.76])
TIO_HEADS = np.array([7054.0, 7589.0, 8432.0, 8442.0, 8452.0])
TIO_WEIGHTS = np.array([1.0, 0.6, 0.5, 0.45, 0.4])
TIO_DECAY = 60.0  # Angstrom, e-folding length of a band redward of its head

O2_BAND = (7594.0, 7700.0)
H2O_BAND = (8100.0, 8400.0)


def wave_grid() -> np.ndarray:
    """Return the linear wavelength grid, float64 of shape (N_PIX,), Angstrom."""
    return np.linspace(WAVE_MIN, WAVE_MAX, N_PIX)


def lsf_sigma(wave):
    """Gaussian LSF sigma in Angstrom at ``wave`` (Angstrom) for resolving power RESOLUTION."""
    return np.asarray(wave, dtype=np.float64) / RESOLUTION * _FWHM_TO_SIGMA


def gaussian_lines(wave, centers, peaks, *, sigma_intrinsic=0.0):
    """Sum of Gaussian lines convolved with the LSF, sampled on ``wave``.

    Parameters
    ----------
    wave : ndarray of shape (n_pix,)
        Wavelength grid, Angstrom.
    centers, peaks : ndarray of shape (n_lines,)
        Line centres (Angstrom) and intrinsic peak heights (before convolution).
    sigma_intrinsic : float or ndarray of shape (n_lines,)
        Intrinsic Gaussian sigma in Angstrom (thermal plus microturbulent width).

    Returns
    -------
    profile : ndarray of shape (n_pix,)
        The convolved profile; the area of each line is conserved.
    """
    wave = np.asarray(wave, dtype=np.float64)
    centers = np.atleast_1d(np.asarray(centers, dtype=np.float64))
    peaks = np.broadcast_to(np.asarray(peaks, dtype=np.float64), centers.shape)
    s_int = np.broadcast_to(np.asarray(sigma_intrinsic, dtype=np.float64), centers.shape)
    s_tot = np.sqrt(s_int**2 + lsf_sigma(centers) ** 2)
    # A narrow line spreads its area: peak after convolution = peak * s_int / s_tot. For
    # emission lines (sigma_intrinsic=0) `peaks` is read as the convolved peak directly.
    scale = np.where(s_int > 0, s_int / s_tot, 1.0) * peaks
    out = np.zeros_like(wave)
    for c, s, a in zip(centers, s_tot, scale):
        lo, hi = np.searchsorted(wave, [c - 8 * s, c + 8 * s])
        x = (wave[lo:hi] - c) / s
        out[lo:hi] += a * np.exp(-0.5 * x * x)
    return out


def lsf_convolve(wave, profiles, *, half_width=12):
    """Convolve profiles sampled on ``wave`` with the wavelength-dependent Gaussian LSF.

    Parameters
    ----------
    wave : ndarray of shape (n_pix,)
        Linear wavelength grid, Angstrom.
    profiles : ndarray of shape (..., n_pix)
        Profiles to smooth (used once, for broad features: wings, band heads).
    half_width : int
        Kernel half width in pixels (the LSF sigma is below 2 pixels on the default grid).

    Returns
    -------
    ndarray of shape (..., n_pix)
    """
    wave = np.asarray(wave, dtype=np.float64)
    profiles = np.asarray(profiles, dtype=np.float64)
    step = wave[1] - wave[0]
    offsets = np.arange(-half_width, half_width + 1)
    sig_pix = lsf_sigma(wave) / step
    weights = np.exp(-0.5 * (offsets[:, None] / sig_pix[None, :]) ** 2)
    weights /= weights.sum(axis=0, keepdims=True)
    padded = np.pad(profiles, [(0, 0)] * (profiles.ndim - 1) + [(half_width, half_width)],
                    mode="edge")
    n = wave.size
    out = np.zeros_like(profiles)
    for j, k in enumerate(offsets):
        out += weights[j] * padded[..., half_width + k: half_width + k + n]
    return out


def _lorentz(wave, centers, weights, gamma):
    x = (wave[:, None] - centers[None, :]) / gamma
    return (weights[None, :] / (1.0 + x * x)).sum(axis=1)


def _tio(wave):
    prof = np.zeros_like(wave)
    for head, w in zip(TIO_HEADS, TIO_WEIGHTS):
        red = wave >= head
        prof[red] += w * np.exp(-(wave[red] - head) / TIO_DECAY)
    return prof


@dataclass(frozen=True)
class Templates:
    """Fixed model ingredients on the pixel grid (all arrays have n_pix = N_PIX columns).

    Attributes
    ----------
    wave : float64 (n_pix,), Angstrom.
    star_tau : float32 (K, n_pix); unit-strength optical-depth templates, rows STAR_TEMPLATES.
    o2_tau, h2o_tau : float64 (n_pix,); telluric optical depth at airmass 1.
    sky_continuum : float64 (n_pix,); relative sky continuum shape, 1 at 8000 A.
    sky_oh : float64 (n_pix,); OH emission in units of the sky continuum at 8000 A.
    throughput : float64 (n_pix,); relative end-to-end throughput, peak 1.
    bad_columns : int64 (n_bad,); detector columns that are always masked.
    sky_line_cores : bool (n_pix,); pixels where OH emission exceeds SKY_CORE_THRESHOLD.
    n_oh_lines : int; number of OH lines in the sky model.
    """

    wave: np.ndarray
    star_tau: np.ndarray
    o2_tau: np.ndarray
    h2o_tau: np.ndarray
    sky_continuum: np.ndarray
    sky_oh: np.ndarray
    throughput: np.ndarray
    bad_columns: np.ndarray
    sky_line_cores: np.ndarray
    n_oh_lines: int


N_FOREST = 250  # weak metal lines per group
N_OH = 160  # OH emission lines
SKY_CORE_THRESHOLD = 10.0  # OH peak / continuum above which a pixel is masked
N_BAD_COLUMNS = 6


@lru_cache(maxsize=1)
def build_templates() -> Templates:
    """Build the fixed templates once (about 0.1 s); cached for the process.

    Long because the line list, continuum and telluric/sky templates are one physical model built step by step.
    """
    rng = np.random.default_rng(INSTRUMENT_SEED)
    wave = wave_grid()
    rows = []
    # Doppler cores of strong lines: intrinsic sigma 0.35 A (thermal + microturbulence).
    rows.append(gaussian_lines(wave, CAT_LINES, CAT_WEIGHTS, sigma_intrinsic=0.35))
    rows.append(_lorentz(wave, CAT_LINES, CAT_WEIGHTS, gamma=3.0))
    rows.append(gaussian_lines(wave, NAI_LINES, NAI_WEIGHTS, sigma_intrinsic=0.3))
    rows.append(_lorentz(wave, NAI_LINES, NAI_WEIGHTS, gamma=2.0))
    rows.append(gaussian_lines(wave, KI_LINES, KI_WEIGHTS, sigma_intrinsic=0.3))
    rows.append(_lorentz(wave, KI_LINES, KI_WEIGHTS, gamma=2.0))
    rows.append(gaussian_lines(wave, MGI_LINE, [1.0], sigma_intrinsic=0.3))
    for _ in range(2):  # neutral and ionised forests, drawn once from the instrument seed
        centers = np.sort(rng.uniform(WAVE_MIN + 5, WAVE_MAX - 5, N_FOREST))
        peaks = np.exp(rng.uniform(np.log(0.02), np.log(0.35), N_FOREST))
        rows.append(gaussian_lines(wave, centers, peaks, sigma_intrinsic=0.15))
    rows.append(_tio(wave))
    star = np.vstack(rows)
    # Broad features (wings, band heads) are sampled on pixels and smoothed by the LSF.
    for name in ("cat_wing", "nai_wing", "ki_wing", "tio"):
        i = STAR_TEMPLATES.index(name)
        star[i] = lsf_convolve(wave, star[i])
    # Unit peak so that a strength is the (convolved) central optical depth.
    star /= star.max(axis=1, keepdims=True)

    # Telluric absorption: narrow molecular lines inside the O2 A and H2O bands.
    o2_c = np.sort(rng.uniform(*O2_BAND, 70))
    o2_c = np.concatenate([[7594.5, 7596.0, 7598.0], o2_c])  # the sharp A-band head
    o2_p = np.exp(rng.uniform(np.log(1.0), np.log(15.0), o2_c.size))
    o2_p *= np.exp(-(o2_c - O2_BAND[0]) / 60.0)  # band degraded to the red
    o2_tau = gaussian_lines(wave, o2_c, o2_p, sigma_intrinsic=0.12)
    h2o_c = np.sort(rng.uniform(*H2O_BAND, 160))
    h2o_p = np.exp(rng.uniform(np.log(0.05), np.log(2.5), h2o_c.size))
    h2o_tau = gaussian_lines(wave, h2o_c, h2o_p, sigma_intrinsic=0.12)

    # Sky: a smooth continuum plus OH Meinel bands (lines cluster towards the red).
    sky_cont = 1.0 + 0.15 * (wave - 8000.0) / 1000.0
    oh_c = np.sort(WAVE_MIN + (WAVE_MAX - WAVE_MIN) * rng.beta(1.3, 1.0, N_OH))
    oh_p = np.exp(rng.uniform(np.log(0.1), np.log(30.0), N_OH))
    oh_p[np.argsort(oh_p)[-12:]] *= 1.5  # a handful of very bright lines
    sky_oh = gaussian_lines(wave, oh_c, oh_p)

    # Throughput: smooth, peak near 7700 A, falling with CCD QE in the red.
    throughput = np.exp(-0.5 * ((wave - 7700.0) / 1300.0) ** 2)
    throughput /= throughput.max()

    bad = np.sort(rng.choice(np.arange(50, N_PIX - 50), N_BAD_COLUMNS, replace=False))
    cores = sky_oh > SKY_CORE_THRESHOLD * sky_cont
    return Templates(
        wave=wave,
        star_tau=star.astype(np.float32),
        o2_tau=o2_tau,
        h2o_tau=h2o_tau,
        sky_continuum=sky_cont,
        sky_oh=sky_oh,
        throughput=throughput,
        bad_columns=bad.astype(np.int64),
        sky_line_cores=cores,
        n_oh_lines=N_OH,
    )
