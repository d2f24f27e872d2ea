"""daudit: an out-of-core leakage auditor for spectroscopic machine learning.

Does the per-pixel error (sigma) vector of a spectrum secretly carry the label? daudit answers
that on the full data, streamed through Dask, with statistics that can be trusted.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "quality_features"]


def __getattr__(name):
    # Lazy: importing daudit must stay cheap (no dask/lightgbm at import time).
    if name == "quality_features":
        from daudit.deleak.features import quality_features

        return quality_features
    raise AttributeError(name)
