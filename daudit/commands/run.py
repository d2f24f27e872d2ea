"""`python -m daudit run`: load the spec once, run the audit, print where the results are."""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["configure_parser", "main"]


def configure_parser(p):
    p.add_argument("--config", metavar="FILE",
                   help="YAML spec (default: pipelines/logg_err_base_01.yaml on the built-in demo data)")
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
                   help="run in the background (like nohup ... &): log to logs/<EXP>.log, PID in logs/<EXP>.pid")
    p.add_argument("--logs-dir", metavar="DIR", default="logs", help="where --detach writes the log and PID (default: logs)")
    p.add_argument("--drop-bad-labels", action="store_true",
                   help="leave out rows whose label is NaN or infinite (counted in summary.json) instead of refusing")


def _resolve_spec(args):
    import dataclasses

    from daudit.spec import DEFAULT_SPEC_PATH, load_spec, parse_bytes

    spec = load_spec(args.config or DEFAULT_SPEC_PATH)
    if args.exp_id:
        from daudit.spec import parse_spec  # re-validate the id through the same rules

        parse_spec({"experiment_id": args.exp_id, "data": {"train_path": "x", "val_path": "x", "test_path": "x"},
                    "models": [{"type": "LinearRegression"}]}, source="--exp-id")
        spec = dataclasses.replace(spec, experiment_id=args.exp_id)
    compute = spec.compute
    if args.scheduler:
        compute = dataclasses.replace(compute, scheduler=args.scheduler)
    if args.memory_limit:
        compute = dataclasses.replace(compute, memory_limit=parse_bytes(args.memory_limit, "--memory-limit"))
    if args.device:
        compute = dataclasses.replace(compute, device=args.device)
    return dataclasses.replace(spec, compute=compute), args.config is None


def main(args) -> int:
    if args.detach:
        from daudit.detach import detach

        return detach(sys.argv[1:] if sys.argv[1:] else ["run"], args)
    from daudit.errors import DauditError
    from daudit.pipeline import resolve_output_dir, run_audit

    spec, builtin = _resolve_spec(args)
    out = resolve_output_dir(spec, args.output_dir)
    if builtin:
        from daudit.layout import DEMO_DIR

        _ensure_demo(spec, DEMO_DIR)
    if args.knowledge_center and not Path(args.knowledge_center).is_dir():
        raise DauditError(f"--knowledge-center {args.knowledge_center} is not a directory")
    summary = run_audit(spec, output_dir=out, drop_bad_labels=args.drop_bad_labels)
    g = summary["gate"]
    print(f"Gate-1 {g['verdict']}: best test R2 = {g['best_test_r2']:.4f} ({g['best_model']}, "
          f"noise level {g['best_noise_level']:g}); results in {out}")
    print(f"report: {out / 'report.md'}")
    if args.knowledge_center:
        from daudit.publish import format_publish_result, publish_run

        print(format_publish_result(publish_run(out, args.knowledge_center, force=args.force)))
    return 0


def _ensure_demo(spec, demo_dir: Path):
    """Simulate the built-in demo data when it is missing, incomplete or from an older generator."""
    from daudit.simulate import demo_is_complete, simulate_dataset

    if demo_is_complete(demo_dir):
        return
    print(f"demo data missing under {demo_dir}: simulating it once (python -m daudit simulate)", file=sys.stderr)
    simulate_dataset(demo_dir, n_train=spec.data.num_samples or 100_000,
                     n_val=spec.data.num_test_samples or 10_000, n_test=spec.data.num_test_samples or 10_000,
                     seed=spec.seed)
