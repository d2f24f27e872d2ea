"""daudit: an out-of-core leakage auditor for spectroscopic machine learning.

Does the per-pixel error (sigma) vector of a spectrum secretly carry the label? daudit answers
that on the full data, streamed through Dask, with statistics that can be trusted.

From Python (e.g. a notebook)::

    import daudit
    res = daudit.audit("my_spec.yaml", output_dir="results/my-audit")   # -> daudit.AuditResult
    res                                              # a notebook shows the verdict and the metrics table
    daudit.audit("my_spec.yaml", quick=True)         # as `run --quick`: lighter nulls, a first look
    res.gate["verdict"], res.metrics, res.importance, res.figures
    daudit.load_result("results/my-audit")                               # a finished run, read back
    daudit.audit_arrays(X_train, y_train, X_val, y_val, X_test, y_test, wave=wave)
"""

from daudit._version import __version__

__all__ = ["__version__", "audit", "audit_arrays", "load_result", "AuditResult", "quality_features"]

_API = {"audit", "audit_arrays", "load_result", "AuditResult"}


def __getattr__(name):
    if name in _API:
        # lazy: importing daudit must stay cheap (no numpy, dask or LightGBM until a function is used)
        from daudit.app import api

        return getattr(api, name)
    if name == "quality_features":
        # lazy: as above
        from daudit.deleak.features import quality_features

        return quality_features
    raise AttributeError(name)


def __dir__():
    """The public API (including the lazily imported names) and the module's own attributes."""
    return sorted(set(globals()) | set(__all__))
