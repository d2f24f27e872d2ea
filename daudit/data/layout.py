"""The pfsspec HDF5 layout shared by the reader, the demo simulator and `inspect`.

Real files come from the PFS simulator (BOSZ models through the PFS medium-resolution arm).
"""

__all__ = [
    "WAVE_KEY",
    "FLUX_KEY",
    "ERROR_KEY",
    "MASK_KEY",
    "PARAM_COLUMNS",
]

WAVE_KEY = "spectrumdataset/wave"  # float64 (n_pix,), Angstrom
FLUX_KEY = "dataset/arrays/flux/value"  # float32 (n, n_pix), median-normalised
ERROR_KEY = "dataset/arrays/error/value"  # float32 (n, n_pix), same units as flux, may hold NaN
MASK_KEY = "dataset/arrays/mask/value"  # (n, n_pix), nonzero = bad pixel; optional

PARAM_COLUMNS = (
    "T_eff", "log_g", "M_H", "a_M", "C_M", "mag", "redshift", "snr", "seeing",
    "target_zenith_angle", "exp_count", "exp_time",
)
