"""Per-chunk spectra, sky, counts and noise of the PFS-like demo model (pure numpy, no I/O).

The model is physically motivated, not a stellar-atmosphere code; every approximation is listed
in ``docs/demo-data.md``. In short, for each star (row):

1. continuum: a Planck function at T_eff;
2. absorption: ``exp(-tau)`` with ``tau = strengths @ templates`` (see :mod:`.lines`), the
   strengths being smooth functions of T_eff, log_g, [M/H] and [a/M];
3. the stored flux is this noiseless spectrum in energy units, median-normalised;
4. object electrons = zero point x 10**(-0.4 (mag - 22)) x photon spectrum x throughput
   x telluric transmission x fibre aperture fraction x exposures;
5. variance = object + sky + read noise**2 + dark (electrons); the error is its square root
   converted back to flux units and divided by the same median as the flux.

Because the object term follows the star's own absorption lines, the error vector carries the
star's line depths; that is the physical leak the audit looks for. ``object_noise=False`` drops
that term.

Approximations (details and numbers in ``docs/demo-data.md``):

- no model atmosphere: a Planck continuum and parametric line strengths (smooth functions of
  T_eff, log_g, [M/H], [a/M]); C_M, redshift and rotation have no effect;
- the LSF is a Gaussian at R = 5000 applied to the optical depth, not to ``exp(-tau)``;
- damping wings are Lorentzians of fixed width whose strength grows with gravity;
- TiO is a set of band heads with exponential red tails, switched on below 4300 K;
- tellurics and sky are fixed line lists scaled with airmass (no PWV or time variation beyond a
  uniform sky factor); the stored flux has no telluric absorption (as if perfectly corrected);
- the HSC-i magnitude is the mean photon flux over 7100-8500 A (no filter curve);
- the fibre aperture fraction is that of a circular Gaussian PSF centred on a 1.05" fibre;
- the variance is the expectation (no sky-subtraction residuals, no noise on the error itself);
- the zero point and inter-line sky continuum are calibrated to the real S/N distribution.
"""

from __future__ import annotations

import numpy as np

from daudit.simulate.draws import SplitDraws
from daudit.simulate.lines import STAR_TEMPLATES, Templates

__all__ = [
    "EXP_COUNT",
    "EXP_TIME",
    "ZERO_POINT",
    "SKY_CONTINUUM_E",
    "READ_NOISE",
    "DARK_CURRENT",
    "FIBRE_RADIUS",
    "PHYSICAL_SETTINGS",
    "airmass",
    "fibre_aperture_fraction",
    "star_strengths",
    "optical_depth",
    "simulate_chunk",
]

EXP_COUNT = 12
EXP_TIME = 900.0  # s per exposure
# Object electrons per pixel per exposure for an i = 22 AB star with a flat photon spectrum, at
# peak throughput and without aperture loss. Calibrated so that the per-spectrum S/N over a
# test split matches the real PFS test set (5/50/95th percentiles 3.7 / 8.2 / 17.2).
ZERO_POINT = 24.0
# Sky continuum electrons per pixel per exposure at 8000 A, zenith, peak throughput: the faint
# continuum between the OH lines (~22.0 mag/arcsec^2); OH lines come on top.
SKY_CONTINUUM_E = 20.0
READ_NOISE = 3.0  # electrons rms per detector pixel and exposure
N_SPATIAL = 3  # detector pixels summed across the trace per spectral pixel
DARK_CURRENT = 0.002  # electrons / s / detector pixel
FIBRE_RADIUS = 0.525  # arcsec (1.05" diameter fibre)
C2 = 1.4387769e8  # h c / k in Angstrom K
I_BAND_MAX = 8500.0  # the HSC-i normalisation uses pixels below this wavelength (Angstrom)

PHYSICAL_SETTINGS = {
    "exp_count": EXP_COUNT,
    "exp_time_s": EXP_TIME,
    "zero_point_e_per_pix_i22": ZERO_POINT,
    "sky_continuum_e_per_pix": SKY_CONTINUUM_E,
    "read_noise_e": READ_NOISE,
    "n_spatial_pix": N_SPATIAL,
    "dark_current_e_per_s": DARK_CURRENT,
    "fibre_radius_arcsec": FIBRE_RADIUS,
}


def airmass(zenith_deg):
    """Plane-parallel airmass sec(z) for zenith angles in degrees, shape preserved."""
    return 1.0 / np.cos(np.deg2rad(zenith_deg))


def fibre_aperture_fraction(seeing, x):
    """Fraction of a Gaussian PSF inside the fibre.

    Parameters
    ----------
    seeing : ndarray of shape (n,)
        FWHM at zenith in arcsec; it grows as airmass**0.6.
    x : ndarray of shape (n,)
        Airmass.

    Returns
    -------
    ndarray of shape (n,), in (0, 1)
    """
    sigma = seeing * x**0.6 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    return 1.0 - np.exp(-(FIBRE_RADIUS**2) / (2.0 * sigma**2))


def star_strengths(labels):
    """Central optical depths of the template rows for each star.

    Parameters
    ----------
    labels : dict of str -> ndarray of shape (n,)
        T_eff (K), log_g (dex), M_H (dex), a_M (dex).

    Returns
    -------
    ndarray of shape (n, len(STAR_TEMPLATES)), float32
        Columns in the order of :data:`daudit.simulate.lines.STAR_TEMPLATES`.
    """
    t = np.asarray(labels["T_eff"], dtype=np.float64) / 1000.0
    g = np.asarray(labels["log_g"], dtype=np.float64)
    m = np.asarray(labels["M_H"], dtype=np.float64)
    a = np.asarray(labels["a_M"], dtype=np.float64)
    cool = np.exp(-(t - 4.0) / 0.8)  # neutral alkali lines fade fast with temperature
    s = {
        # Ca II triplet: stronger at high metallicity and low gravity (giants).
        "cat_core": 1.3 * 10 ** (0.35 * (m + a)) * np.exp(-0.25 * (g - 3.0)),
        "cat_wing": 0.12 * 10 ** (0.3 * (m + a)) * np.exp(0.35 * (g - 3.0)),
        # Na I and K I: pressure-sensitive, strong in cool dwarfs.
        "nai_core": 0.5 * 10 ** (0.5 * m) * np.exp(0.45 * (g - 3.0)) * cool,
        "nai_wing": 0.06 * 10 ** (0.4 * m) * np.exp(0.8 * (g - 3.0)) * cool,
        "ki_core": 0.6 * 10 ** (0.5 * m) * np.exp(0.4 * (g - 3.0)) * cool,
        "ki_wing": 0.05 * 10 ** (0.4 * m) * np.exp(0.8 * (g - 3.0)) * cool,
        "mgi": 0.5 * 10 ** (0.4 * (m + a)) * np.exp(0.15 * (g - 3.0)) * np.exp(-(t - 5.0) / 1.5),
        # Weak metal lines: depth grows with [M/H] and falls with T_eff; ionised species are
        # favoured at low electron pressure, i.e. low gravity (Saha).
        "forest_neutral": 10 ** (0.7 * m) * np.exp(-(t - 4.5) / 1.2),
        "forest_ionized": 0.6 * 10 ** (0.7 * m) * np.exp(-0.4 * (g - 3.0))
        * np.exp(-(t - 5.0) / 2.5),
        # TiO only below about 4300 K.
        "tio": np.clip((4.3 - t) / 0.5, 0.0, None) ** 1.5 * 10 ** (0.3 * m),
    }
    return np.stack([s[name] for name in STAR_TEMPLATES], axis=1).astype(np.float32)


def optical_depth(strengths, star_tau):
    """``strengths @ star_tau``, summed in a fixed order so rows do not depend on the chunk.

    A BLAS matrix product may change its summation order with the number of rows, which
    would make the float32 output depend on the chunk size; with K ~ 10 templates an explicit
    sum over each template's non-zero pixel range is as fast.

    Parameters
    ----------
    strengths : float32 (n, K)
    star_tau : float32 (K, n_pix)

    Returns
    -------
    float32 (n, n_pix)
    """
    n, n_pix = strengths.shape[0], star_tau.shape[1]
    tau = np.zeros((n, n_pix), dtype=np.float32)
    tmp = np.empty_like(tau)
    for k in range(star_tau.shape[0]):
        nz = np.flatnonzero(star_tau[k])
        if nz.size == 0:
            continue
        lo, hi = nz[0], nz[-1] + 1
        np.multiply(strengths[:, k:k + 1], star_tau[k, lo:hi], out=tmp[:, lo:hi])
        tau[:, lo:hi] += tmp[:, lo:hi]
    return tau


def simulate_chunk(templates: Templates, draws: SplitDraws, *, object_noise: bool = True):
    """Noiseless flux, error, mask and S/N for one chunk of stars.

    Parameters
    ----------
    templates : Templates
        From :func:`daudit.simulate.lines.build_templates`.
    draws : SplitDraws
        The chunk's draws (``SplitDraws.rows(start, stop)``).
    object_noise : bool
        Include the star's own photon noise in the variance (the physical leak).

    Returns
    -------
    flux : float32 (n, n_pix)
        Median-normalised noiseless flux (energy units, no telluric absorption).
    error : float32 (n, n_pix)
        1-sigma error in the same units; NaN at ``draws.nan_*`` positions.
    mask : uint8 (n, n_pix)
        1 = bad pixel (bad columns, bright sky-line cores, cosmic rays).
    snr : float64 (n,)
        Median of flux / error over the spectrum (before NaN pixels are set).

    Long because the noise model (source, sky, read noise, exposures) is one physical chain written step by step.
    """
    lab = draws.labels
    n = draws.n_rows
    wave = templates.wave
    w_rel = (wave / 8000.0).astype(np.float32)

    tau = optical_depth(star_strengths(lab), templates.star_tau)  # (n, n_pix) float32
    absorption = np.exp(-tau, out=tau)

    # Planck photon spectrum, lambda**-4 / (exp(hc / lambda k T) - 1), scaled to ~1.
    x = (C2 / wave)[None, :].astype(np.float32) / lab["T_eff"][:, None].astype(np.float32)
    photons = np.expm1(x, out=x)
    np.reciprocal(photons, out=photons)
    photons *= w_rel**-4
    photons *= absorption
    del absorption, tau
    band = wave < I_BAND_MAX
    photons /= photons[:, band].mean(axis=1, keepdims=True)  # mean 1 in the i band

    xm = airmass(lab["target_zenith_angle"])
    ap = fibre_aperture_fraction(lab["seeing"], xm)
    amp = ZERO_POINT * 10 ** (-0.4 * (lab["mag"] - 22.0)) * ap * EXP_COUNT  # (n,)
    telluric = np.exp(-xm[:, None] * (templates.o2_tau + templates.h2o_tau)[None, :])
    # conversion electrons / flux unit: amp x throughput x telluric x lambda (photon energy).
    conv = (amp[:, None] * telluric * (templates.throughput * wave / 8000.0)[None, :])
    conv = conv.astype(np.float32)
    del telluric

    flux = photons / w_rel  # energy units: photons x h c / lambda
    sky_shape = (templates.sky_continuum + templates.sky_oh) * templates.throughput
    sky = (EXP_COUNT * SKY_CONTINUUM_E * draws.sky_scale * xm)[:, None] * sky_shape[None, :]
    floor = EXP_COUNT * N_SPATIAL * (READ_NOISE**2 + DARK_CURRENT * EXP_TIME)
    variance = sky.astype(np.float32)
    variance += np.float32(floor)
    del sky
    if object_noise:
        variance += flux * conv  # object electrons
    error = np.sqrt(variance, out=variance)
    error /= conv
    del conv

    med = np.median(flux, axis=1, keepdims=True)
    flux /= med
    error /= med
    snr = np.median(flux / error, axis=1).astype(np.float64)
    error[draws.nan_rows, draws.nan_pix] = np.nan

    mask = np.zeros((n, wave.size), dtype=np.uint8)
    mask[:, templates.bad_columns] = 1
    mask[:, templates.sky_line_cores] = 1
    mask[draws.cr_rows, draws.cr_pix] = 1
    return flux, error, mask, snr
