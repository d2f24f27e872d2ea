"""The built-in PFS-like demo dataset: generator and file locations.

``simulate_dataset`` writes ``<out_dir>/{train,val,test}/dataset.h5`` in the pfsspec layout
(see :mod:`daudit.data.layout`); with ``n_shards > 1`` the train split becomes
``train/dataset_000.h5 ...`` listed in ``train/shard_index.txt``. The physics is described in
``docs/demo-data.md`` and :mod:`daudit.simulate.physics`; the per-pixel error includes the star's
own photon noise, so it follows the star's (partly gravity-sensitive) absorption lines.

Submodules: :mod:`.lines` (fixed templates), :mod:`.draws` (randomness of a split),
:mod:`.physics` (pure numpy per chunk), :mod:`.writer` (HDF5). Importing this package is cheap;
numpy and h5py are imported when a function runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from daudit.core.errors import DauditError
from daudit.core.paths import demo_dir
from daudit.simulate.draws import draw_split
from daudit.simulate.lines import INSTRUMENT_SEED, N_PIX, RESOLUTION, build_templates
from daudit.simulate.physics import PHYSICAL_SETTINGS
from daudit.simulate.writer import is_complete_file, write_split_file

__all__ = [
    "GENERATOR_VERSION",
    "SPLITS",
    "DEFAULT_SIZES",
    "SHARD_INDEX",
    "simulate_dataset",
    "demo_paths",
    "demo_is_complete",
]

GENERATOR_VERSION = "1.0"  # bump when the physics or the draws change
SPLITS = ("train", "val", "test")
DEFAULT_SIZES = {"train": 100_000, "val": 10_000, "test": 10_000}
SHARD_INDEX = "shard_index.txt"
_SINGLE = "dataset.h5"


def _shard_name(i: int) -> str:
    return f"dataset_{i:03d}.h5"


def demo_paths(out_dir=None) -> dict[str, list[Path]]:
    """Return the expected file paths of each split under ``out_dir``.

    A split directory holding ``shard_index.txt`` maps to the files it lists (in order);
    otherwise to ``<split>/dataset.h5``. The files need not exist.

    Parameters
    ----------
    out_dir : path-like
        Dataset root, default `daudit.core.paths.demo_dir` (``data_cache/demo`` in a checkout).

    Returns
    -------
    dict of str -> list of Path
        Keys ``train``, ``val``, ``test``.
    """
    out_dir = Path(demo_dir() if out_dir is None else out_dir)
    paths = {}
    for split in SPLITS:
        index = out_dir / split / SHARD_INDEX
        if index.is_file():
            names = [ln.strip() for ln in index.read_text().splitlines() if ln.strip()]
            paths[split] = [out_dir / split / name for name in names]
        else:
            paths[split] = [out_dir / split / _SINGLE]
    return paths


def demo_is_complete(out_dir=None) -> bool:
    """True when every file of every split exists, was completely written, and comes from
    this GENERATOR_VERSION (older demo data is regenerated rather than silently reused)."""

    paths = demo_paths(out_dir)
    return all(
        paths[s] and all(is_complete_file(p, generator_version=GENERATOR_VERSION)
                         for p in paths[s])
        for s in SPLITS
    )


def _check_sizes(n_train, n_val, n_test, n_shards):
    for name, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        if int(value) != value or value < 1:
            raise DauditError(f"simulate: {name}={value!r} must be a positive integer")
    if int(n_shards) != n_shards or not 1 <= n_shards <= n_train:
        raise DauditError(
            f"simulate: --shards {n_shards!r} must be between 1 and the train size ({n_train})"
        )


def _simulated(path: Path) -> bool:
    """Whether ``path`` is a file this generator wrote (its root attribute says so), or its own
    ``.partial`` left by a killed run."""
    if path.name.endswith(".partial") and path.is_file() and not path.is_symlink():
        return True
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("generator") == "daudit.simulate"
    except (OSError, ValueError, RuntimeError):
        return False


def _check_only_simulated_files(out_dir: Path) -> None:
    """Refuse (one line, nothing written) an ``out_dir`` whose split folders hold dataset files
    the generator did not write: it replaces its own files only, never the user's data."""
    for split in SPLITS:
        for p in sorted((out_dir / split).glob("dataset*.h5*")) if (out_dir / split).is_dir() else []:
            if p.is_symlink() or not _simulated(p):
                raise DauditError(f"simulate: {p} was not written by daudit's simulator and would be replaced; "
                                  "choose another --out (nothing was changed)")


def _clear_split(split_dir: Path, *, keep: set[str]):
    """Remove a stale shard index and simulator files of another layout from ``split_dir``
    (`_check_only_simulated_files` has checked that they are the simulator's)."""
    (split_dir / SHARD_INDEX).unlink(missing_ok=True)
    for p in split_dir.glob("dataset*.h5*"):
        if p.name not in keep:
            p.unlink()


def simulate_dataset(
    out_dir,
    *,
    n_train: int,
    n_val: int,
    n_test: int,
    n_shards: int = 1,
    seed: int = 42,
    object_noise: bool = True,
    progress: bool = True,
    chunk_rows: int = 512,
) -> dict[str, list[Path]]:
    """Generate the demo dataset under ``out_dir`` in the pfsspec HDF5 layout.

    Parameters
    ----------
    out_dir : path-like
        Root directory; ``train/``, ``val/`` and ``test/`` are created in it.
    n_train, n_val, n_test : int
        Spectra per split.
    n_shards : int
        Number of train files (row ranges of the same train draws; their concatenation equals
        the single-file train split of the same seed).
    seed : int
        Master seed; the splits use independent children of ``np.random.SeedSequence(seed)``,
        so val and test are different draws from train, and each split depends only on its
        own size.
    object_noise : bool
        Include the star's photon noise in the variance. False removes the physical leak.
    progress : bool
        Show a tqdm progress bar on stderr.
    chunk_rows : int
        Rows generated at a time (memory bound); results do not depend on it.

    Returns
    -------
    dict of str -> list of Path
        Split name -> written files, as :func:`demo_paths` would list them.

    Long because it is the generator's one recipe (seeds, splits, shards, manifest) in the order it runs.
    """

    _check_sizes(n_train, n_val, n_test, n_shards)
    sizes = {"train": int(n_train), "val": int(n_val), "test": int(n_test)}
    out_dir = Path(out_dir)
    _check_only_simulated_files(out_dir)
    templates = build_templates()
    children = np.random.SeedSequence(int(seed)).spawn(len(SPLITS))
    written: dict[str, list[Path]] = {}
    bar = tqdm(total=sum(sizes.values()), unit="spec", desc="simulate", file=sys.stderr,
               disable=None if progress else True, dynamic_ncols=True)  # None: off when stderr is not a terminal
    try:
        for split, child in zip(SPLITS, children):
            split_dir = out_dir / split
            try:
                split_dir.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise DauditError(
                    f"simulate: cannot create {split_dir} ({err.strerror}); choose a writable --out"
                ) from err
            draws = draw_split(np.random.default_rng(child), sizes[split], n_pix=N_PIX)
            k = n_shards if split == "train" else 1
            names = [_SINGLE] if k == 1 else [_shard_name(i) for i in range(k)]
            _clear_split(split_dir, keep=set())
            bounds = np.linspace(0, sizes[split], k + 1).astype(int)
            paths = []
            for i, name in enumerate(names):
                attrs = {
                    "generator": "daudit.simulate",
                    "generator_version": GENERATOR_VERSION,
                    "seed": int(seed),
                    "split": split,
                    "split_rows": sizes[split],
                    "row_offset": int(bounds[i]),
                    "shard": i,
                    "n_shards": k,
                    "object_noise": bool(object_noise),
                    "instrument_seed": INSTRUMENT_SEED,
                    "resolution": RESOLUTION,
                    "physical_settings": PHYSICAL_SETTINGS,
                }
                paths.append(write_split_file(
                    split_dir / name, templates, draws.rows(bounds[i], bounds[i + 1]),
                    attrs=attrs, object_noise=object_noise, chunk_rows=chunk_rows,
                    progress=bar,
                ))
            if k > 1:
                tmp = split_dir / (SHARD_INDEX + ".partial")
                tmp.write_text("".join(n + "\n" for n in names))
                os.replace(tmp, split_dir / SHARD_INDEX)
            written[split] = paths
    finally:
        bar.close()
    return written
