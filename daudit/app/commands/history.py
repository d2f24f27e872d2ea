"""``python -m daudit list [RESULTS_DIR]``: past runs as an aligned table, newest first."""

from __future__ import annotations

import sys

from daudit.core.errors import EXIT_BAD_INPUT

__all__ = ["configure_parser", "main"]


def configure_parser(parser) -> None:
    """Add the ``list`` arguments to `parser`."""
    parser.add_argument("results_dir", metavar="RESULTS_DIR", nargs="?", default="results",
                        help="folder holding one subfolder per run (default: results/)")


def main(args) -> int:
    """Print the run table; one line per unreadable summary.json on stderr, then exit 2."""
    from daudit.app.history import find_runs, format_run_table  # lazy: keeps --help fast (no numpy)

    records = find_runs(args.results_dir)
    if not records:
        print(f"no runs under {args.results_dir}")
        return 0
    print(format_run_table(records))
    bad = [r for r in records if r.status == "unreadable"]
    for r in bad:
        print(f"daudit: error: {r.path / 'summary.json'}: not a readable daudit summary ({r.problem}); "
              "rerun that audit to rewrite it", file=sys.stderr)
    return EXIT_BAD_INPUT if bad else 0
