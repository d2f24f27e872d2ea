"""`python -m daudit deleak`: compare de-leaked error representations (MVP-0.2)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from daudit.core.errors import DauditError
from daudit.core.gate_rule import verdict_label

__all__ = ["configure_parser", "main"]


def configure_parser(p):
    p.add_argument("--config", metavar="FILE",
                   help="YAML spec (default: pipelines/logg_err_repr_01.yaml on the built-in demo data)")
    p.add_argument("--output-dir", metavar="DIR",
                   help="results folder (default: the spec's output_dir or results/<exp_id>)")
    p.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler: local, threads, synchronous or the "
                   "address of a running scheduler (overrides compute.scheduler)")
    p.add_argument("--knowledge-center", metavar="DIR",
                   help="after the run, publish the report and figures into this knowledge-center repo (MVP-0.2)")
    p.add_argument("--force", action="store_true", help="with --knowledge-center: publish over uncommitted changes")


def main(args) -> int:
    # lazy: the deleak pipeline imports numpy, dask and LightGBM; the other commands stay fast
    from daudit.app.runspec import ensure_demo, with_demo_data
    from daudit.core.spec import parse_scheduler
    from daudit.deleak.config import DEFAULT_DELEAK_SPEC_PATH, load_deleak_spec
    from daudit.deleak.pipeline import run_deleak
    from daudit.output.staging import resolve_output_dir

    spec, dspec = load_deleak_spec(args.config or DEFAULT_DELEAK_SPEC_PATH)
    if args.config is None:
        spec = with_demo_data(spec)
    if args.scheduler:
        compute = dataclasses.replace(spec.compute, scheduler=parse_scheduler(args.scheduler))
        spec = dataclasses.replace(spec, compute=compute)
    if args.knowledge_center and not Path(args.knowledge_center).is_dir():
        raise DauditError(f"--knowledge-center {args.knowledge_center} is not a directory")
    if args.config is None:
        ensure_demo(spec)
    out = resolve_output_dir(spec, args.output_dir)
    summary = run_deleak(spec, dspec, output_dir=out)
    g = summary["gate"]
    rec = g["recommended"]
    print(f"{g['name']} ({g['mvp']}) {verdict_label(g)}: "
          + (f"recommended {rec} (log_g R2 {g['best_test_r2']:.4f}, SNR R2 {g['best_snr_r2']:.4f})" if rec
             else f"no strategy passes; diagnosis: {summary['diagnosis']['kind']} leak")
          + f"; results in {out}")
    print(f"report: {out / 'report.md'}")
    if args.knowledge_center:
        from daudit.app.publish import format_publish_result, publish_run  # lazy: only with --knowledge-center

        print(format_publish_result(publish_run(out, args.knowledge_center, force=args.force,
                                                roadmap_section="MVP-0.2")))
    return 0
