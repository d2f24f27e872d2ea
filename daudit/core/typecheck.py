"""Check a parsed JSON value against a typing annotation (TypedDict, list, dict, Literal, unions,
scalars); the checker behind `daudit.core.schema`'s summary types. Pure: no I/O."""

# No `from __future__ import annotations` here: the annotations checked are evaluated objects.
import json
import math
import types
import typing
from typing import Any, Literal, NotRequired

__all__ = ["SchemaError", "validate", "describe", "optional"]


class SchemaError(ValueError):
    """A value that does not match the schema; ``where`` is its key path (e.g. ``gate.verdict``)."""

    def __init__(self, where: str, problem: str, *, literal: bool = False):
        super().__init__(f"{where}: {problem}" if where else problem)
        self.where, self.problem = where, problem
        self.literal = literal  # a Literal tag that does not match: the value is another alternative


def describe(value) -> str:
    """A short description of ``value`` for an error line: its type and the first 40 characters."""
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return f"{type(value).__name__} {text[:40]}"


def optional(record, key: str):
    """``record[key]`` for a ``NotRequired`` key of a validated TypedDict record, None when absent
    (the one accessor for a key that a record may lack; every required key is subscripted)."""
    return record[key] if key in record else None


def _check_scalar(tp, value, where: str):
    if tp is Any:
        return
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    elif tp is str:
        ok = isinstance(value, str)
    else:
        raise TypeError(f"schema type {tp!r} is not supported")
    if not ok:
        raise SchemaError(where, f"expected {tp.__name__}, got {describe(value)}")


def validate(tp, value, where: str = "") -> None:
    """Check ``value`` (parsed JSON) against the annotation ``tp``; raise `SchemaError` if not."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for alt in typing.get_args(tp):
            try:
                return validate(alt, value, where)
            except SchemaError as err:
                errors.append((_overlap(alt, value), err))
        most = max(n for n, _ in errors)
        raise _best_of([e for n, e in errors if n == most], where)
    if tp is type(None):
        if value is not None:
            raise SchemaError(where, f"expected null, got {describe(value)}")
        return
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise SchemaError(where, f"expected one of {list(typing.get_args(tp))}, got {describe(value)}",
                              literal=True)
        return
    if origin is list:
        if not isinstance(value, list):
            raise SchemaError(where, f"expected a list, got {describe(value)}")
        (item,) = typing.get_args(tp)
        for i, v in enumerate(value):
            validate(item, v, f"{where}[{i}]")
        return
    if origin is dict:
        if not isinstance(value, dict):
            raise SchemaError(where, f"expected a mapping, got {describe(value)}")
        _, item = typing.get_args(tp)
        for k, v in value.items():
            validate(item, v, f"{where}.{k}" if where else str(k))
        return
    if typing.is_typeddict(tp):
        return _validate_typeddict(tp, value, where)
    _check_scalar(tp, value, where)


def _overlap(tp, value) -> int:
    """How many keys of ``value`` the record type ``tp`` names (0 for a type that is no TypedDict)."""
    if not (typing.is_typeddict(tp) and isinstance(value, dict)):
        return 0
    return len(set(typing.get_type_hints(tp)) & set(value))


def _depth(where: str) -> int:
    return where.count(".") + where.count("[")


def _best_of(errors: list[SchemaError], where: str) -> SchemaError:
    """One error for a value that matches no alternative of a union (``errors``: those of the record
    types naming most of its keys): leaving out alternatives whose Literal tag does not match (e.g.
    ``effect``), the one that matched deepest (its error lies below
    ``where``: a record of the right kind with one bad key), else every alternative's problem, each
    with its key path below ``where``."""
    tagged = [e for e in errors if not e.literal] if len(errors) > 1 else errors
    errors = tagged or errors
    if len(errors) == 1 and errors[0].where != where:
        return errors[0]
    deepest = max(_depth(e.where) for e in errors)
    best = [e for e in errors if _depth(e.where) == deepest]
    if len(best) == 1 and deepest > _depth(where):
        return best[0]
    parts = [f"{e.where[len(where):].lstrip('.')}: {e.problem}" if e.where != where else e.problem for e in errors]
    return SchemaError(where, " or ".join(parts))


def _validate_typeddict(tp, value, where: str) -> None:
    if not isinstance(value, dict):
        raise SchemaError(where, f"expected a mapping, got {describe(value)}")
    hints = typing.get_type_hints(tp)
    for key in sorted(tp.__required_keys__):
        if key not in value:
            raise SchemaError(f"{where}.{key}" if where else key, "missing")
    for key, hint in hints.items():
        if key in value:
            if typing.get_origin(hint) is NotRequired:
                (hint,) = typing.get_args(hint)
            validate(hint, value[key], f"{where}.{key}" if where else key)
