"""daudit: an out-of-core leakage auditor for spectroscopic machine learning.

Does the per-pixel error (sigma) vector of a spectrum secretly carry the label? daudit answers
that on the full data, streamed through Dask, with statistics that can be trusted.
"""

from daudit._version import __version__

__all__ = ["__version__", "quality_features"]


def __getattr__(name):
    if name == "quality_features":
        # lazy: importing daudit must stay cheap (no numpy, dask or LightGBM at import time)
        from daudit.deleak.features import quality_features

        return quality_features
    raise AttributeError(name)
