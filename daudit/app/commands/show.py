"""``python -m daudit show RUN``: the summary of one run (a folder or an experiment id)."""

from __future__ import annotations

import json

__all__ = ["configure_parser", "main"]


def configure_parser(parser) -> None:
    """Add the ``show`` arguments to `parser`."""
    parser.add_argument("run", metavar="RUN",
                        help="a run's output folder, or an experiment id found under "
                             "--results-dir (the newest finished run of that id)")
    parser.add_argument("--results-dir", metavar="DIR", default="results",
                        help="where to look an experiment id up (default: results/)")
    parser.add_argument("--json", action="store_true", help="print summary.json as it is")


def main(args) -> int:
    """Resolve the run and print its summary."""
    from daudit.app.history import format_summary, load_summary, resolve_run  # lazy: keeps --help fast

    run_dir = resolve_run(args.run, results_dir=args.results_dir)
    summary = load_summary(run_dir)
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        print(format_summary(summary, run_dir=run_dir))
    return 0
