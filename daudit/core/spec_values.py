"""The spec's value parsers: numbers, paths, sizes, flags, scheduler and dashboard addresses.

Each takes a raw YAML value, the key it was found under and the spec's name (``src``; empty for a
command-line option), and returns the checked value or raises one `DauditError` line naming the
key and what is allowed. `daudit.core.spec` builds the `AuditSpec` from them and re-exports
`parse_bytes` and `parse_scheduler` (the command line uses them for its options).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from daudit.core.addresses import LOCAL_SCHEDULERS, parse_dashboard_address, parse_scheduler_address
from daudit.core.errors import DauditError

__all__ = ["parse_bytes", "parse_scheduler", "MIN_MEMORY", "MAX_MEMORY",
           # the spec's own helpers (daudit.core.spec)
           "spec_error", "check_keys", "parse_number", "parse_paths", "parse_bool", "parse_dashboard", "parse_optional_text"]

# Bounds of a memory size (`parse_bytes`); the spec's other bounds are in `daudit.core.spec`.
MIN_MEMORY = 256 * 2**20
MAX_MEMORY = 2**60


def spec_error(where: str, msg: str):
    raise DauditError(f"spec {where}: {msg}" if where else msg)


def check_keys(mapping, allowed, where, src):
    if not isinstance(mapping, dict):
        spec_error(src, f"'{where}' must be a mapping, got {type(mapping).__name__}")
    for key in mapping:
        if key not in allowed:
            name = f"{where}.{key}" if where else str(key)
            spec_error(src, f"unknown key '{name}'; allowed: {', '.join(allowed)}")


def parse_number(value, where, src, *, kind=float, lo=None, lo_open=False, hi=None, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
        spec_error(src, f"'{where}' is too large, got an integer of {value.bit_length()} bits")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
        kind is int and not float(value).is_integer()
    ):
        spec_error(src, f"'{where}' must be {'an integer' if kind is int else 'a number'}, got {value!r}")
    value = kind(value)
    if value != value or value in (float("inf"), float("-inf")):
        spec_error(src, f"'{where}' must be finite, got {value!r}")
    if lo is not None and (value <= lo if lo_open else value < lo):
        spec_error(src, f"'{where}' must be {'>' if lo_open else '>='} {lo}, got {value!r}")
    if hi is not None and value > hi:
        spec_error(src, f"'{where}' must be <= {hi:,}, got {value!r}")
    return value


def parse_paths(value, where, src, base: Path | None):
    if isinstance(value, (str, Path)):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, (str, Path)) and str(v) for v in value):
        spec_error(src, f"'{where}' must be a path, a glob or a list of paths, got {value!r}")
    out = []
    for v in value:
        if "\0" in str(v):
            spec_error(src, f"'{where}' holds a NUL character, which no path can contain")
        p = Path(str(v)).expanduser()
        if not p.is_absolute() and base is not None:
            p = base / p
        out.append(os.path.normpath(str(p)))
    return tuple(out)


_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}


def parse_bytes(value, where="compute.memory_limit", src="") -> int:
    """'4GB', '512MB', '1.5GiB' or a whole number of bytes -> int bytes, within
    [`MIN_MEMORY`, `MAX_MEMORY`].

    A bare number is bytes, so ``0.5`` or ``.inf`` are refused (one line) rather than read as 0
    bytes or overflowing; ``src`` names the spec in the message (empty: a command-line option).
    """
    if isinstance(value, bool):
        spec_error(src, f"'{where}' must be a size like 4GB or 512MB, got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            spec_error(src, f"'{where}' must be a finite size like 4GB, got {value!r}")
        if not float(value).is_integer() or value < MIN_MEMORY:
            spec_error(src, f"'{where}' is {value!r}, read as {value!r} bytes (below the minimum of 256MB); "
                       "give a size with a unit, e.g. 4GB")
        out = int(value)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgGtTpP]i?[bB]?|[bB]?)\s*", str(value))
        if not m:
            spec_error(src, f"'{where}' must be a size like 4GB or 512MB, got {value!r}")
        out = int(float(m.group(1)) * _UNITS[m.group(2).upper().rstrip("B").rstrip("I")])
        if out < MIN_MEMORY:
            spec_error(src, f"'{where}' must be at least 256MB, got {value!r}")
    if out > MAX_MEMORY:
        spec_error(src, f"'{where}' must be at most 1 EiB, got {value!r}")
    return out


def parse_bool(v, where, src):
    if not isinstance(v, bool):
        spec_error(src, f"'{where}' must be true or false, got {v!r}")
    return v


def parse_scheduler(v, w="--scheduler", src="") -> str:
    """``local``, ``threads``, ``synchronous`` or a scheduler address normalised to
    ``PROTOCOL://HOST:PORT``; one `DauditError` line otherwise (``src``: the spec, or empty for an option)."""
    if isinstance(v, str) and v.strip() in LOCAL_SCHEDULERS:
        return v.strip()
    try:
        return parse_scheduler_address(v)
    except ValueError as err:
        spec_error(src, f"'{w}' must be local, threads, synchronous or a scheduler address: {err}")


def parse_dashboard(v, w, src):
    try:
        host, port = parse_dashboard_address(v)
    except ValueError as err:
        spec_error(src, f"'{w}': {err}")
    return f"{host}:{port}"


def parse_optional_text(value, where, src):
    if value is None or isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return None if value is None else str(value)
    spec_error(src, f"'{where}' must be text, got {type(value).__name__}")
