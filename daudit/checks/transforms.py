"""Per-chunk numpy transforms of the sanity checks (pure functions, no Dask, no I/O).

Every function takes one row block of the error array (rows, p) and returns a new array; none
modifies its input. Randomness comes from an explicit `numpy.random.Generator`; for the
wavelength shuffle each chunk's generator is derived from ``(seed, split, chunk index)`` by
`chunk_rng`, so a chunk is shuffled the same way whichever worker runs it and in whatever order.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "SPLIT_IDS",
    "AGGREGATE_NAMES",
    "chunk_rng",
    "shuffle_pixels",
    "shuffle_chunk",
    "mask_from_error",
    "bad_pixels",
    "aggregate_features",
    "median_normalised",
]

SPLIT_IDS = {"train": 0, "val": 1, "test": 2}
_ROWS = 256  # row blocks of the per-row statistics (their float64 temporaries stay small)
_SHUFFLE_STREAM = 0x5AF1E  # tells the shuffle's seed sequence apart from the checks' other draws

AGGREGATE_NAMES = ("mean", "std", "min", "max", "median", "sum", "q25", "q75", "skew", "kurtosis")


def chunk_rng(seed: int, split: str, chunk_index: int) -> np.random.Generator:
    """The generator that shuffles one chunk: a function of (seed, split, chunk index) only."""
    return np.random.default_rng([int(seed), _SHUFFLE_STREAM, SPLIT_IDS[split], int(chunk_index)])


def shuffle_pixels(block: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Permute the pixels of every row independently.

    Parameters
    ----------
    block : ndarray of shape (rows, p)
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of shape (rows, p)
        Row ``i`` holds the values of ``block[i]`` in its own random order: the row's value
        distribution (scale, spread, extremes) is kept, the wavelength alignment is destroyed.
    """
    return rng.permuted(np.asarray(block), axis=1)


def shuffle_chunk(block: np.ndarray, *, seed: int, split: str, chunk_index: int) -> np.ndarray:
    """`shuffle_pixels` with the chunk's own generator (see `chunk_rng`)."""
    return shuffle_pixels(block, chunk_rng(seed, split, chunk_index))


def mask_from_error(raw_block: np.ndarray) -> np.ndarray:
    """The bad-pixel mask of a raw error block when the file has none: non-finite or <= 0.

    raw_block : (rows, p) as stored (may hold NaN). Returns uint8 (rows, p), 1 = bad pixel.
    """
    raw = np.asarray(raw_block)
    with np.errstate(invalid="ignore"):
        return (~np.isfinite(raw) | (raw <= 0)).astype(np.uint8)


def bad_pixels(raw_block: np.ndarray, mask_block: np.ndarray | None = None) -> np.ndarray:
    """The input of the mask-only check: the file's mask OR the stored error's bad values.

    raw_block : (rows, p) the error as stored (NaN kept); mask_block : (rows, p) the file's mask
    (nonzero = bad) or None. Returns uint8 (rows, p), 1 where the file masks the pixel or the
    stored error is non-finite or <= 0: the NaN pattern is part of what the error carries, and the
    nearest-pixel fill (`daudit.data.clean`) erases it from the audited values, so it is tested here.
    """
    bad = mask_from_error(raw_block)
    if mask_block is not None:
        bad |= (np.asarray(mask_block) != 0).astype(np.uint8)
    return bad


def _order_stats(x: np.ndarray, qs) -> list:
    """Quantiles ``qs`` of each row of ``x`` (rows, p) as numpy's default ('linear') method
    computes them, from ONE partial sort; float64 (rows,) each."""
    p = x.shape[1]
    pos = [q * (p - 1) for q in qs]
    kth = sorted({int(np.floor(v)) for v in pos} | {min(int(np.floor(v)) + 1, p - 1) for v in pos})
    part = np.partition(x, kth, axis=1)
    out = []
    for v in pos:
        lo = int(np.floor(v))
        a = part[:, lo].astype(np.float64)
        b = part[:, min(lo + 1, p - 1)].astype(np.float64)
        t = v - lo
        out.append(a + (b - a) * t if t < 0.5 else b - (b - a) * (1 - t))  # numpy's _lerp
    return out


def aggregate_features(block: np.ndarray) -> np.ndarray:
    """The ten per-spectrum numbers of the user's aggregate-statistics test.

    Parameters
    ----------
    block : ndarray of shape (rows, p)

    Returns
    -------
    ndarray of shape (rows, 10), float64
        Columns in `AGGREGATE_NAMES` order: mean, std (population), min, max, median, sum,
        25th and 75th percentiles, skewness and excess kurtosis (Fisher, as
        ``scipy.stats.skew`` / ``kurtosis`` with ``bias=True``); 0 for a constant row.
    """
    x = np.asarray(block)
    if x.shape[0] > _ROWS:  # rows are independent: bound the float64 temporaries
        return np.concatenate([aggregate_features(x[i:i + _ROWS]) for i in range(0, x.shape[0], _ROWS)])
    q0, q25, med, q75, q1 = _order_stats(x, (0.0, 0.25, 0.5, 0.75, 1.0))
    x = x.astype(np.float64)
    mean = x.mean(axis=1)
    d = x - mean[:, None]
    m2 = np.einsum("ij,ij->i", d, d) / x.shape[1]
    d2 = d * d
    m3 = np.einsum("ij,ij->i", d2, d) / x.shape[1]
    m4 = np.einsum("ij,ij->i", d2, d2) / x.shape[1]
    ok = m2 > 0
    safe = np.where(ok, m2, 1.0)
    skew = np.where(ok, m3 / safe**1.5, 0.0)
    kurt = np.where(ok, m4 / safe**2 - 3.0, 0.0)
    return np.column_stack([mean, np.sqrt(m2), q0, q1, med, x.sum(axis=1), q25, q75, skew, kurt])


def median_normalised(block: np.ndarray) -> np.ndarray:
    """Each row divided by its own median (rows with a median <= 0 become NaN).

    block : (rows, p). Returns float64 (rows, p): the shape of the error vector with its overall
    scale removed, so pixels that differ between spectra stand out.
    """
    (med,) = _order_stats(np.asarray(block), (0.5,))
    med = np.where(med > 0, med, np.nan)
    return np.asarray(block, dtype=np.float64) / med[:, None]
