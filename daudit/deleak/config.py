"""The `deleak` section of a spec, parsed here so that the shared spec parser stays unchanged.

`load_deleak_spec` reads the YAML once, takes the optional ``deleak:`` mapping out and hands the
rest to `daudit.core.spec.parse_spec` (same rules, same messages as ``run``).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

from daudit.core.errors import DauditError
from daudit.core.paths import builtin_spec
from daudit.core.spec import parse_spec
from daudit.core.yamlload import read_yaml
from daudit.deleak.strategies import parse_strategy

__all__ = ["DeleakSpec", "parse_deleak", "load_deleak_spec", "audit_spec_for_deleak", "DEFAULT_DELEAK_SPEC_PATH"]

DEFAULT_DELEAK_SPEC_PATH = builtin_spec("logg_err_repr_01.yaml")


@dataclass(frozen=True)
class DeleakSpec:
    strategies: tuple = ("S0", "S1a", "S1b", "S2", "S2b", "S3", "S3b", "S4")
    pca_k: int = 3  # PCA templates of S2b
    quantiles: tuple = (11, 21)  # quantile counts of S3
    logg_threshold: float = 0.05  # pass: log_g R2 (test) below this
    snr_threshold: float = 0.5  # pass: SNR R2 (test) above this
    tie_tolerance: float = 0.001  # SNR R2 closer than this to the best counts as a tie
    wide_lightgbm_rows: int = 5000  # LightGBM on S0/S1 (one column per pixel): train subsample
    n_bootstrap: int = 1000
    n_permutations: int = 1000
    n_check_rows: int = 32  # test rows whose features are saved with the state for checks


def _note(msg: str) -> None:
    print(f"daudit: note: {msg}", file=sys.stderr)


def _fail(src, msg):
    raise DauditError(f"spec {src}: {msg}")


def parse_deleak(raw, src: str = "<spec>") -> DeleakSpec:
    """Validate the ``deleak:`` mapping (None gives the defaults)."""

    if raw is None:
        return DeleakSpec()
    if not isinstance(raw, dict):
        _fail(src, f"'deleak' must be a mapping, got {type(raw).__name__}")
    names = [f.name for f in dataclasses.fields(DeleakSpec)]
    for key in raw:
        if key not in names:
            _fail(src, f"unknown key 'deleak.{key}'; allowed: {', '.join(names)}")
    out = {}
    for key, value in raw.items():
        where = f"deleak.{key}"
        if key == "strategies":
            if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
                _fail(src, f"'{where}' must be a non-empty list of strategy ids, got {value!r}")
            for v in value:
                if v != "S3":
                    try:
                        parse_strategy(v)
                    except ValueError as err:
                        _fail(src, f"'{where}': {err}")
            if len(set(value)) != len(value):
                _fail(src, f"'{where}' repeats an id: {value}")
            out[key] = tuple(value)
        elif key == "quantiles":
            if not isinstance(value, list) or not value or not all(
                    isinstance(v, int) and not isinstance(v, bool) and v >= 2 for v in value):
                _fail(src, f"'{where}' must be a list of integers >= 2, got {value!r}")
            out[key] = tuple(dict.fromkeys(value))
        elif key in ("logg_threshold", "snr_threshold", "tie_tolerance"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                _fail(src, f"'{where}' must be a number, got {value!r}")
            out[key] = float(value)
        else:
            lo = 1 if key in ("pca_k", "wide_lightgbm_rows") else 0
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                _fail(src, f"'{where}' must be an integer >= {lo}, got {value!r}")
            out[key] = int(value)
    return DeleakSpec(**out)


def audit_spec_for_deleak(spec):
    """The audit's own spec, made a deleak spec: ``(spec, note)``; ``note`` is None when unchanged.

    The audit lists ``LinearRegression`` (OLS), which deleak does not fit (it fits standardised
    Ridge and LightGBM): it is skipped. So that the comparison does not replace the audit's
    results (or its published report), its experiment id gets ``-DELEAK`` and its default
    output folder follows the id.
    """
    if not spec.include_ols:
        return spec, None
    exp_id = f"{spec.experiment_id}-DELEAK"
    out = str(Path(spec.output_dir).parent / exp_id) if spec.output_dir else None
    spec = dataclasses.replace(spec, include_ols=False, experiment_id=exp_id, output_dir=out)
    note = (f"deleak: skipping LinearRegression (deleak fits standardised Ridge and LightGBM; noise_levels "
            f"and plots are the audit's and not used); this comparison runs as {exp_id}")
    return spec, note


def load_deleak_spec(path, *, note=None):
    """Read a spec file: ``(AuditSpec, DeleakSpec)``; relative paths from the file's folder.

    The audit's own spec is accepted (`audit_spec_for_deleak`); ``note`` (default: a
    ``daudit: note:`` line on stderr) is told what was skipped.
    """

    path = Path(path)
    raw = read_yaml(path)  # safe, bounded, no duplicate keys: the same reader as `run`
    if not isinstance(raw, dict):
        raise DauditError(f"spec {path}: the top level must be a mapping of keys")
    deleak = parse_deleak(raw.pop("deleak", None), str(path))
    spec = parse_spec(raw, base_dir=path.resolve().parent, source=str(path))
    spec, msg = audit_spec_for_deleak(spec)
    if msg is not None:
        (note or _note)(msg)
    if not spec.alphas:
        raise DauditError(f"spec {path}: deleak needs a Ridge entry in 'models' (e.g. alpha: [1.0])")
    return spec, deleak
