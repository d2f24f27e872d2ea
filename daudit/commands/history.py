"""``python -m daudit list [RESULTS_DIR]``: past runs as an aligned table, newest first."""

from __future__ import annotations

__all__ = ["configure_parser", "main"]


def configure_parser(parser) -> None:
    """Add the ``list`` arguments to `parser`."""
    parser.add_argument("results_dir", metavar="RESULTS_DIR", nargs="?", default="results",
                        help="folder holding one subfolder per run (default: results/)")


def main(args) -> int:
    """Print the run table; say so when there is no run."""
    from daudit.history import find_runs, format_run_table

    records = find_runs(args.results_dir)
    if not records:
        print(f"no runs under {args.results_dir}")
        return 0
    print(format_run_table(records))
    return 0
