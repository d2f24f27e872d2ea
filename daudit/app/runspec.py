"""The spec of a ``run`` command line: the YAML spec with the command-line overrides applied.

Shared by ``run`` and ``run --detach`` (which validates before going to the background).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from daudit.core.spec import DEFAULT_SPEC_PATH, AuditSpec, load_spec, parse_bytes, parse_scheduler, parse_spec

__all__ = ["resolve_spec", "ensure_demo"]


def resolve_spec(args) -> tuple[AuditSpec, bool]:
    """(spec with ``--exp-id``, ``--scheduler``, ``--memory-limit``, ``--device`` and ``--quick``
    applied, whether it is the built-in demo spec)."""
    spec = load_spec(args.config or DEFAULT_SPEC_PATH)
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
    return dataclasses.replace(spec, compute=compute, sanity=sanity), args.config is None


def ensure_demo(spec: AuditSpec, demo_dir: Path) -> None:
    """Simulate the built-in demo data when it is missing, incomplete or from an older generator."""
    # lazy: the simulator pulls in numpy/h5py/pandas, needed only when the demo data is missing
    from daudit.simulate import demo_is_complete, simulate_dataset

    if demo_is_complete(demo_dir):
        return
    print(f"demo data missing under {demo_dir}: simulating it once (python -m daudit simulate)", file=sys.stderr)
    simulate_dataset(demo_dir, n_train=spec.data.num_samples or 100_000,
                     n_val=spec.data.num_test_samples or 10_000, n_test=spec.data.num_test_samples or 10_000,
                     seed=spec.seed)
