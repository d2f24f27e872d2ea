"""``python -m daudit compare A B``: two finished audits side by side (`daudit.app.compare`)."""

from __future__ import annotations

__all__ = ["configure_parser", "main"]


def configure_parser(parser) -> None:
    """Add the ``compare`` arguments to `parser`."""
    for name in ("a", "b"):
        parser.add_argument(name, metavar=name.upper(),
                            help="a finished run's output folder, or an experiment id found under --results-dir "
                                 "(the newest finished run of that id)")
    parser.add_argument("--results-dir", metavar="DIR", default="results",
                        help="where to look an experiment id up (default: results/)")


def main(args) -> int:
    """Resolve both runs (one line if either is missing, unfinished or not sealed), print them side by side."""
    # lazy: keeps --help fast
    from daudit.app.compare import format_comparison
    from daudit.app.history import load_summary, resolve_run

    dirs = [resolve_run(ref, results_dir=args.results_dir) for ref in (args.a, args.b)]
    a, b = (load_summary(d) for d in dirs)
    print(format_comparison(a, b, dir_a=dirs[0], dir_b=dirs[1]))
    return 0
