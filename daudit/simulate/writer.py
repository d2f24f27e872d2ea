"""Write one pfsspec-layout HDF5 file of simulated spectra, atomically (tmp name + rename).

A file is generated row chunk by row chunk into ``<name>.partial`` and renamed to its final name
only after every array, the params table and the ``daudit_complete`` attribute are written, so a
killed simulation never leaves a file that looks finished.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from daudit.data.layout import ERROR_KEY, FLUX_KEY, MASK_KEY, PARAM_COLUMNS, WAVE_KEY
from daudit.simulate.draws import SplitDraws
from daudit.simulate.lines import Templates
from daudit.simulate.physics import EXP_COUNT, EXP_TIME, simulate_chunk

__all__ = ["HDF5_CHUNK_ROWS", "COMPLETE_ATTR", "write_split_file", "is_complete_file"]

HDF5_CHUNK_ROWS = 256  # rows per HDF5 chunk: 4 MiB of float32 at 4096 pixels
COMPLETE_ATTR = "daudit_complete"


def _params_frame(draws: SplitDraws, snr: np.ndarray):
    lab = draws.labels
    n = draws.n_rows
    cols = {
        "T_eff": lab["T_eff"],
        "log_g": lab["log_g"],
        "M_H": lab["M_H"],
        "a_M": lab["a_M"],
        "C_M": lab["C_M"],
        "mag": lab["mag"],
        "redshift": np.zeros(n),
        "snr": snr,
        "seeing": lab["seeing"],
        "target_zenith_angle": lab["target_zenith_angle"],
        "exp_count": np.full(n, EXP_COUNT, dtype=np.int64),
        "exp_time": np.full(n, EXP_TIME),
    }
    return pd.DataFrame({name: cols[name] for name in PARAM_COLUMNS})


def write_split_file(
    path,
    templates: Templates,
    draws: SplitDraws,
    *,
    attrs: dict,
    object_noise: bool = True,
    chunk_rows: int = 512,
    progress=None,
) -> Path:
    """Simulate ``draws`` chunk by chunk and write them to ``path`` in the pfsspec layout.

    Parameters
    ----------
    path : path-like
        Final file name; the data is written to ``<path>.partial`` first.
    templates : Templates
        Fixed model ingredients.
    draws : SplitDraws
        The rows of this file.
    attrs : dict
        Root attributes (generator version, seed, physical settings); non-scalar values are
        stored as JSON strings.
    object_noise : bool
        Passed to :func:`daudit.simulate.physics.simulate_chunk`.
    chunk_rows : int
        Rows generated per step; bounds the memory (about 0.1 GiB per 512 rows).
    progress : tqdm-like or None
        ``progress.update(n_rows)`` is called after each chunk.

    Returns
    -------
    Path
        The final path.

    Long because the file layout (wave, arrays, mask, params table) is written in one place in file order.
    """

    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    tmp.unlink(missing_ok=True)
    n, n_pix = draws.n_rows, templates.wave.size
    hchunk = (max(1, min(HDF5_CHUNK_ROWS, n)), n_pix)
    snr = np.empty(n)
    with h5py.File(tmp, "w") as f:
        f.create_dataset(WAVE_KEY, data=templates.wave)
        dset = {
            "flux": f.create_dataset(FLUX_KEY, (n, n_pix), dtype="f4", chunks=hchunk),
            "error": f.create_dataset(ERROR_KEY, (n, n_pix), dtype="f4", chunks=hchunk),
            "mask": f.create_dataset(MASK_KEY, (n, n_pix), dtype="u1", chunks=hchunk),
        }
        for start in range(0, n, chunk_rows):
            stop = min(n, start + chunk_rows)
            flux, error, mask, snr[start:stop] = simulate_chunk(
                templates, draws.rows(start, stop), object_noise=object_noise
            )
            dset["flux"][start:stop] = flux
            dset["error"][start:stop] = error
            dset["mask"][start:stop] = mask
            if progress is not None:
                progress.update(stop - start)
    _params_frame(draws, snr).to_hdf(tmp, key="params", format="table", mode="a")
    with h5py.File(tmp, "r+") as f:
        for key, value in attrs.items():
            if isinstance(value, (dict, list, tuple)):
                value = json.dumps(value, sort_keys=True)
            elif isinstance(value, bool):
                value = np.uint8(value)  # PyTables cannot read HDF5 enum (bool) attributes
            f.attrs[key] = value
        f.attrs["n_rows"] = n
        f.attrs[COMPLETE_ATTR] = np.uint8(1)  # last write before the rename
    os.replace(tmp, path)
    return path


def is_complete_file(path, *, generator_version=None) -> bool:
    """True when ``path`` is a finished simulator file (complete flag and consistent shapes).

    With ``generator_version``, the file must also have been written by that version.
    """

    path = Path(path)
    if not path.is_file():
        return False
    try:
        with h5py.File(path, "r") as f:
            if not bool(f.attrs.get(COMPLETE_ATTR, False)):
                return False
            if generator_version is not None and (
                    f.attrs.get("generator_version") != generator_version):
                return False
            n = int(f.attrs["n_rows"])
            return all(key in f and f[key].shape[0] == n for key in (FLUX_KEY, ERROR_KEY, MASK_KEY))
    except (OSError, KeyError, ValueError):
        return False
