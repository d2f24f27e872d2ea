"""The spec of a ``run`` command line: the YAML spec with the command-line overrides applied.

Shared by ``run``, ``run --detach`` (which validates before going to the background), ``check``,
``deleak`` and the Python API. Without ``--config``, ``run`` uses the one daudit spec in the working
folder (`spec_in_folder`) and refuses when there is none or several; ``--demo`` asks for the
built-in spec, which reads the demo data from daudit's demo folder (`daudit.core.paths.demo_dir`)
and writes to ``results/<experiment_id>`` in the working folder, so that it works the same from a
checkout and from an installed wheel.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from daudit.core.errors import DauditError
from daudit.core.paths import demo_dir
from daudit.core.spec import DEFAULT_SPEC_PATH, AuditSpec, load_spec, parse_bytes, parse_scheduler, parse_spec
from daudit.core.yamlload import read_yaml

__all__ = ["resolve_spec", "ensure_demo", "with_demo_data", "spec_in_folder"]

_SPEC_KEYS = ("experiment_id", "data", "models")  # what a YAML mapping needs to look like a daudit spec


def with_demo_data(spec: AuditSpec) -> AuditSpec:
    """``spec`` reading the demo files under `demo_dir` and writing to the default output folder."""
    # lazy: the simulator package pulls in numpy and h5py; the CLI parses arguments without them
    from daudit.simulate import demo_paths

    paths = {k: tuple(str(p) for p in v) for k, v in demo_paths(demo_dir()).items()}
    data = dataclasses.replace(spec.data, train_path=paths["train"], val_path=paths["val"],
                               test_path=paths["test"])
    return dataclasses.replace(spec, data=data, output_dir=None)


def _looks_like_spec(path: Path) -> bool:
    """Whether ``path`` is a YAML mapping with a spec's keys (`_SPEC_KEYS`) and no ``deleak:``
    section (a ``deleak`` spec is not an audit spec); any YAML that is not is left alone."""
    try:  # read_yaml refuses what is not a regular file of at most 1 MiB
        raw = read_yaml(path)
    except DauditError:
        return False
    return isinstance(raw, dict) and all(k in raw for k in _SPEC_KEYS) and "deleak" not in raw


def spec_in_folder(folder: str | Path = ".") -> Path:
    """The one daudit audit spec (``*.yaml`` / ``*.yml``) in ``folder``, not its subfolders.

    A file counts when it looks like a spec (`_looks_like_spec`) and parses as one
    (`daudit.core.spec.load_spec`); arbitrary YAML does not count.

    Raises
    ------
    DauditError
        No spec there (the message says to pass ``--config SPEC`` or ``--demo``; a file that
        looks like a spec but is refused gives its own error), or several (listed).
    """
    folder = Path(folder)
    try:
        names = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".yaml", ".yml"))
    except OSError as err:
        raise DauditError(f"{folder.absolute()}: cannot be listed ({err.strerror or err}); "
                          "pass --config SPEC or --demo") from err
    found, broken = [], []
    for path in (p for p in names if _looks_like_spec(p)):
        try:
            load_spec(path)
        except DauditError as err:
            broken.append(err)
            continue
        found.append(path)
    if len(found) > 1:
        raise DauditError(f"no --config given and {len(found)} daudit specs in {folder.absolute()} "
                          f"({', '.join(p.name for p in found)}); pass --config SPEC to choose one")
    if found:
        return found[0]
    if broken:
        raise DauditError(f"no --config given and the only spec-like file here is refused: {broken[0]}")
    raise DauditError(f"no --config given and no daudit spec in {folder.absolute()}; pass --config SPEC "
                      "(python -m daudit init writes one) or --demo for LOGG-ERR-BASE-01 on the built-in demo data")


def resolve_spec(args) -> tuple[AuditSpec, bool]:
    """(spec with ``--exp-id``, ``--scheduler``, ``--memory-limit``, ``--device`` and ``--quick``
    applied, whether it is the built-in demo spec).

    ``--demo`` (``args.demo``) is the built-in spec; without ``--config`` otherwise the one spec in
    the working folder (`spec_in_folder`) is used, named on stderr, and ``args.config`` is set to it.
    """
    builtin = bool(getattr(args, "demo", False))
    if builtin and args.config:
        raise DauditError("--demo and --config both given; --demo runs the built-in spec on the demo data, "
                          "--config SPEC your own: pass one")
    if not builtin and args.config is None:
        found = spec_in_folder(".")
        print(f"daudit: using the spec in this folder: {found} (pass --config SPEC for another)", file=sys.stderr)
        args.config = str(found)
    spec = load_spec(DEFAULT_SPEC_PATH if builtin else args.config)
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
    if getattr(args, "quick", False):  # marked in summary.json (spec.sanity.quick_run): list, show, status, publish
        spec = dataclasses.replace(spec, sanity=spec.sanity.quick())
    return dataclasses.replace(spec, compute=compute), builtin


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
