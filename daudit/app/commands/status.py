"""`python -m daudit status RUN`: running (stage, progress) / finished (verdict) / failed (error) / killed."""

__all__ = ["configure_parser", "main"]

_EXIT = {"running": 0, "finished": 0}


def configure_parser(p):
    p.add_argument("run", metavar="RUN",
                   help="experiment id or output folder of a run, in the foreground or started with --detach")
    p.add_argument("--logs-dir", metavar="DIR", default="logs",
                   help="where --detach wrote its files (default: logs)")
    p.add_argument("--results-dir", metavar="DIR", default="results",
                   help="where to look for an experiment id's default output folder (default: results)")


def main(args) -> int:
    """Print one line on the run and where its log is; exit 0 running or finished, 1 otherwise."""
    from daudit.app.detach import status_of  # lazy: keeps --help fast

    st = status_of(args.run, logs_dir=args.logs_dir, results_dir=args.results_dir)
    print(f"{st.experiment_id}: {st.state} - {st.detail}")
    if st.log is not None:
        print(f"  log: {st.log}")
    return _EXIT.get(st.state, 1)
