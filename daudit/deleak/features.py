"""`quality_features`: the frozen MVP-0.2 error representation, for users' training code.

A ``deleak`` run saves its state beside its results: ``quality_features.json`` (the strategy
definitions, the recommended strategy, how the inputs are cleaned) and ``quality_features.npz``
(the fitted templates, and the features of the first test rows as computed in the run, so that
reproducibility can be checked). Load it with ``state=`` to get exactly the run's features::

    from daudit import quality_features
    q = quality_features(error, flux, state="results/LOGG-ERR-REPR-01")  # (n, k)

Only numpy (and scipy for nothing here) is imported: no Dask, no LightGBM.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from daudit.core.artifacts import atomic_write_bytes, write_json
from daudit.data.clean import clean_error
from daudit.deleak.strategies import Templates, block_features, parse_strategy

__all__ = ["quality_features", "load_state", "save_state", "QualityState", "STATE_JSON", "STATE_NPZ"]

STATE_JSON = "quality_features.json"
STATE_NPZ = "quality_features.npz"
STATE_FORMAT = 1


class QualityState:
    """A loaded state: ``definition`` (dict from the JSON), ``templates``, ``arrays`` (npz)."""

    def __init__(self, definition: dict, templates: Templates | None, arrays: dict):
        self.definition, self.templates, self.arrays = definition, templates, arrays

    @property
    def recommended(self):
        return self.definition.get("recommended")


def _clean(block):
    return clean_error(np.atleast_2d(np.asarray(block)))


def save_state(folder, *, definition: dict, templates: Templates, check: dict | None = None,
               check_rows=None) -> tuple:
    """Write ``quality_features.npz`` then ``quality_features.json`` into ``folder`` (atomic)."""

    folder = Path(folder)
    arrays = dict(templates.to_arrays())
    if check:
        arrays["check_rows"] = np.asarray(check_rows, np.int64)
        arrays.update({f"check_{k}": np.asarray(v, np.float64) for k, v in check.items()})
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    data = buf.getvalue()
    atomic_write_bytes(folder / STATE_NPZ, data)
    definition = dict(definition, format=STATE_FORMAT, npz=STATE_NPZ,
                      npz_sha256=hashlib.sha256(data).hexdigest())
    write_json(folder / STATE_JSON, definition)
    return folder / STATE_JSON, folder / STATE_NPZ


def load_state(state) -> QualityState:
    """Load a state from a result folder, its ``quality_features.json`` or its ``.npz``."""
    p = Path(state)
    js = p / STATE_JSON if p.is_dir() else (p if p.suffix == ".json" else p.with_name(STATE_JSON))
    if not js.is_file():
        raise FileNotFoundError(f"{js}: no quality_features state (run `python -m daudit deleak` first)")
    definition = json.loads(js.read_text(encoding="utf-8"))
    npz = js.with_name(definition.get("npz", STATE_NPZ))
    data = npz.read_bytes()
    if definition.get("npz_sha256") and hashlib.sha256(data).hexdigest() != definition["npz_sha256"]:
        raise ValueError(f"{npz}: does not match {js.name} (checksum differs); the state was altered")
    with np.load(npz) as z:
        arrays = {k: z[k] for k in z.files}
    return QualityState(definition, Templates.from_arrays(arrays), arrays)


def quality_features(error, flux=None, strategy: str | None = None, *, state=None) -> np.ndarray:
    """The quality (SNR-keeping, de-leaked) features of spectra.

    Parameters
    ----------
    error : array-like of shape (n, p) or (p,)
        Per-pixel error vectors, as stored (NaN allowed: filled from the nearest finite pixel of
        the row, rows with no finite pixel become 0, exactly as in the run).
    flux : array-like of shape (n, p), optional
        Needed by S1a and S1b only (cleaned the same way).
    strategy : str, optional
        Strategy id (``S2``, ``S2b``, ``S3_11``, ``S3b``, ``S4``, ...). Default: the strategy the
        run in ``state`` recommended.
    state : path-like or QualityState, optional
        A deleak result folder (or its ``quality_features.json``). Needed for S2 and S2b (the
        fitted templates) and to use the recommended strategy.

    Returns
    -------
    ndarray of shape (n, k), float64
        k is 2 for S2, the number of templates for S2b, the quantile count for S3_<q>, 10 for
        S3b, 1 for S4, p for S0/S1a/S1b.
    """
    st = state if isinstance(state, QualityState) or state is None else load_state(state)
    if strategy is None:
        if st is None:
            raise ValueError("give strategy= (e.g. 'S3b') or state= a deleak result folder")
        strategy = st.recommended
        if strategy is None:
            raise ValueError("the run in state= recommended no strategy (none passed); give strategy=")
    pca_k = 3
    if st is not None:
        pca_k = int(st.definition.get("pca_k", pca_k))
    e = _clean(error)
    strat = parse_strategy(strategy, e.shape[1], pca_k=pca_k)
    templates = st.templates if st is not None else None
    if templates is not None and templates.t0.shape[0] != e.shape[1]:
        raise ValueError(f"error has {e.shape[1]} pixels; the state was fitted on {templates.t0.shape[0]}")
    f = _clean(flux) if flux is not None else None
    if f is not None and f.shape != e.shape:
        raise ValueError(f"flux shape {f.shape} differs from error shape {e.shape}")
    return block_features([strat], e, f, templates)[strat.id]
