"""Reading a YAML spec safely: regular files only, a size limit, an alias limit, no duplicate keys.

`read_yaml` uses YAML's safe loader (no Python objects are ever built) and adds what it lacks:
a spec larger than `MAX_SPEC_BYTES` is refused unread; a document whose aliases expand to more
than `MAX_NODES` nodes (an "alias bomb", a few lines that expand to gigabytes when walked) or
that refers to itself is refused before anything is built from it; a key given twice in one
mapping is refused instead of the last one silently winning. Floats are read as YAML 1.2 writes
them, so ``1e-3`` is the number 0.001 rather than the text ``"1e-3"``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from daudit.core.errors import DauditError
from daudit.core.files import file_kind

__all__ = ["read_yaml", "parse_yaml", "MAX_SPEC_BYTES", "MAX_NODES"]

MAX_SPEC_BYTES = 1 << 20  # 1 MiB: a spec is a page of text; a longer one is not a spec
MAX_NODES = 100_000  # nodes of the document with every alias expanded (a spec has a few hundred)

_FLOAT_1_2 = re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")


class _SpecError(yaml.YAMLError):
    """A problem found while loading, already worded as one line."""


class _Loader(yaml.SafeLoader):
    """The safe loader with the checks of this module."""

    def compose_document(self):
        node = super().compose_document()
        _check_expansion(node)
        return node

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            _check_duplicates(self, node)
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_1_2, list("-+0123456789"))


def _children(node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_expansion(root, limit: int = MAX_NODES) -> int:
    """Nodes of ``root`` with every alias expanded; `_SpecError` above ``limit`` or on a cycle."""
    if root is None:
        return 0
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(k)] for k in _children(node))
            if size[key] > limit:
                raise _SpecError(f"its aliases expand to more than {limit:,} values (an alias bomb?); "
                                 "write the values out instead of repeating anchors")
            continue
        if key in size:
            continue
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                raise _SpecError(f"an alias refers to the node that contains it (line {child.start_mark.line + 1}); "
                                 "a spec cannot be recursive")
            if id(child) not in size:
                stack.append((child, False))
    return size[id(root)]


def _check_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode) -> None:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *base` merges; keys written out beside it override, as YAML intends
        try:
            key = loader.construct_object(key_node, deep=True)
            hash(key)
        except (TypeError, yaml.YAMLError):
            continue  # an unhashable key: the safe constructor itself refuses it
        line = key_node.start_mark.line + 1
        if key in seen:
            raise _SpecError(f"key {key!r} is given twice (lines {seen[key]} and {line}); keep one")
        seen[key] = line


def _where(err: yaml.YAMLError) -> str:
    """`` at line L, column C (what is wrong)`` of a YAML error (1-based, where the parser stopped)."""
    text = str(err).strip()
    first = text.splitlines()[0] if text else type(err).__name__
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    if mark is None:
        return f" ({first})"
    what = getattr(err, "problem", None) or first
    context = getattr(err, "context", None)
    return f" at line {mark.line + 1}, column {mark.column + 1} ({what}{f', {context}' if context else ''})"


def parse_yaml(text: str, *, src: str) -> Any:
    """Load one YAML document from ``text`` with the checks of this module.

    Raises `DauditError` ``spec SRC: ...`` (one line) for invalid YAML, duplicate keys, alias
    bombs, recursive aliases and documents nested too deeply.
    """
    loader = None
    try:
        loader = _Loader(text)  # its reader already refuses control characters
        return loader.get_single_data()
    except _SpecError as err:
        raise DauditError(f"spec {src}: {err}") from err
    except RecursionError as err:
        raise DauditError(f"spec {src}: not valid YAML (nested too deeply)") from err
    except yaml.YAMLError as err:
        raise DauditError(f"spec {src}: not valid YAML{_where(err)}") from err
    finally:
        if loader is not None:
            loader.dispose()


def read_yaml(path: str | Path) -> Any:
    """Read the spec at ``path``: a regular UTF-8 file of at most `MAX_SPEC_BYTES`, see `parse_yaml`.

    Raises `DauditError` (one line) when the file is missing, not a regular file (a FIFO or a
    device would block or never end), too large, not UTF-8 or not a valid spec document.
    """
    path = Path(path)
    kind = file_kind(path)
    if kind == "missing":
        raise DauditError(f"spec file not found: {path} (give --config PATH to a YAML spec)")
    if kind != "regular file":
        raise DauditError(f"spec {path} is a {kind}, not a regular file; give --config PATH to a YAML spec")
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SPEC_BYTES + 1)
    except OSError as err:
        raise DauditError(f"spec {path}: cannot be read ({err.strerror or err})") from err
    if len(data) > MAX_SPEC_BYTES:
        raise DauditError(f"spec {path}: larger than {MAX_SPEC_BYTES // 1024} KiB; a spec is a short YAML file "
                          "(is this the right file?)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DauditError(f"spec {path}: not valid YAML (not UTF-8 text: {err.reason} at byte {err.start})") from err
    return parse_yaml(text, src=str(path))
