"""`python -m daudit run`: load the spec once, run the audit, print where the results are."""

from __future__ import annotations

from pathlib import Path

from daudit.core.errors import DauditError
from daudit.core.gate_rule import verdict_label

__all__ = ["configure_parser", "main", "announce_estimate"]


def configure_parser(p):
    p.add_argument("--config", metavar="FILE",
                   help="YAML spec (default: the one daudit spec in the working folder; none or several "
                        "are refused)")
    p.add_argument("--demo", action="store_true",
                   help="the built-in LOGG-ERR-BASE-01 on the built-in demo data (simulated on first use, "
                        "about 4.4 GB; what `make demo` runs)")
    p.add_argument("--dry-run", action="store_true",
                   help="check the spec and the data files' headers, print the plan and the estimate, run "
                        "nothing (the same as python -m daudit check)")
    p.add_argument("--exp-id", metavar="ID", help="override the spec's experiment_id")
    p.add_argument("--output-dir", metavar="DIR", help="results folder (default: the spec's output_dir "
                   "or results/<exp_id>)")
    p.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler: local, threads, synchronous or "
                   "the address of a running scheduler (overrides compute.scheduler)")
    p.add_argument("--memory-limit", metavar="SIZE", help="memory budget, e.g. 4GB (overrides compute.memory_limit)")
    p.add_argument("--device", choices=("cpu", "cuda"), help="where the linear algebra runs (overrides compute.device)")
    p.add_argument("--knowledge-center", metavar="DIR",
                   help="after the run, publish the report and figures into this knowledge-center repo")
    p.add_argument("--force", action="store_true", help="with --knowledge-center: publish over uncommitted changes")
    p.add_argument("--detach", action="store_true",
                   help="run in the background (like nohup ... &): output in logs/<EXP>.log, PID in logs/<EXP>.pid; "
                        "prints an estimated duration; follow it with python -m daudit status <EXP>")
    p.add_argument("--logs-dir", metavar="DIR", default="logs", help="where --detach writes the log and PID (default: logs)")
    p.add_argument("--drop-bad-labels", action="store_true",
                   help="leave out rows whose label is NaN or infinite (counted in summary.json) instead of refusing")
    p.add_argument("--quick", action="store_true",
                   help="a first look at a small sample: the same checks with lighter nulls (no LightGBM "
                        "permutation null, 100 linear permutations, 200 bootstrap resamples)")


def main(args) -> int:
    if args.dry_run:
        from daudit.app.commands.check import check_and_print  # lazy: only for --dry-run

        return check_and_print(args)
    if args.detach:
        from daudit.app.detach import detach  # lazy: the foreground run never needs it

        return detach(args.argv, args)
    # lazy: spec and output checks first, so bad input or a busy folder is refused in a blink
    from daudit.app.runspec import ensure_demo, resolve_spec
    from daudit.output.staging import check_not_in_use, check_output_dir, resolve_output_dir

    spec, builtin = resolve_spec(args)
    out = resolve_output_dir(spec, args.output_dir)
    check_not_in_use(out)  # first: a live run's own log may not have its state file beside it yet
    check_output_dir(out)
    # lazy: the audit imports numpy, dask and LightGBM (seconds); `--help` and the other commands stay fast
    from daudit.pipeline.run import run_audit

    if builtin:
        ensure_demo(spec)
    if args.knowledge_center and not Path(args.knowledge_center).is_dir():
        raise DauditError(f"--knowledge-center {args.knowledge_center} is not a directory")
    announce_estimate(spec, builtin=builtin)
    summary = run_audit(spec, output_dir=out, drop_bad_labels=args.drop_bad_labels)
    g = summary["gate"]
    print(f"Gate-1 {verdict_label(g)}: best test R2 = {g['best_test_r2']:.4f} ({g['best_model']}, "
          f"noise level {g['best_noise_level']:g}); results in {out}")
    print(f"report: {out / 'report.md'}")
    if args.knowledge_center:
        from daudit.app.publish import format_publish_result, publish_run  # lazy: only with --knowledge-center

        print(format_publish_result(publish_run(out, args.knowledge_center, force=args.force)))
    return 0


def announce_estimate(spec, *, builtin: bool, echo=print) -> None:
    """Print the run's time estimate at its start: the one ``run --detach`` prints
    (`daudit.app.detach.estimate_for`)."""
    from daudit.app.detach import estimate_for  # lazy: `--help` stays free of the detach module

    echo(f"⏱️ {estimate_for(spec, builtin=builtin).text()}")
