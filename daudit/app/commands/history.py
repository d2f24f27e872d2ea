"""``python -m daudit list [RESULTS_DIR]``: past runs as an aligned table, newest first.

``--json`` prints one JSON document instead: ``{"results_dir": str, "runs": [...]}``, each run
with `RUN_KEYS`, newest first.
"""

from __future__ import annotations

import json
import sys

from daudit.core.errors import EXIT_BAD_INPUT

__all__ = ["configure_parser", "main", "RUN_KEYS", "run_document"]

# keys of each run in `list --json` (RunRecord's fields; status: finished, incomplete, unreadable)
RUN_KEYS = ("experiment_id", "status", "verdict", "quick", "best_test_r2", "date", "source", "n_train",
            "total_seconds", "path", "problem")


def configure_parser(parser) -> None:
    """Add the ``list`` arguments to `parser`."""
    parser.add_argument("results_dir", metavar="RESULTS_DIR", nargs="?", default="results",
                        help="folder holding one subfolder per run (default: results/)")
    parser.add_argument("--json", action="store_true",
                        help='one JSON object on stdout: {"results_dir", "runs": [...]}, newest first, each run '
                             "with " + ", ".join(RUN_KEYS) + " (status: finished, incomplete or unreadable)")


def run_document(rec) -> dict:
    """One `daudit.app.history.RunRecord` as the JSON object of `list --json` (`RUN_KEYS`)."""
    doc = {k: getattr(rec, k) for k in RUN_KEYS}
    doc["path"] = str(rec.path)
    return doc


def main(args) -> int:
    """Print the run table; one line per unreadable summary.json on stderr, then exit 2."""
    from daudit.app.history import find_runs, format_run_table  # lazy: keeps --help fast (no numpy)

    records = find_runs(args.results_dir)
    if args.json:
        print(json.dumps({"results_dir": str(args.results_dir), "runs": [run_document(r) for r in records]},
                         indent=2, ensure_ascii=False))
    elif not records:
        print(f"no runs under {args.results_dir}")
        return 0
    else:
        print(format_run_table(records))
    bad = [r for r in records if r.status == "unreadable"]
    for r in bad:
        print(f"daudit: error: {r.path / 'summary.json'}: not a readable daudit summary ({r.problem}); "
              "rerun that audit to rewrite it", file=sys.stderr)
    return EXIT_BAD_INPUT if bad else 0
