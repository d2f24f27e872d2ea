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

import json
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
    "simulated_files",
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


OWNED_MARKER = ".daudit-simulated.json"  # in --out: the files the simulator writes there (relative paths)
_OWNED_TAG = "daudit simulated dataset"


def _simulated(path: Path) -> bool:
    """Whether ``path`` is a finished file this generator wrote (its root attribute says so)."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("generator") == "daudit.simulate"
    except (OSError, ValueError, RuntimeError):
        return False


def _listed(out_dir: Path) -> set[str]:
    """Relative paths the simulator's marker in ``out_dir`` lists (it wrote, or was writing, them)."""
    marker = out_dir / OWNED_MARKER
    try:
        if marker.is_symlink() or not marker.is_file() or marker.stat().st_size > 2**20:
            return set()
        meta = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    files = meta.get("files") if isinstance(meta, dict) and meta.get("written_by") == _OWNED_TAG else None
    return {f for f in files if isinstance(f, str)} if isinstance(files, list) else set()


def _owned(out_dir: Path, rel: str, listed: set[str]) -> bool:
    """A file daudit's simulator wrote: listed in its marker, or (older daudit, no marker) a split's
    finished simulator file or its shard index."""
    if rel in listed:
        return True
    parts = rel.split("/")
    if len(parts) != 2 or parts[0] not in SPLITS:
        return False
    if parts[1] == SHARD_INDEX:  # the simulator's lists only its own shard files
        try:
            names = (out_dir / rel).read_text(encoding="utf-8").split() if (out_dir / rel).stat().st_size < 2**16 else []
        except (OSError, UnicodeDecodeError):
            return False
        return bool(names) and not (out_dir / rel).is_symlink() and all(
            "/" not in n and _simulated(out_dir / parts[0] / n) for n in names)
    return parts[1].startswith("dataset") and parts[1].endswith(".h5") and _simulated(out_dir / rel)


def _check_out_dir(out_dir: Path, *, force: bool) -> None:
    """Refuse (one line, nothing written) an ``--out`` daudit may not write into.

    Allowed: a new or empty folder; a dataset daudit simulated there, replaced only with
    ``--force``. Refused: any file the simulator did not write (the user's data or notes, a
    ``.partial`` of their own), a split path that is not a folder, and an existing dataset without
    ``--force``. The simulator never deletes a file it did not write.
    """
    if not os.path.lexists(out_dir):
        return
    if out_dir.is_symlink() or not out_dir.is_dir():
        raise DauditError(f"simulate: --out {out_dir} exists and is not a folder; choose another --out "
                          "(nothing was changed)")
    listed = _listed(out_dir)
    owned = 0
    for root, dirs, files in os.walk(out_dir):
        base = Path(root)
        for name in files + [d for d in dirs if (base / d).is_symlink()]:
            rel = (base / name).relative_to(out_dir).as_posix()
            if rel == OWNED_MARKER:
                continue
            if not _owned(out_dir, rel, listed):
                raise DauditError(f"simulate: {out_dir / rel} was not written by daudit's simulator and would be "
                                  "replaced or left among simulated files; choose another --out, a new or empty "
                                  "folder (nothing was changed)")
            owned += 1
        for d in dirs:
            rel = (base / d).relative_to(out_dir).as_posix()
            if rel not in SPLITS and not any(f.startswith(rel + "/") for f in listed):
                raise DauditError(f"simulate: {out_dir / rel} is a folder daudit's simulator did not make; choose "
                                  "another --out, a new or empty folder (nothing was changed)")
    if owned and not force:
        raise DauditError(f"simulate: {out_dir} already holds a dataset daudit simulated; give --force to replace "
                          "it, or choose another --out (nothing was changed)")


def simulated_files(out_dir) -> list[Path]:
    """Every file of ``out_dir`` (its ownership marker included), all written by daudit's simulator:
    what may be removed to clear a simulated dataset. `DauditError` (one line) when ``out_dir``
    holds anything the simulator did not write, a link or a folder of its own (the checks of
    ``simulate --force``: nothing of the user's is ever among them); [] when there is no ``out_dir``."""
    out_dir = Path(out_dir)
    if not os.path.lexists(out_dir):
        return []
    _check_out_dir(out_dir, force=True)
    return sorted(Path(root) / name for root, _dirs, files in os.walk(out_dir) for name in files)


def _write_owned(out_dir: Path, files) -> None:
    """Record the files the simulator writes (or is about to write) in ``out_dir``'s marker."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / (OWNED_MARKER + ".partial")
    tmp.write_text(json.dumps({"written_by": _OWNED_TAG, "generator_version": GENERATOR_VERSION,
                               "files": sorted(set(files))}, indent=1) + "\n")
    os.replace(tmp, out_dir / OWNED_MARKER)


def _planned_files(out_dir: Path, n_shards: int) -> list[str]:
    """Every relative path a simulation writes, temporary names included."""
    names = []
    for split in SPLITS:
        k = n_shards if split == "train" else 1
        files = [_SINGLE] if k == 1 else [_shard_name(i) for i in range(k)] + [SHARD_INDEX]
        names += [f"{split}/{f}" for f in files] + [f"{split}/{f}.partial" for f in files]
    return names


def _clear_split(out_dir: Path, split: str):
    """Remove the files of an earlier simulation from ``out_dir/split`` (`_check_out_dir` has
    checked that every file there is the simulator's)."""
    split_dir = out_dir / split
    for p in sorted(split_dir.iterdir()) if split_dir.is_dir() else []:
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
    force: bool = False,
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
    force : bool
        Replace a dataset daudit simulated in ``out_dir`` (refused otherwise). Files the
        simulator did not write are never replaced, whatever ``force`` says.

    Returns
    -------
    dict of str -> list of Path
        Split name -> written files, as :func:`demo_paths` would list them.

    Long because it is the generator's one recipe (seeds, splits, shards, manifest) in the order it runs.
    """

    _check_sizes(n_train, n_val, n_test, n_shards)
    sizes = {"train": int(n_train), "val": int(n_val), "test": int(n_test)}
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, force=force)
    try:
        _write_owned(out_dir, _listed(out_dir) | set(_planned_files(out_dir, n_shards)))
    except OSError as err:
        raise DauditError(f"simulate: cannot write into {out_dir} ({err.strerror or err}); choose a writable "
                          "--out") from err
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
            _clear_split(out_dir, split)
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
    done = [p for paths in written.values() for p in paths]
    done += [out_dir / "train" / SHARD_INDEX] if n_shards > 1 else []
    _write_owned(out_dir, [p.relative_to(out_dir).as_posix() for p in done])
    return written
