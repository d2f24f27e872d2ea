"""The candidate error representations of MVP-0.2, as pure numpy functions of row blocks.

Every function takes a block of cleaned spectra (rows x pixels, see `daudit.data.clean.clean_error`)
and returns per-row features in float64; rows are independent, so the features of a row do not
depend on the block it was computed in. The fitted pieces (the mean error template and the PCA
templates) are a `Templates` record, estimated once from the train split.

Strategies (id: features)
-------------------------
S0      raw error, p columns
S1a     error / median(flux), p columns
S1b     error / norm(flux), p columns
S2      template x scale: the scale s = e.t0 / t0.t0 and the residual norm ||e - s t0||, 2 columns
S2b     scores on the k leading PCA templates of the train error, V_k^T (e - mean), k columns
S3_<q>  q quantiles of the sorted error at levels linspace(0, 1, q) (numpy's linear rule)
S3b     10 aggregate statistics: mean, std, min, max, median, sum, q25, q75, skew, kurtosis
S4      norm(error), 1 column

SNR (the quality the representation must keep) is norm(flux) / norm(error) per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

__all__ = [
    "Strategy", "Templates", "strategy_table", "parse_strategy", "snr", "features",
    "block_features", "templates_from_stats", "AGGREGATE_NAMES", "WIDE", "DEFAULT_IDS",
]

AGGREGATE_NAMES = ("mean", "std", "min", "max", "median", "sum", "q25", "q75", "skew", "kurtosis")
WIDE = ("S0", "S1a", "S1b")  # one column per pixel
DEFAULT_IDS = ("S0", "S1a", "S1b", "S2", "S2b", "S3", "S3b", "S4")


@dataclass(frozen=True)
class Strategy:
    """One representation: its id, what it is, how many columns, what it needs."""

    id: str
    description: str
    n_features: int
    needs_flux: bool = False
    needs_templates: bool = False
    param: int | None = None  # k of S2b, q of S3_<q>

    @property
    def wide(self) -> bool:
        return self.id in WIDE

    def to_dict(self) -> dict:
        return {"id": self.id, "description": self.description, "n_features": self.n_features,
                "needs_flux": self.needs_flux, "needs_templates": self.needs_templates,
                "param": self.param}


@dataclass(frozen=True)
class Templates:
    """Fitted on train: t0 (p,) the mean error; mean (p,) and components (k, p) of the PCA."""

    t0: np.ndarray
    mean: np.ndarray
    components: np.ndarray

    def to_arrays(self) -> dict:
        return {"t0": self.t0, "pca_mean": self.mean, "pca_components": self.components}

    @classmethod
    def from_arrays(cls, arrays) -> "Templates":
        return cls(np.asarray(arrays["t0"], np.float64), np.asarray(arrays["pca_mean"], np.float64),
                   np.asarray(arrays["pca_components"], np.float64))


def parse_strategy(sid: str, n_pixels: int | None = None, *, pca_k: int = 3) -> Strategy:
    """A strategy id (``S0`` ... ``S4``, ``S2b``/``S2b_<k>``, ``S3_<q>``) -> `Strategy`.

    Raises ValueError for an unknown id.
    """
    p = n_pixels if n_pixels is not None else -1
    fixed = {
        "S0": Strategy("S0", "raw error", p),
        "S1a": Strategy("S1a", "error / median(flux)", p, needs_flux=True),
        "S1b": Strategy("S1b", "error / norm(flux)", p, needs_flux=True),
        "S2": Strategy("S2", "template x scale: (scale, residual norm)", 2, needs_templates=True),
        "S3b": Strategy("S3b", "10 aggregate statistics of the error", len(AGGREGATE_NAMES)),
        "S4": Strategy("S4", "norm(error)", 1),
    }
    if sid in fixed:
        return fixed[sid]
    head, _, tail = sid.partition("_")
    if head == "S2b" and (tail == "" or tail.isdigit()):
        k = int(tail) if tail else pca_k
        if k < 1:
            raise ValueError(f"S2b needs k >= 1 PCA templates, got {k}")
        return Strategy(f"S2b_{k}" if tail else "S2b", f"scores on {k} PCA templates", k,
                        needs_templates=True, param=k)
    if head == "S3" and tail.isdigit() and int(tail) >= 2:
        q = int(tail)
        return Strategy(sid, f"{q} quantiles of the sorted error", q, param=q)
    raise ValueError(f"unknown strategy {sid!r}; known: S0, S1a, S1b, S2, S2b[_k], S3_<q>, S3b, S4")


def strategy_table(ids, n_pixels: int, *, pca_k: int = 3, quantiles=(11, 21)) -> list:
    """Expand the configured ids (``S3`` -> one ``S3_<q>`` per quantile count) into `Strategy`."""
    out = []
    for sid in ids:
        if sid == "S3":
            out += [parse_strategy(f"S3_{q}", n_pixels) for q in quantiles]
        else:
            out.append(parse_strategy(sid, n_pixels, pca_k=pca_k))
    return out


# ---------------------------------------------------------------------------- numpy features
def _norm(block: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", block, block))


def _safe_den(den: np.ndarray) -> np.ndarray:
    """Row divisors that are not finite and positive are replaced by 1 (row left unscaled)."""
    return np.where(np.isfinite(den) & (den > 0), den, 1.0)


def snr(error: np.ndarray, flux: np.ndarray) -> np.ndarray:
    """norm(flux) / norm(error) per row, (n,); 0 where the error is identically zero."""
    e = _norm(np.asarray(error, np.float64))
    f = _norm(np.asarray(flux, np.float64))
    return np.where(e > 0, f / np.where(e > 0, e, 1.0), 0.0)


def _quantiles_sorted(srt: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """numpy's default (linear) quantiles of rows already sorted ascending: (n, len(levels))."""
    p = srt.shape[1]
    pos = levels * (p - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, p - 1)
    frac = pos - lo
    return srt[:, lo] * (1.0 - frac) + srt[:, hi] * frac


def _aggregates(e: np.ndarray, srt: np.ndarray) -> np.ndarray:
    p = e.shape[1]
    mean = e.mean(axis=1)
    d = e - mean[:, None]
    m2 = np.einsum("ij,ij->i", d, d) / p
    d2 = d * d
    m3 = np.einsum("ij,ij->i", d2, d) / p
    m4 = np.einsum("ij,ij->i", d2, d2) / p
    ok = m2 > 0
    safe = np.where(ok, m2, 1.0)
    skew = np.where(ok, m3 / safe**1.5, 0.0)  # scipy.stats.skew(bias=True)
    kurt = np.where(ok, m4 / safe**2 - 3.0, 0.0)  # scipy.stats.kurtosis(fisher=True, bias=True)
    q = _quantiles_sorted(srt, np.array([0.5, 0.25, 0.75]))
    return np.column_stack([mean, np.sqrt(m2), srt[:, 0], srt[:, -1], q[:, 0], e.sum(axis=1),
                            q[:, 1], q[:, 2], skew, kurt])


def features(strategy: Strategy, error: np.ndarray, flux: np.ndarray | None = None,
             templates: Templates | None = None, *, _sorted: np.ndarray | None = None) -> np.ndarray:
    """Features of one strategy for cleaned rows.

    Parameters
    ----------
    strategy : Strategy
    error : ndarray of shape (n, p)
    flux : ndarray of shape (n, p), optional
        Needed by S1a and S1b.
    templates : Templates, optional
        Needed by S2 and S2b.

    Returns
    -------
    ndarray of shape (n, strategy.n_features), float64
    """
    e = np.asarray(error, dtype=np.float64)
    sid = strategy.id
    if strategy.needs_flux and flux is None:
        raise ValueError(f"strategy {sid} ({strategy.description}) needs the flux")
    if strategy.needs_templates and templates is None:
        raise ValueError(f"strategy {sid} needs fitted templates (pass the state of a deleak run)")
    if sid == "S0":
        return e
    if sid == "S1a":
        return e / _safe_den(np.median(np.asarray(flux, np.float64), axis=1))[:, None]
    if sid == "S1b":
        return e / _safe_den(_norm(np.asarray(flux, np.float64)))[:, None]
    if sid == "S4":
        return _norm(e)[:, None]
    if sid == "S2":
        t0 = templates.t0
        s = (e @ t0) / float(t0 @ t0)
        return np.column_stack([s, _norm(e - s[:, None] * t0[None, :])])
    if sid.startswith("S2b"):
        comp = templates.components[: strategy.param]
        if comp.shape[0] < strategy.param:
            raise ValueError(f"{sid} needs {strategy.param} PCA templates; the state holds {comp.shape[0]}")
        return (e - templates.mean[None, :]) @ comp.T
    srt = np.sort(e, axis=1) if _sorted is None else _sorted
    if sid == "S3b":
        return _aggregates(e, srt)
    if sid.startswith("S3_"):
        return _quantiles_sorted(srt, np.linspace(0.0, 1.0, strategy.param))
    raise ValueError(f"unknown strategy {sid!r}")


def block_features(strategies, error: np.ndarray, flux: np.ndarray | None,
                   templates: Templates | None) -> dict:
    """Features of several strategies for one block, sorting each row once: id -> (n, k)."""
    e = np.asarray(error, dtype=np.float64)
    srt = np.sort(e, axis=1) if any(s.id == "S3b" or s.id.startswith("S3_") for s in strategies) else None
    return {s.id: features(s, e, flux, templates, _sorted=srt) for s in strategies}


def templates_from_stats(stats, k: int) -> Templates:
    """The S2 template (train mean error) and the k leading PCA templates of the error.

    stats : `daudit.models.stats.CenteredStats` of the train error (S_xx about the mean, (p, p)).
    The PCA components are the eigenvectors of S_xx with the k largest eigenvalues, each with its
    sign fixed so that its largest-magnitude entry is positive (reproducible across platforms).
    """

    p = stats.sxx.shape[0]
    k = min(k, p)
    vals, vecs = scipy.linalg.eigh(stats.sxx, subset_by_index=[p - k, p - 1])
    comp = vecs[:, ::-1].T.copy()
    idx = np.argmax(np.abs(comp), axis=1)
    comp *= np.sign(comp[np.arange(k), idx])[:, None]
    mean = np.asarray(stats.x_mean, np.float64)
    return Templates(t0=mean.copy(), mean=mean.copy(), components=comp)
