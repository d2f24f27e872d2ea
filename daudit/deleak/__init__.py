"""MVP-0.2: compare error representations that keep observation quality (SNR) but drop log_g.

Modules: `strategies` (pure numpy features), `evaluate` (standardised Ridge from statistics,
bootstrap, permutation, the pass rule), `passes` (Dask wiring), `fit` (models and metric rows),
`pipeline` (orchestration), `summary`, `artifacts`, `figures`, `report`, `features`
(`quality_features`, the frozen representation users import), `config` (the ``deleak:`` section).
Importing this package is cheap: numpy is imported by the submodules only.
"""
from daudit.deleak.features import quality_features

__all__ = ["quality_features"]


def __getattr__(name):
    if name == "quality_features":

        return quality_features
    raise AttributeError(name)
