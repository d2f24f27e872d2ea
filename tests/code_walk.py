"""How far a reader walks: a static, depth-first walk of the calls from one entry function.

Start at an entry function (``"daudit.checks.run_sanity_checks"``), read its body in source
order, and follow every call (and every function handed to another as an argument, such as a
chunk function given to a fold) that resolves to a function or method defined in the daudit
package; each function is visited once. Names resolve by the module's own imports
(``from x import f``, ``import x as m; m.f``, ``from pkg import mod; mod.f``) and re-exports,
same-module calls, ``self.m()`` / ``cls.m()`` inside a class, and a class called as a
constructor (its ``__init__`` / ``__post_init__`` when the package defines one). Calls on other
objects (``obj.method()``) are not resolved: that would need types.

The reader's file changes when a callee lives in another file and again when the callee
returns. ``files``: distinct daudit files visited; ``returns``: the times the reader's current
file changes to a file it had already been in. Only the standard library is used.

    python tests/code_walk.py daudit.checks.run_sanity_checks [--state] [-v]

With ``--state`` the walk follows only the calls that hand on the entry's arguments (or a part
of them, ``ctx.splits["train"]``): the reader following the audit's state through the checks,
as issue 26 measured it ("following ctx"), without descending into the plain-array functions.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PKG = "daudit"


@dataclass
class Module:
    name: str
    path: Path  # relative to the root of the walk
    tree: ast.Module
    defs: dict = field(default_factory=dict)  # qualname -> FunctionDef (and "Class" -> ClassDef)
    aliases: dict = field(default_factory=dict)  # local name -> ("module", mod) or ("name", mod, attr)


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def load(root: Path = REPO) -> dict[str, Module]:
    """Every module of the package under ``root``, with its top-level defs and import aliases."""
    mods = {}
    for path in sorted((root / PKG).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        mods[_module_name(path, root)] = Module(_module_name(path, root), path.relative_to(root), tree)
    for m in mods.values():
        for node in m.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                m.defs[node.name] = node
            elif isinstance(node, ast.ClassDef):
                m.defs[node.name] = node
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        m.defs[f"{node.name}.{item.name}"] = item
        for node in ast.walk(m.tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == PKG:
                        if a.asname:
                            m.aliases[a.asname] = ("module", a.name)
                        else:
                            m.aliases.setdefault(a.name.split(".")[0], ("module", a.name.split(".")[0]))
                            m.aliases.setdefault(a.name, ("module", a.name))
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                    and node.module.split(".")[0] == PKG:
                for a in node.names:
                    sub = f"{node.module}.{a.name}"
                    m.aliases[a.asname or a.name] = ("module", sub) if sub in mods else ("name", node.module, a.name)
    return mods


def _resolve_name(mods, mod: str, name: str, seen=None):
    """(module, qualname) of ``name`` as seen from module ``mod`` (following re-exports), or None."""
    seen = seen or set()
    if (mod, name) in seen or mod not in mods:
        return None
    seen.add((mod, name))
    m = mods[mod]
    if name in m.defs:
        return mod, name
    alias = m.aliases.get(name)
    if alias and alias[0] == "name":
        return _resolve_name(mods, alias[1], alias[2], seen)
    return None


def _dotted(node) -> list[str] | None:
    out = []
    while isinstance(node, ast.Attribute):
        out.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id] + out[::-1]
    return None


def _target(mods, mod: str, cls: str | None, expr):
    """The function (module, qualname) an expression names, or None."""
    parts = _dotted(expr)
    if not parts:
        return None
    head, rest = parts[0], parts[1:]
    if head in ("self", "cls") and cls and len(rest) == 1:
        return (mod, f"{cls}.{rest[0]}") if f"{cls}.{rest[0]}" in mods[mod].defs else None
    if not rest:
        return _resolve_name(mods, mod, head)
    alias = mods[mod].aliases.get(head)
    if alias is not None and alias[0] == "module":  # m.f, or pkg.sub.f through `import pkg.sub`
        target, rest = alias[1], list(rest)
        while rest and f"{target}.{rest[0]}" in mods:
            target = f"{target}.{rest.pop(0)}"
        if len(rest) == 1:
            return _resolve_name(mods, target, rest[0])
        if len(rest) == 2:  # m.Class.method
            hit = _resolve_name(mods, target, rest[0])
            if hit and f"{hit[1]}.{rest[1]}" in mods[hit[0]].defs:
                return hit[0], f"{hit[1]}.{rest[1]}"
        return None
    hit = _resolve_name(mods, mod, head)  # Class.method
    if hit and len(rest) == 1 and f"{hit[1]}.{rest[0]}" in mods[hit[0]].defs:
        return hit[0], f"{hit[1]}.{rest[0]}"
    return None


def _as_function(mods, hit):
    """A resolved name as the function(s) a reader then reads: a class means its constructor."""
    if hit is None:
        return []
    mod, qual = hit
    node = mods[mod].defs[qual]
    if isinstance(node, ast.ClassDef):
        return [(mod, f"{qual}.{m}") for m in ("__init__", "__post_init__") if f"{qual}.{m}" in mods[mod].defs]
    return [hit]


def _rooted(expr, tracked: set) -> bool:
    """Whether ``expr`` is a tracked name or a part of one (``a.b``, ``a["k"]``, ``a.b[0].c``)."""
    while isinstance(expr, (ast.Attribute, ast.Subscript)):
        expr = expr.value
    return isinstance(expr, ast.Name) and expr.id in tracked


def _params(node) -> list[str]:
    a = node.args
    return [p.arg for p in a.posonlyargs + a.args]


def _bound(mods, fn, call, tracked: set, skip_first: bool) -> set:
    """The parameters of ``fn`` that receive a tracked value at ``call``."""
    node = mods[fn[0]].defs[fn[1]]
    params = _params(node)[1 if skip_first else 0:]
    out = {params[i] for i, arg in enumerate(call.args)
           if i < len(params) and not isinstance(arg, ast.Starred) and _rooted(arg, tracked)}
    return out | {k.arg for k in call.keywords if k.arg and _rooted(k.value, tracked)}


def _callees(mods, mod: str, qual: str, tracked: set | None = None) -> list[tuple[tuple[str, str], set | None]]:
    """Functions a function calls or hands on, in source order (nested defs read as its body),
    each with the parameters it receives the state in (``tracked`` mode: only calls that receive
    a tracked name, or a part of one; a name assigned from a tracked value is tracked too)."""
    node = mods[mod].defs[qual]
    cls = qual.split(".")[0] if "." in qual else None
    found = []
    tracked = None if tracked is None else set(tracked)

    class Visitor(ast.NodeVisitor):
        def visit_Call(self, call):
            for fn in _as_function(mods, _target(mods, mod, cls, call.func)):
                if tracked is None:
                    found.append((fn, None))
                    continue
                method = "." in fn[1] and (not isinstance(call.func, ast.Name) or fn[1].endswith("init__"))
                bound = _bound(mods, fn, call, tracked, skip_first=method)
                if bound:
                    found.append((fn, bound))
            for arg in list(call.args) + [k.value for k in call.keywords]:
                if tracked is None and isinstance(arg, (ast.Name, ast.Attribute)):
                    hit = _target(mods, mod, cls, arg)
                    if hit and isinstance(mods[hit[0]].defs[hit[1]], (ast.FunctionDef, ast.AsyncFunctionDef)):
                        found.append((hit, None))
            self.generic_visit(call)

        def visit_Assign(self, stmt):
            self.generic_visit(stmt)
            if tracked is None:
                return
            for tgt in stmt.targets:
                pairs = ([(tgt, stmt.value)] if not isinstance(tgt, ast.Tuple) else
                         list(zip(tgt.elts, stmt.value.elts)) if isinstance(stmt.value, ast.Tuple) else [])
                for t, v in pairs:
                    if isinstance(t, ast.Name) and _rooted(v, tracked):
                        tracked.add(t.id)

    for stmt in node.body:
        Visitor().visit(stmt)
    return found


def walk(entry: str, mods: dict[str, Module] | None = None, *, state: bool = False) -> dict:
    """Walk from ``entry`` (``"pkg.module.function"``); returns {"files", "returns", "functions", "path"}.

    path: the sequence of files the reader is in (relative paths), one entry per change of file.
    state: follow only the calls that receive the entry's arguments or a part of them (the
    audit's state, as a reader following ``ctx`` does), not every call.
    """
    mods = mods or load()
    mod, _, qual = entry.rpartition(".")
    start = _resolve_name(mods, mod, qual)
    if start is None:
        raise ValueError(f"no function {entry}")
    seen, path = set(), []

    def goto(m):
        f = str(mods[m].path)
        if not path or path[-1] != f:
            path.append(f)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(fn, tracked):
        seen.add(fn)
        goto(fn[0])
        for callee, bound in _callees(mods, *fn, tracked):
            if callee not in seen:
                visit(callee, bound)
                goto(fn[0])

    visit(start, set(_params(mods[start[0]].defs[start[1]])) if state else None)
    been, returns = set(), 0
    for f in path:
        returns += f in been
        been.add(f)
    return {"files": len(been), "returns": returns, "functions": len(seen), "path": path}


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    res = walk(args[0] if args else "daudit.checks.run_sanity_checks", state="--state" in sys.argv)
    print(f"files {res['files']}, returns {res['returns']}, functions {res['functions']}")
    if "-v" in sys.argv:
        print("\n".join(res["path"]))
