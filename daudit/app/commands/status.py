"""`python -m daudit status EXP`: running / finished (with verdict) / failed (with the error line)."""

__all__ = ["configure_parser", "main"]


def configure_parser(p):
    p.add_argument("exp_id", metavar="EXP", help="experiment id of a run started with --detach")
    p.add_argument("--logs-dir", metavar="DIR", default="logs", help="where --detach wrote its files (default: logs)")


def main(args) -> int:
    from daudit.app.detach import run_status  # lazy: keeps --help fast

    state, detail = run_status(args.exp_id, args.logs_dir)
    print(f"{args.exp_id}: {state} - {detail}")
    return {"running": 0, "finished": 0, "failed": 1}[state]
