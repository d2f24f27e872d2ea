"""`python -m daudit status RUN`: running (stage, progress) / finished (verdict) / failed (error) / killed.

Exit code: 0 running or finished, 1 failed, interrupted or killed, 2 no such run (or a damaged
record: one line). ``--json`` prints one JSON document with `JSON_KEYS` instead of the text.
"""

import json

from daudit.core.errors import EXIT_BAD_INPUT

__all__ = ["configure_parser", "main", "exit_code", "JSON_KEYS", "EXIT_HELP"]

_EXIT = {"running": 0, "finished": 0}  # any other state (failed, interrupted, killed): 1
EXIT_HELP = (f"exit code: 0 running or finished, 1 failed, interrupted or killed, {EXIT_BAD_INPUT} no such run")
JSON_KEYS = ("experiment_id", "state", "detail", "output_dir", "log", "pid", "quick", "exit_code")


def exit_code(state: str) -> int:
    """The exit code of ``status`` for a run in ``state`` (`EXIT_HELP`)."""
    return _EXIT.get(state, 1)


def configure_parser(p):
    p.add_argument("run", metavar="RUN",
                   help="experiment id or output folder of a run, in the foreground or started with --detach")
    p.add_argument("--logs-dir", metavar="DIR", default="logs",
                   help="where --detach wrote its files (default: logs)")
    p.add_argument("--results-dir", metavar="DIR", default="results",
                   help="where to look for an experiment id's default output folder (default: results)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object on stdout with the keys " + ", ".join(JSON_KEYS)
                        + " (state: running, finished, failed, interrupted or killed; quick: a run --quick)")
    p.epilog = EXIT_HELP


def _quick(st) -> bool:
    # lazy: keeps --help fast
    from daudit.core.schema import SUMMARY_FILE, quick_run, read_summary
    from daudit.core.typecheck import SchemaError

    if st.state != "finished":
        return False
    try:
        return quick_run(read_summary(st.output_dir / SUMMARY_FILE))
    except (OSError, SchemaError):
        return False


def main(args) -> int:
    """Print one line on the run and where its log is (or `JSON_KEYS` with ``--json``); exit as `EXIT_HELP`."""
    from daudit.app.detach import status_of  # lazy: keeps --help fast

    st = status_of(args.run, logs_dir=args.logs_dir, results_dir=args.results_dir)
    code = exit_code(st.state)
    if args.json:
        doc = {"experiment_id": st.experiment_id, "state": st.state, "detail": st.detail,
               "output_dir": str(st.output_dir), "log": str(st.log) if st.log is not None else None,
               "pid": st.pid, "quick": _quick(st), "exit_code": code}
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return code
    print(f"{st.experiment_id}: {st.state} - {st.detail}")
    if st.log is not None:
        print(f"  log: {st.log}")
    return code
