"""``python -m daudit check [SPEC]`` (and ``run --dry-run``): validate, plan and estimate; run nothing.

Checks the spec, the output folder and the data files (layout, labels, grids, row counts: the
checks a run makes before any heavy work, on the HDF5 files themselves, with no zarr copy), then
prints the plan and the time and memory estimate. Nothing is written in the output folder or in
the cache; a problem is the run's own one-line error (exit 2).
"""

from __future__ import annotations

import sys

__all__ = ["configure_parser", "main", "check_and_print", "plan_lines"]


def configure_parser(p) -> None:
    """Add the ``check`` arguments to `p` (those of ``run`` that change the plan)."""
    p.add_argument("config", metavar="SPEC", nargs="?",
                   help="YAML spec (default: the one daudit spec in the working folder)")
    p.add_argument("--demo", action="store_true", help="check the built-in LOGG-ERR-BASE-01 on the demo data")
    p.add_argument("--exp-id", metavar="ID", help="override the spec's experiment_id")
    p.add_argument("--output-dir", metavar="DIR", help="results folder (default: the spec's output_dir "
                   "or results/<exp_id>)")
    p.add_argument("--memory-limit", metavar="SIZE", help="memory budget, e.g. 4GB (overrides compute.memory_limit)")
    p.add_argument("--quick", action="store_true", help="plan the lighter checks of run --quick")
    p.add_argument("--drop-bad-labels", action="store_true",
                   help="plan to leave out rows whose label is NaN or infinite instead of refusing them")
    p.set_defaults(scheduler=None, device=None)


def plan_lines(spec, *, rows: dict | None, n_pixels: int | None, out, min_limit: int | None,
               estimate=None, quick: bool = False) -> list[str]:
    """The plan as text lines (pure): data sizes, models, levels, checks, gate, output, memory, time."""
    d, s = spec.data, spec.sanity
    models = (["OLS"] if spec.include_ols else []) + [f"Ridge(alpha={a:g})" for a in spec.alphas]
    if spec.lightgbm is not None:
        models.append(f"LightGBM({spec.lightgbm.n_estimators} trees, depth {spec.lightgbm.max_depth})")
    lines = [f"spec: {spec.source_path}", f"experiment: {spec.experiment_id}"]
    if rows is not None:
        lines.append(f"data: train {rows['train']:,}, val {rows['val']:,}, test {rows['test']:,} spectra x "
                     f"{n_pixels} pixels; label {d.param!r}")
    else:
        lines.append(f"data: the built-in demo data, not simulated yet (a run simulates it first: "
                     f"{d.num_samples or 100_000:,} train spectra, about 4.4 GB)")
    lines.append(f"models: {', '.join(models)} at noise levels {', '.join(f'{lv:g}' for lv in spec.noise_levels)}")
    checks = ("off" if not s.enabled else
              f"on{' (--quick)' if quick else ''}: {s.n_permutations_linear} linear permutations, "
              f"{s.n_permutations_lightgbm} LightGBM permutations, {s.n_bootstrap} bootstrap resamples")
    lines.append(f"sanity checks: {checks}")
    rule = ("PASS if the best test R2 < 0.05" if spec.gate.rule == "point" else
            "PASS if the best test R2 and the upper end of its 95% interval are < 0.05")
    lines.append(f"gate: rule {spec.gate.rule} ({rule})")
    lines.append(f"output: {out}")
    need = f" (at least {min_limit / 2**30:.2f} GiB needed)" if min_limit else ""
    lines.append(f"memory: limit {spec.compute.memory_limit / 2**30:.2f} GiB for the process tree{need}")
    if estimate is not None:
        lines.append(f"time: {estimate.text()}")
    return lines


def check_and_print(args, *, echo=print) -> int:
    """Validate everything a run checks up front, print the plan; nothing run, nothing written."""
    # lazy: numpy, h5py and pandas come with the data checks
    from daudit.app.detach import estimate_for
    from daudit.app.runspec import resolve_spec
    from daudit.data.splits import check_data
    from daudit.output.staging import check_not_in_use, check_output_dir, resolve_output_dir
    from daudit.pipeline.memory_plan import check_memory_limit

    spec, builtin = resolve_spec(args)
    out = resolve_output_dir(spec, args.output_dir)
    check_not_in_use(out)
    check_output_dir(out)
    min_limit = check_memory_limit(spec)
    rows = n_pixels = None
    warnings: list[str] = []
    demo_missing = False
    if builtin:
        from daudit.simulate import demo_is_complete  # lazy: only for --demo

        demo_missing = not demo_is_complete()
    if not demo_missing:
        splits, report = check_data(spec, drop_bad_labels=args.drop_bad_labels)
        rows = {k: s.n_rows for k, s in splits.items()}
        n_pixels = splits["train"].n_pixels
        warnings = report["warnings"]
    estimate = estimate_for(spec, builtin=builtin)
    for line in plan_lines(spec, rows=rows, n_pixels=n_pixels, out=out, min_limit=min_limit, estimate=estimate,
                           quick=bool(getattr(args, "quick", False))):
        echo(line)
    for w in warnings:
        print(f"daudit: {w}", file=sys.stderr)
    echo("check: OK; nothing was run or written (python -m daudit run with the same arguments runs it)")
    return 0


def main(args) -> int:
    """``check``: see `check_and_print`."""
    return check_and_print(args)
