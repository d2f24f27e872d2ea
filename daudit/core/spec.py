"""The experiment spec: one typed, frozen object parsed once from YAML.

The block under "实验规格" in the user's request loads as it is written there; daudit's own
optional sections (`compute`, `sanity`, `gate`, `output_dir`, `author`) sit beside it. Unknown keys and
bad values are refused with one line naming the key and what is allowed (the value parsers
are in `daudit.core.spec_values`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daudit.core.gate_rule import DEFAULT_GATE_RULE, GATE_RULES
from daudit.core.paths import builtin_spec
from daudit.core.spec_values import (  # re-exported: parse_bytes, parse_scheduler
    parse_bool,
    check_keys,
    parse_dashboard,
    spec_error,
    parse_number,
    parse_optional_text,
    parse_paths,
    parse_bytes,
    parse_scheduler,
)
from daudit.core.yamlload import read_yaml

__all__ = [
    "AuditSpec", "DataSpec", "InputSpec", "LightGBMSpec", "PlotSpec", "ComputeSpec",
    "SanitySpec", "GateSpec", "QUICK_SANITY",
    "load_spec", "parse_spec", "parse_bytes", "parse_scheduler", "DEFAULT_SPEC_PATH", "slug",
]

DEFAULT_SPEC_PATH = builtin_spec("logg_err_base_01.yaml")
_INPUTS = ("error",)
_MODEL_TYPES = ("LinearRegression", "Ridge", "LightGBM")
_PLOT_TYPES = ("r2_bar_chart", "feature_importance_spectrum", "importance_histogram", "sanity_checks")


@dataclass(frozen=True)
class DataSpec:
    source: str = ""
    train_path: tuple = ()
    val_path: tuple = ()
    test_path: tuple = ()
    num_samples: int | None = None  # first rows of train (None: all)
    num_test_samples: int | None = None  # first rows of val and of test
    split: str = ""
    param: str = "log_g"


@dataclass(frozen=True)
class InputSpec:
    X: str = "error"
    y: str = "log_g"


@dataclass(frozen=True)
class LightGBMSpec:
    n_estimators: int = 100
    max_depth: int = 6
    learning_rate: float = 0.1


@dataclass(frozen=True)
class PlotSpec:
    type: str
    desc: str = ""
    save: str = ""


@dataclass(frozen=True)
class ComputeSpec:
    memory_limit: int = 4 * 1024**3  # bytes, for the whole process tree
    chunk_rows: int = 2048  # rows per Dask chunk (each chunk spans all pixels)
    scheduler: str = "local"  # local (LocalCluster) | threads | synchronous | tcp://host:port
    n_workers: int | None = None  # LocalCluster worker processes (default: cores, at most 2)
    # lanes of every fold over row chunks: the order of the float64 sums. None: one per worker.
    # The same data, chunk_rows and fold_lanes give bitwise-equal statistics on any scheduler.
    fold_lanes: int | None = None
    dashboard_address: str = "127.0.0.1:8787"
    device: str = "cpu"  # cpu | cuda
    zarr_cache: bool = True  # copy HDF5 error arrays to row-chunked zarr under data_cache/ on first use
    stats_cache: bool = True  # keep sufficient statistics under data_cache/ keyed by input fingerprint


@dataclass(frozen=True)
class SanitySpec:
    enabled: bool = True
    wavelength_shuffle: bool = True
    group_shuffle: bool = True
    group_mag_bins: int = 4
    group_snr_bins: int = 4
    mask_only: bool = True
    aggregate_stats: bool = True
    n_permutations_linear: int = 200
    n_permutations_lightgbm: int = 20
    n_bootstrap: int = 1000
    lightgbm_rows: int = 20000  # LightGBM refits inside checks use at most this many train rows
    lightgbm_permutation_rows: int = 3000  # train rows of each LightGBM permutation-null refit
    n_group_shuffles: int = 10  # within-group label shuffles for the linear family (LightGBM: 1)
    snr_bins: tuple = (2.0, 4.0, 7.0)
    variability_threshold: float = 0.05
    quick_run: bool = False  # set by `quick` (run --quick), never from a spec file; the report says so

    def quick(self) -> "SanitySpec":
        """``run --quick``: the same checks with lighter nulls and intervals, for first looks at
        small samples (`QUICK_SANITY`: no LightGBM permutation null, 100 linear permutations,
        200 bootstrap resamples, 3 group shuffles, LightGBM refits on at most 5,000 rows);
        ``quick_run`` records it in summary.json (``spec.sanity.quick_run``)."""
        return dataclasses.replace(self, **QUICK_SANITY, quick_run=True)


@dataclass(frozen=True)
class GateSpec:
    """How Gate-1 decides (`daudit.core.gate_rule`): ``point`` (best test R2 < 0.05, the seed's
    rule) or ``strict`` (the upper end of its selection-aware 95% interval < 0.05 as well)."""

    rule: str = DEFAULT_GATE_RULE


QUICK_SANITY = {"n_permutations_lightgbm": 0, "n_permutations_linear": 100, "n_bootstrap": 200,
                "n_group_shuffles": 3, "lightgbm_rows": 5000}


@dataclass(frozen=True)
class AuditSpec:
    experiment_id: str
    data: DataSpec
    input: InputSpec = InputSpec()
    include_ols: bool = True
    alphas: tuple = ()
    lightgbm: LightGBMSpec | None = None
    noise_levels: tuple = (1.0,)
    seed: int = 42
    plots: tuple = ()
    compute: ComputeSpec = ComputeSpec()
    sanity: SanitySpec = SanitySpec()
    gate: GateSpec = GateSpec()
    output_dir: str | None = None
    author: str | None = None  # the report's Author line; None: the report says it is not set
    repo_path: str | None = None
    source_path: str | None = None  # where the spec was read from

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def prefix(self) -> str:
        """Lower-case id used in figure names: LOGG-ERR-BASE-01 -> logg_err_base_01."""
        return slug(self.experiment_id)


def slug(text: str) -> str:
    """An id as it appears in file names: lower case, runs of other characters as one ``_``
    (``"LOGG-ERR-BASE-01"`` -> ``"logg_err_base_01"``)."""
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")


_TOP_KEYS = ("experiment_id", "repo_path", "data", "input", "models", "noise_levels", "seed",
             "plots", "compute", "sanity", "gate", "output_dir", "author")

# Bounds on what a spec may ask for: each multiplies the work or the memory of a run, and a typo
# (an extra digit) should be refused in a blink rather than run for days. The memory bounds
# (MIN_MEMORY, MAX_MEMORY) are with parse_bytes in daudit.core.spec_values.
MAX_LIST = 64  # noise levels, Ridge alphas
MAX_SEED = 2**31 - 1  # LightGBM's seed is a 32-bit integer
_SANITY_MAX = {"n_permutations_linear": 100_000, "n_permutations_lightgbm": 10_000, "n_bootstrap": 100_000,
               "n_group_shuffles": 10_000, "group_mag_bins": 1_000, "group_snr_bins": 1_000,
               "lightgbm_rows": 100_000_000, "lightgbm_permutation_rows": 100_000_000}


def _parse_models(models, src):
    if not isinstance(models, list) or not models:
        spec_error(src, f"'models' must be a non-empty list, got {models!r}")
    include_ols, alphas, lgbm = False, [], None
    for i, m in enumerate(models):
        where = f"models[{i}]"
        if not isinstance(m, dict) or "type" not in m:
            spec_error(src, f"'{where}' must be a mapping with a 'type' ({', '.join(_MODEL_TYPES)})")
        t = m["type"]
        if t == "LinearRegression":
            check_keys(m, ("type",), where, src)
            include_ols = True
        elif t == "Ridge":
            check_keys(m, ("type", "alpha"), where, src)
            a = m.get("alpha", [1.0])
            for v in a if isinstance(a, list) else [a]:
                alphas.append(parse_number(v, f"{where}.alpha", src, lo=0, lo_open=True))
        elif t == "LightGBM":
            check_keys(m, ("type", "n_estimators", "max_depth", "learning_rate"), where, src)
            lgbm = LightGBMSpec(
                n_estimators=parse_number(m.get("n_estimators", 100), f"{where}.n_estimators", src, kind=int, lo=1,
                                  hi=100_000),
                max_depth=parse_number(m.get("max_depth", 6), f"{where}.max_depth", src, kind=int, lo=-1, hi=1_000),
                learning_rate=parse_number(m.get("learning_rate", 0.1), f"{where}.learning_rate", src, lo=0, lo_open=True),
            )
        else:
            spec_error(src, f"'{where}.type' must be one of {', '.join(_MODEL_TYPES)}, got {t!r}")
    if len(set(alphas)) != len(alphas):
        spec_error(src, f"'models' Ridge alphas repeat: {alphas}")
    if len(alphas) > MAX_LIST:
        spec_error(src, f"'models' lists {len(alphas)} Ridge alphas; at most {MAX_LIST}")
    if not include_ols and not alphas:
        spec_error(src, "'models' has no LinearRegression or Ridge entry; the audit's importance and sanity checks "
                   "are built on the linear family: add '- type: Ridge' (alpha: [1.0]) or '- type: LinearRegression'")
    return include_ols, tuple(sorted(alphas)), lgbm


def _parse_section(cls, raw, where, src, conv):
    """Fill a flat dataclass from a mapping; ``conv`` maps field name -> converter (a field without
    one, such as ``sanity.quick_run``, cannot be set from a spec file)."""
    if raw is None:
        return cls()
    names = [f.name for f in dataclasses.fields(cls) if f.name in conv]
    check_keys(raw, names, where, src)
    return cls(**{k: conv[k](v, f"{where}.{k}") for k, v in raw.items()})


def _parse_data(d, src, base_dir) -> DataSpec:
    if d is None:
        spec_error(src, "'data' is missing: give data.train_path, data.val_path and data.test_path")
    check_keys(d, [f.name for f in dataclasses.fields(DataSpec)], "data", src)
    for k in ("train_path", "val_path", "test_path"):
        if k not in d:
            spec_error(src, f"'data.{k}' is missing")
    return DataSpec(
        source=str(d.get("source", "")),
        train_path=parse_paths(d["train_path"], "data.train_path", src, base_dir),
        val_path=parse_paths(d["val_path"], "data.val_path", src, base_dir),
        test_path=parse_paths(d["test_path"], "data.test_path", src, base_dir),
        num_samples=parse_number(d.get("num_samples"), "data.num_samples", src, kind=int, lo=1, allow_none=True),
        num_test_samples=parse_number(d.get("num_test_samples"), "data.num_test_samples", src, kind=int, lo=1, allow_none=True),
        split=str(d.get("split", "")),
        param=_param(d.get("param", "log_g"), src),
    )


def _param(value, src) -> str:
    """``data.param``: one label column; a list (several labels) is refused, not read as its text."""
    if isinstance(value, (list, tuple, dict)):
        spec_error(src, f"'data.param' must name one label column (e.g. log_g), got {type(value).__name__} {value!r}; "
                   "an audit checks one label: run one spec per label")
    if value is None or isinstance(value, bool) or not str(value).strip():
        spec_error(src, f"'data.param' must name one label column (e.g. log_g), got {value!r}")
    return str(value)


def _parse_input(inp, data: DataSpec, src) -> InputSpec:
    inp = inp or {}
    check_keys(inp, ("X", "y"), "input", src)
    x = inp.get("X", "error")
    if x not in _INPUTS:
        spec_error(src, f"'input.X' must be one of {', '.join(_INPUTS)} (the audit never uses the flux), got {x!r}")
    y = str(inp.get("y", data.param))
    if y != data.param:
        spec_error(src, f"'input.y' ({y!r}) and 'data.param' ({data.param!r}) must name the same label")
    return InputSpec(X=x, y=y)


def _parse_levels(levels, src) -> tuple:
    if not isinstance(levels, list) or not levels:
        spec_error(src, f"'noise_levels' must be a non-empty list of numbers >= 0, got {levels!r}")
    if len(levels) > MAX_LIST:
        spec_error(src, f"'noise_levels' lists {len(levels)} levels; at most {MAX_LIST}")
    levels = tuple(parse_number(v, "noise_levels", src, lo=0) for v in levels)
    if len(set(levels)) != len(levels):
        spec_error(src, f"'noise_levels' repeat: {list(levels)}")
    if not any(lv > 0 for lv in levels):
        spec_error(src, f"'noise_levels' has no level above 0, got {list(levels)}: level 0 makes the input identically "
                   "zero, so it never counts for the verdict; add a level such as 1.0")
    return levels


def _parse_plots(raw, src) -> tuple:
    plots = []
    if not isinstance(raw or [], list):
        spec_error(src, f"'plots' must be a list of {{type, save}} mappings, got {raw!r}")
    for i, p in enumerate(raw or []):
        check_keys(p, ("type", "desc", "save"), f"plots[{i}]", src)
        if p.get("type") not in _PLOT_TYPES:
            spec_error(src, f"'plots[{i}].type' must be one of {', '.join(_PLOT_TYPES)}, got {p.get('type')!r}")
        save = str(p.get("save") or f"{p['type']}.png")
        if "/" in save or "\\" in save or "\0" in save or save.startswith(".") or not save.endswith(".png"):
            spec_error(src, f"'plots[{i}].save' must be a plain .png file name, got {save!r}")
        plots.append(PlotSpec(type=p["type"], desc=str(p.get("desc", "")), save=save))
    return tuple(plots)


def _parse_compute(raw, src) -> ComputeSpec:
    def device(v, w):
        if v not in ("cpu", "cuda"):
            spec_error(src, f"'{w}' must be cpu or cuda, got {v!r}")
        return v

    return _parse_section(ComputeSpec, raw, "compute", src, {
        "memory_limit": lambda v, w: parse_bytes(v, w, src),
        "chunk_rows": lambda v, w: parse_number(v, w, src, kind=int, lo=16, hi=1_000_000),
        "scheduler": lambda v, w: parse_scheduler(v, w, src),
        "n_workers": lambda v, w: parse_number(v, w, src, kind=int, lo=1, hi=1_024, allow_none=True),
        "fold_lanes": lambda v, w: parse_number(v, w, src, kind=int, lo=1, hi=1_024, allow_none=True),
        "dashboard_address": lambda v, w: parse_dashboard(v, w, src),
        "device": device,
        "zarr_cache": lambda v, w: parse_bool(v, w, src),
        "stats_cache": lambda v, w: parse_bool(v, w, src),
    })


def _parse_sanity(raw, src) -> SanitySpec:
    def bins(v, w):
        if not isinstance(v, list) or not v:
            spec_error(src, f"'{w}' must be a list of increasing numbers, got {v!r}")
        if len(v) > MAX_LIST:
            spec_error(src, f"'{w}' lists {len(v)} edges; at most {MAX_LIST}")
        out = tuple(parse_number(x, w, src) for x in v)
        if list(out) != sorted(set(out)):
            spec_error(src, f"'{w}' must be strictly increasing, got {v!r}")
        return out

    def count(lo):
        return lambda v, w: parse_number(v, w, src, kind=int, lo=lo, hi=_SANITY_MAX[w.split(".")[-1]])

    def flag(v, w):
        return parse_bool(v, w, src)

    return _parse_section(SanitySpec, raw, "sanity", src, {
        "enabled": flag, "wavelength_shuffle": flag, "group_shuffle": flag, "mask_only": flag,
        "aggregate_stats": flag,
        "group_mag_bins": count(1), "group_snr_bins": count(1),
        "n_permutations_linear": count(0), "n_permutations_lightgbm": count(0), "n_bootstrap": count(0),
        "lightgbm_rows": count(100), "lightgbm_permutation_rows": count(100), "n_group_shuffles": count(1),
        "snr_bins": bins,
        "variability_threshold": lambda v, w: parse_number(v, w, src, lo=0, lo_open=True),
    })


def _parse_gate(raw, sanity: SanitySpec, src) -> GateSpec:
    def rule(v, w):
        if v not in GATE_RULES:
            spec_error(src, f"'{w}' must be one of {', '.join(GATE_RULES)}, got {v!r}")
        return v

    out = _parse_section(GateSpec, raw, "gate", src, {"rule": rule})
    if out.rule == "strict" and not (sanity.enabled and sanity.n_bootstrap > 0):
        spec_error(src, "'gate.rule: strict' needs the selection-aware interval of the best test R2, which the "
                   "sanity checks' bootstrap computes: set sanity.enabled: true and sanity.n_bootstrap >= 1, "
                   "or use gate.rule: point")
    return out


def _parse_output_dir(out_dir, src, base_dir):
    if out_dir is None:
        return None
    if not isinstance(out_dir, (str, Path)) or not str(out_dir) or "\0" in str(out_dir):
        spec_error(src, f"'output_dir' must be a folder path, got {out_dir!r}")
    p = Path(str(out_dir)).expanduser()
    return os.path.normpath(str(p if p.is_absolute() or base_dir is None else base_dir / p))


def parse_spec(raw: Any, *, base_dir: Path | None = None, source: str = "<spec>") -> AuditSpec:
    """Validate a loaded YAML mapping and build the `AuditSpec` (one `DauditError` line if not)."""
    src = source
    if not isinstance(raw, dict):
        spec_error(src, f"the top level must be a mapping of keys ({', '.join(_TOP_KEYS)})")
    check_keys(raw, _TOP_KEYS, "", src)
    exp_id = raw.get("experiment_id")
    if not isinstance(exp_id, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", exp_id):
        spec_error(src, f"'experiment_id' must be letters, digits, '.', '_' or '-' (no path), got {exp_id!r}")
    data = _parse_data(raw.get("data"), src, base_dir)
    include_ols, alphas, lgbm = _parse_models(raw.get("models"), src)
    sanity = _parse_sanity(raw.get("sanity"), src)
    return AuditSpec(
        experiment_id=exp_id, data=data, input=_parse_input(raw.get("input"), data, src), include_ols=include_ols,
        alphas=alphas, lightgbm=lgbm, noise_levels=_parse_levels(raw.get("noise_levels", [1.0]), src),
        seed=parse_number(raw.get("seed", 42), "seed", src, kind=int, lo=0, hi=MAX_SEED),
        plots=_parse_plots(raw.get("plots"), src), compute=_parse_compute(raw.get("compute"), src),
        sanity=sanity, gate=_parse_gate(raw.get("gate"), sanity, src),
        output_dir=_parse_output_dir(raw.get("output_dir"), src, base_dir),
        author=parse_optional_text(raw.get("author"), "author", src) or None,
        repo_path=parse_optional_text(raw.get("repo_path"), "repo_path", src), source_path=source,
    )


def load_spec(path: str | Path) -> AuditSpec:
    """Read a spec (`daudit.core.yamlload.read_yaml`: safe, bounded, no duplicate keys); relative
    data paths are taken from the file's folder."""
    path = Path(path)
    raw = read_yaml(path)
    return parse_spec(raw, base_dir=path.resolve().parent, source=str(path))
