"""`python -m daudit inspect PATH...`: print the layout of pfsspec HDF5 files."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["configure_parser", "main"]


def configure_parser(p: argparse.ArgumentParser) -> None:
    """Add the inspect options to ``p``."""
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="pfsspec HDF5 files")
    p.add_argument("--max-rows", type=int, default=None, metavar="N",
                   help="scan only the first N spectra for counts and S/N (default: all)")


def main(args: argparse.Namespace) -> int:
    """Print one block per file; a bad path raises DauditError (exit 2)."""
    from daudit.data.inspect import format_inspection, inspect_file  # lazy: h5py/pandas only when inspecting

    for i, path in enumerate(args.paths):
        if i:
            print()
        print(format_inspection(inspect_file(path, max_rows=args.max_rows)), flush=True)
    return 0
