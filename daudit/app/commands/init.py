"""`python -m daudit init [FILE]`: write a spec to edit (the user's LOGG-ERR-BASE-01 block) into the working folder."""

from __future__ import annotations

from pathlib import Path

from daudit.core.errors import DauditError
from daudit.core.paths import builtin_spec, demo_dir, file_in_the_way

__all__ = ["EXAMPLES", "configure_parser", "main", "next_step", "template_text"]

# name -> (shipped file, what it is)
EXAMPLES = {
    "audit": ("LOGG-ERR-BASE-01.seed.yaml", "the user's LOGG-ERR-BASE-01 spec, to point at your pfsspec files"),
    "demo": ("logg_err_base_01.yaml", "LOGG-ERR-BASE-01 on the built-in demo data, with daudit's own sections"),
    "deleak": ("logg_err_repr_01.yaml", "LOGG-ERR-REPR-01 (MVP-0.2): de-leaked representations on the demo data"),
}

_HEADER = """\
# Written by `python -m daudit init` from daudit's {name!r} example: {what}.
# Edit data.train_path / val_path / test_path (a file, a list of shard files or a glob; relative
# paths are taken from this file's folder), then run:
#   {next_step}
"""

_OPTIONAL = """
# daudit's own optional sections (uncomment to change the defaults):
# output_dir: results/LOGG-ERR-BASE-01   # default: results/<experiment_id> in the working folder
# compute:
#   memory_limit: 4GB        # the whole process tree
#   chunk_rows: 2048         # rows per Dask chunk
#   scheduler: local         # local | threads | synchronous | tcp://host:8786
# sanity:
#   enabled: true            # shuffles, mask-only, aggregates, permutation nulls, bootstrap
"""


def next_step(name: str, file: str) -> str:
    """The command line that runs the spec ``init --example name`` wrote to ``file`` (``daudit ...``
    when run as the console script, ``python -m daudit ...`` otherwise)."""
    # lazy: the CLI module imports this one's parser
    import shlex
    from daudit.app.cli import prog_name

    command = "deleak" if name == "deleak" else "run"  # a deleak spec is refused by run (its deleak: section)
    return f"{prog_name()} {command} --config {shlex.quote(file)}"


def configure_parser(p):
    p.add_argument("file", metavar="FILE", nargs="?", default="LOGG-ERR-BASE-01.yaml",
                   help="where to write the spec (default: LOGG-ERR-BASE-01.yaml in the working folder)")
    p.add_argument("--example", choices=sorted(EXAMPLES), default="audit",
                   help="which shipped spec to start from (default: audit, the user's spec block)")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")


def template_text(name: str, file: str) -> str:
    """The text `init` writes: a header saying what to edit, the shipped spec, the optional sections."""
    shipped, what = EXAMPLES[name]
    body = builtin_spec(shipped).read_text(encoding="utf-8")
    # the demo specs name the demo data relative to pipelines/ of a checkout: name it where it is
    body = body.replace('"../data_cache/demo/', f'"{demo_dir().as_posix()}/')
    return _HEADER.format(name=name, what=what, next_step=next_step(name, file) + (
        "" if name == "deleak" else "   # or add --detach to run in the background")) + body.rstrip("\n") + "\n" + (
        _OPTIONAL if name == "audit" else "")


def main(args) -> int:
    """Write the spec; refuse (exit 2) to overwrite an existing file without ``--force``."""
    from daudit.core.artifacts import atomic_write_text  # lazy: numpy comes with it; keeps --help fast

    path = Path(args.file)
    blocker = file_in_the_way(path)
    if blocker is not None:
        raise DauditError(f"{path} cannot be written: {blocker} is a file, not a folder; choose another FILE")
    if path.exists() and not args.force:
        raise DauditError(f"{path} exists; choose another FILE or pass --force to overwrite it")
    if path.is_dir():
        raise DauditError(f"{path} is a directory; give a file name such as {path / 'my_spec.yaml'}")
    atomic_write_text(path, template_text(args.example, str(path)))
    print(f"wrote {path}: {EXAMPLES[args.example][1]}")
    print(f"next: edit its data paths, then {next_step(args.example, str(path))}")
    return 0
