"""The typed result schema: what summary.json holds, written and read back through one door.

Every finished run (an audit or a deleak comparison) writes one ``summary.json`` whose shape is
`AuditSummary` or `DeleakSummary` below, tagged with ``schema_version`` and ``kind``.
`write_summary` checks a summary against its type before writing it; `load_summary` reads one
back and checks it, so that every reader (report, history, status, show, list, publish, deleak)
sees either a well-formed summary or one line saying what is wrong with the file
(`DauditError`, exit 2), never a traceback on a damaged, truncated or older file.

A summary is sealed when written: ``checksum`` holds the SHA-256 of its canonical JSON (every
other key; `summary_checksum`). Every reader refuses a summary whose checksum is missing or does
not match, so a verdict (or any number) edited by hand after the run is never shown, listed or
published as the run's.

The types are `TypedDict` (the JSON stays a plain dict); `validate` walks their annotations at
run time: required keys, ``X | None``, ``list[X]``, ``dict[str, X]``, ``Literal`` and nested
TypedDicts. Keys a type does not name are allowed (sections may grow without a version bump);
a change that removes or retypes a key bumps `SCHEMA_VERSION`.
"""

# No `from __future__ import annotations` here: TypedDict must see NotRequired[...] at run time.
import hashlib
import json
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict

from daudit.core.artifacts import to_jsonable, write_json
from daudit.core.errors import DauditError
from daudit.core.files import file_kind
from daudit.core.schema_sanity import Localisation, LocalisedRegion, Sanity, ValSelected
from daudit.core.typecheck import SchemaError, describe, validate

__all__ = [
    "SCHEMA_VERSION", "SUMMARY_FILE", "AuditSummary", "DeleakSummary", "RunSummary", "Gate", "GateNote", "ValSelected",
    "MetricsRow", "BestRecord", "Localisation", "LocalisedRegion", "Sanity", "load_summary",
    "read_summary", "write_summary", "ChecksumError", "CHECKSUM_KEY", "summary_checksum",
    "seal_summary", "quick_run",
]

SCHEMA_VERSION = 1
SUMMARY_FILE = "summary.json"
CHECKSUM_KEY = "checksum"


class MetricsRow(TypedDict):
    """One metrics.csv row (one noise level and model); R² is None where undefined."""

    noise_level: float
    model: str
    alpha: float | None
    train_r2: float | None
    train_mae: float | None
    train_rmse: float | None
    val_r2: float | None
    val_mae: float | None
    val_rmse: float | None
    test_r2: float | None
    test_mae: float | None
    test_rmse: float | None
    fit_seconds: float | None
    degenerate: bool
    resolved_rank: NotRequired[int | None]  # eigen-directions above the resolution threshold
    effective_dof: NotRequired[float | None]  # sum(lambda / (lambda + alpha)) over resolved directions
    alpha_below_resolution: NotRequired[bool | None]  # Ridge only: alpha below the threshold (= OLS there)


class BestRecord(TypedDict):
    """The model picked by `daudit.models.selection.best_by_test` and its numbers."""

    model: str
    noise_level: float
    alpha: float | None
    train_r2: float | None
    val_r2: float | None
    test_r2: float | None
    test_mae: float | None
    test_rmse: float | None


class GateNote(TypedDict):
    """An input check that blocked a PASS, or an input the verdict did not test."""

    check: str  # "label_shift", "bad_pixel_pattern"
    where: str  # the split or the check
    text: str  # one English sentence with the numbers


class Gate(TypedDict):
    """The verdict: ``best_test_r2`` against ``threshold`` (PASS when below).

    With the sanity checks: ``ci95`` is the selection-aware interval (bootstrap of the maximum
    over the ``n_candidates`` models, re-selected in each resample), ``ci95_best_model`` the
    plain interval of the model that won; ``p_value_familywise`` compares the best linear test
    R² with the best linear fit of each label permutation; ``lightgbm_p_value`` is LightGBM's
    own permutation p, whose resolution is ``lightgbm_min_p_value`` = 1 / (permutations + 1).
    ``rule`` is the spec's gate rule (point / strict), ``decided_by`` the sentence with the numbers
    that decided, ``blocked_by`` the input checks that turned a PASS into a FAIL
    (`daudit.models.selection.decide_gate`); ``borderline``: the interval straddles the threshold.
    """

    name: str
    threshold: float
    best_test_r2: float
    best_model: str
    verdict: Literal["PASS", "FAIL"]
    borderline: bool
    ci95: list[float | None] | None
    rule: NotRequired[Literal["point", "strict"]]
    decided_by: NotRequired[str]
    blocked_by: NotRequired[list[GateNote]]
    untested: NotRequired[list[GateNote]]  # inputs the verdict did not test
    best_noise_level: NotRequired[float]
    leakage_degree: NotRequired[str]
    ci95_method: NotRequired[str]
    n_candidates: NotRequired[int]
    ci95_best_model: NotRequired[list[float | None] | None]
    val_selected: NotRequired[ValSelected | None]
    p_value_familywise: NotRequired[float | None]
    familywise_n_models: NotRequired[int | None]
    familywise_n_permutations: NotRequired[int | None]
    familywise_min_p_value: NotRequired[float | None]
    lightgbm_p_value: NotRequired[float | None]
    lightgbm_n_permutations: NotRequired[int | None]
    lightgbm_min_p_value: NotRequired[float | None]
    lightgbm_backend: NotRequired[str]  # "in-process" | "lightgbm.dask (N workers)"
    lightgbm_backend_note: NotRequired[str]


class SplitFacts(TypedDict):
    paths: list[str]
    n_rows: int
    n_nan_filled: int
    n_nonfinite_after_fill: int
    n_nonpositive: int


class DataFacts(TypedDict):
    source: str
    param: str
    input: str
    n_pixels: int
    wave_min: float
    wave_max: float
    splits: dict[str, SplitFacts]


class TopPixel(TypedDict):
    rank: int
    pixel: int
    wavelength: float
    importance: float


class ImportanceModel(TypedDict):
    kind: str
    top_k_share: float
    top_pixels: list[TopPixel]


class Importance(TypedDict):
    top_k: int
    primary: str
    reference_noise_level: float
    models: dict[str, ImportanceModel]


class Timings(TypedDict):
    total_seconds: float
    stages: dict[str, float]
    peak_rss_gib: NotRequired[dict[str, float]]


class Outputs(TypedDict):
    report: str
    metrics: str
    log: str
    figures: dict[str, str]
    importance: NotRequired[str]


class RunSummary(TypedDict):
    """What every finished run's summary holds (what list, show, status and publish read);
    each kind adds its ``metrics`` rows and its ``gate``."""

    schema_version: int
    kind: Literal["audit", "deleak"]
    daudit_version: str
    experiment_id: str
    status: str  # "finished" for every summary a run writes
    started_utc: str
    finished_utc: str
    date: str
    spec: dict[str, Any]
    data: DataFacts
    versions: dict[str, str]
    outputs: Outputs
    timings: Timings
    checksum: NotRequired[str]  # "sha256:<hex>" of every other key (`summary_checksum`); checked by every reader


class AuditSummary(RunSummary):
    """summary.json of ``python -m daudit run`` (see docs/internals.md for every section)."""

    noise_levels: list[float]
    alphas: list[float]
    metrics: list[MetricsRow]
    gate: Gate
    best: BestRecord
    best_ridge: BestRecord | None
    best_linear: BestRecord | None
    best_lightgbm: BestRecord | None
    selected_by_val: NotRequired[dict[str, BestRecord | None]]
    linear: dict[str, dict[str, Any]]  # per noise level: resolution threshold, rank, dof, checks
    linear_scale: NotRequired[dict[str, Any]]  # the input's scale, resolution, OLS sensitivity
    importance: Importance | None
    scheduler: dict[str, Any]
    lightgbm: NotRequired[dict[str, Any]]
    sanity: NotRequired[Sanity]  # `daudit.core.schema_sanity`: the checks ran, or why not
    memory: NotRequired[dict[str, Any]]  # limit_bytes, minimum_limit_bytes (None: width unknown), peak_bytes


class DeleakGate(TypedDict):
    name: str
    threshold: float
    verdict: Literal["PASS", "FAIL"]
    best_model: str
    best_test_r2: float
    recommended: str | None
    borderline: bool
    ci95: list[float | None] | None


class DeleakSummary(RunSummary):
    """summary.json of ``python -m daudit deleak`` (see docs/deleak.md)."""

    mvp: str
    deleak: dict[str, Any]
    strategies: list[dict[str, Any]]
    gate: DeleakGate
    best: dict[str, Any]
    diagnosis: dict[str, Any]
    quality_features: dict[str, Any]


_BY_KIND = {"audit": AuditSummary, "deleak": DeleakSummary}


class ChecksumError(SchemaError):
    """A well-formed summary whose ``checksum`` is missing or does not match its content (edited)."""


def summary_checksum(summary: dict) -> str:
    """``"sha256:<hex>"`` of the canonical JSON (sorted keys, no spaces) of every key but ``checksum``.

    ``summary`` is parsed JSON (plain types); floats keep their exact value through a JSON round trip.
    """
    body = {k: v for k, v in summary.items() if k != CHECKSUM_KEY}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return "sha256:" + hashlib.sha256(text.encode("ascii")).hexdigest()


def seal_summary(summary: dict) -> dict:
    """A plain-JSON copy of ``summary`` (NaN -> null) with its `summary_checksum` under ``checksum``."""
    plain = json.loads(json.dumps(to_jsonable(summary), allow_nan=False))
    plain.pop(CHECKSUM_KEY, None)
    plain[CHECKSUM_KEY] = summary_checksum(plain)
    return plain


def _check_checksum(summary: dict) -> None:
    written = summary.get(CHECKSUM_KEY)
    if written is None:
        raise ChecksumError(CHECKSUM_KEY, "missing, so whether the verdict and numbers are the run's cannot be "
                                          "checked (written by an older daudit, or edited)")
    try:
        expected = summary_checksum(summary)
    except ValueError:  # a NaN or infinity written by hand where the schema allows any value
        expected = None
    if written != expected:
        raise ChecksumError(CHECKSUM_KEY, "does not match the content: the file was edited after the run wrote "
                                          "it (e.g. gate.verdict)")


def _type_of(summary) -> type:
    if not isinstance(summary, dict):
        raise SchemaError("", f"expected a JSON object, got {describe(summary)}")
    version = summary.get("schema_version")
    if version != SCHEMA_VERSION:
        written = "an older daudit (no schema_version)" if version is None else f"schema version {version!r}"
        raise SchemaError("schema_version", f"written by {written}; this daudit reads version {SCHEMA_VERSION}")
    kind = summary.get("kind")
    if kind not in _BY_KIND:
        raise SchemaError("kind", f"expected one of {list(_BY_KIND)}, got {describe(kind)}")
    return _BY_KIND[kind]


MAX_SUMMARY_BYTES = 64 * 2**20  # a summary is a few hundred KB; a larger file is not one


_MAX_INT_DIGITS = 30  # no count, seed or size of a daudit summary comes near; 5000 digits would not even print


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise SchemaError("", f"an integer of {len(text.lstrip('-'))} digits, more than any daudit summary holds")
    return int(text)


def read_summary(path: str | Path) -> AuditSummary | DeleakSummary:
    """Read and check ``path`` (a summary.json); `SchemaError` or `OSError` when it is not one.

    Only a regular file of at most `MAX_SUMMARY_BYTES` is read: a FIFO would block, a device
    never end.
    """
    path = Path(path)
    kind = file_kind(path)
    if kind == "missing":
        raise FileNotFoundError(2, "No such file or directory", str(path))
    if kind != "regular file":
        raise SchemaError("", f"a {kind}, not a regular file")
    with open(path, "rb") as fh:
        raw = fh.read(MAX_SUMMARY_BYTES + 1)
    if len(raw) > MAX_SUMMARY_BYTES:
        raise SchemaError("", f"larger than {MAX_SUMMARY_BYTES // 2**20} MiB")
    try:
        data = json.loads(raw.decode("utf-8"), parse_int=_bounded_int)
    except UnicodeDecodeError as err:
        raise SchemaError("", "not UTF-8 text") from err
    except json.JSONDecodeError as err:
        raise SchemaError("", f"not valid JSON ({err.msg} at line {err.lineno})") from err
    except RecursionError as err:
        raise SchemaError("", "nested too deeply") from err
    validate(_type_of(data), data)
    _check_checksum(data)
    return data


def load_summary(path: str | Path) -> AuditSummary | DeleakSummary:
    """`read_summary`, with every failure as one `DauditError` line naming the file and the fix."""
    path = Path(path)
    try:
        return read_summary(path)
    except FileNotFoundError as err:
        raise DauditError(f"{path}: missing; pick a finished run from `python -m daudit list`") from err
    except OSError as err:
        raise DauditError(f"{path}: cannot be read ({err.strerror or err})") from err
    except ChecksumError as err:
        raise DauditError(f"{path}: not a daudit summary as the run wrote it ({err}); its verdict cannot be "
                          "trusted: rerun the audit to rewrite it") from err
    except SchemaError as err:
        raise DauditError(f"{path}: not a readable daudit summary ({err}); the file is damaged or from "
                          "another daudit version: rerun the audit to rewrite it") from err


def write_summary(path: str | Path, summary: dict) -> Path:
    """Check ``summary`` against its type, seal it (`seal_summary`), then write it atomically
    (a mismatch is a bug)."""
    try:
        plain = seal_summary(summary)  # as it will read back: NaN and inf become null
        validate(_type_of(plain), plain)
    except SchemaError as err:
        raise RuntimeError(f"summary does not match schema version {SCHEMA_VERSION}: {err}") from err
    return write_json(path, plain)


def quick_run(summary: dict) -> bool:
    """Whether ``summary`` is of a ``run --quick`` (``spec.sanity.quick_run``: lighter nulls and
    intervals, a first look); readers mark it (list, show, status, the report) and publish refuses it."""
    spec = summary.get("spec") if isinstance(summary, dict) else None
    sanity = spec.get("sanity") if isinstance(spec, dict) else None
    return isinstance(sanity, dict) and sanity.get("quick_run") is True
