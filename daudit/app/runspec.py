"""The spec of a ``run`` command line: the YAML spec with the command-line overrides applied.

Shared by ``run``, ``run --detach`` (which validates before going to the background), ``deleak``
and the Python API. A built-in spec (no ``--config``) reads the demo data from daudit's demo
folder (`daudit.core.paths.demo_dir`) and writes to ``results/<experiment_id>`` in the working
folder, so that it works the same from a checkout and from an installed wheel.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from daudit.core.paths import demo_dir
from daudit.core.spec import DEFAULT_SPEC_PATH, AuditSpec, load_spec, parse_bytes, parse_scheduler, parse_spec

__all__ = ["resolve_spec", "ensure_demo", "with_demo_data"]


def with_demo_data(spec: AuditSpec) -> AuditSpec:
    """``spec`` reading the demo files under `demo_dir` and writing to the default output folder."""
    # lazy: the simulator package pulls in numpy and h5py; the CLI parses arguments without them
    from daudit.simulate import demo_paths

    paths = {k: tuple(str(p) for p in v) for k, v in demo_paths(demo_dir()).items()}
    data = dataclasses.replace(spec.data, train_path=paths["train"], val_path=paths["val"],
                               test_path=paths["test"])
    return dataclasses.replace(spec, data=data, output_dir=None)


def resolve_spec(args) -> tuple[AuditSpec, bool]:
    """(spec with ``--exp-id``, ``--scheduler``, ``--memory-limit``, ``--device`` and ``--quick``
    applied, whether it is the built-in demo spec)."""
    builtin = args.config is None
    spec = load_spec(args.config or DEFAULT_SPEC_PATH)
    if builtin:
        spec = with_demo_data(spec)
    if args.exp_id:
        # re-validate the id through the same rules as the spec file
        parse_spec({"experiment_id": args.exp_id, "data": {"train_path": "x", "val_path": "x", "test_path": "x"},
                    "models": [{"type": "LinearRegression"}]}, source="--exp-id")
        spec = dataclasses.replace(spec, experiment_id=args.exp_id)
    compute = spec.compute
    if args.scheduler:
        compute = dataclasses.replace(compute, scheduler=parse_scheduler(args.scheduler))
    if args.memory_limit:
        compute = dataclasses.replace(compute, memory_limit=parse_bytes(args.memory_limit, "--memory-limit"))
    if args.device:
        compute = dataclasses.replace(compute, device=args.device)
    sanity = spec.sanity.quick() if getattr(args, "quick", False) else spec.sanity
    return dataclasses.replace(spec, compute=compute, sanity=sanity), builtin


def ensure_demo(spec: AuditSpec, out_dir: Path | None = None) -> None:
    """Simulate the built-in demo data when it is missing, incomplete or from an older generator."""
    # lazy: the simulator pulls in numpy/h5py/pandas, needed only when the demo data is missing
    from daudit.simulate import demo_is_complete, simulate_dataset

    out_dir = demo_dir() if out_dir is None else Path(out_dir)
    if demo_is_complete(out_dir):
        return
    print(f"demo data missing under {out_dir}: simulating it once (python -m daudit simulate)", file=sys.stderr)
    simulate_dataset(out_dir, n_train=spec.data.num_samples or 100_000,
                     n_val=spec.data.num_test_samples or 10_000, n_test=spec.data.num_test_samples or 10_000,
                     seed=spec.seed, force=True)  # replaces only what the simulator wrote
