"""`python -m daudit simulate`: write the built-in PFS-like demo dataset."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from daudit.core.paths import demo_dir

__all__ = ["configure_parser", "main"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def configure_parser(p: argparse.ArgumentParser) -> None:
    """Add the simulate options to ``p``."""
    p.add_argument("--out", type=Path, default=None,
                   help=f"output directory (default: daudit's demo folder, now {demo_dir()})")
    p.add_argument("--train", type=_positive_int, default=100_000, help="train spectra (100000)")
    p.add_argument("--val", type=_positive_int, default=10_000, help="validation spectra (10000)")
    p.add_argument("--test", type=_positive_int, default=10_000, help="test spectra (10000)")
    p.add_argument("--shards", type=_positive_int, default=1,
                   help="split train into this many files plus shard_index.txt (1)")
    p.add_argument("--seed", type=int, default=42, help="master seed (42)")
    p.add_argument("--no-object-noise", dest="object_noise", action="store_false",
                   help="drop the star's photon noise from the variance (removes the leak)")
    p.add_argument("--force", action="store_true",
                   help="replace a dataset daudit simulated in --out (files it did not write are never replaced)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    """Generate the dataset and print where the files are."""
    from daudit.simulate import simulate_dataset  # lazy: numpy/h5py only when simulating

    t0 = time.perf_counter()
    written = simulate_dataset(
        args.out or demo_dir(), n_train=args.train, n_val=args.val, n_test=args.test,
        n_shards=args.shards, seed=args.seed, object_noise=args.object_noise,
        progress=not args.quiet, force=args.force,
    )
    for split, paths in written.items():
        for path in paths:
            print(f"{split}: {path}")
    noise = "with" if args.object_noise else "WITHOUT"
    print(f"wrote {args.train + args.val + args.test} spectra ({noise} object photon noise, "
          f"seed {args.seed}) in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0
