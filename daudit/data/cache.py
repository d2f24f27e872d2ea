"""On-disk caches (`daudit.core.paths.cache_dir`): zarr copies of HDF5 arrays and sufficient statistics.

Both are keyed by what they were made from (source path, size, modification time, rows taken,
transformation), written to a temporary name and renamed when complete, and validated on every
use against a manifest of per-file sizes and CRC32 checksums. A cache that is stale, truncated
or corrupted is rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import zlib
from pathlib import Path

import h5py
import numpy as np
import zarr
from zarr.codecs import BloscCodec

from daudit.core.artifacts import pid_alive
from daudit.core.progress import Bar
from daudit.core.paths import cache_dir

__all__ = ["source_key", "ZarrCache", "StatsCache", "default_cache_dir"]

log = logging.getLogger("daudit")
_FORMAT = 1


def default_cache_dir() -> Path:
    """``$DAUDIT_CACHE_DIR``, else ``data_cache/`` of a checkout or the user cache folder (`daudit.core.paths`)."""
    return cache_dir()


def source_key(path: str, dataset_key: str) -> dict:
    """What a cached copy of ``path``/``dataset_key`` depends on."""
    st = os.stat(path)
    return {"path": os.path.abspath(path), "dataset": dataset_key, "size": st.st_size,
            "mtime_ns": st.st_mtime_ns, "format": _FORMAT}


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:24]


def _crc_file(path: Path) -> int:
    crc = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            crc = zlib.crc32(block, crc)
    return crc


def _file_manifest(root: Path) -> dict:
    return {str(p.relative_to(root)): [p.stat().st_size, _crc_file(p)]
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "daudit-manifest.json"}


def _valid(root: Path, key: dict) -> bool:
    man = root / "daudit-manifest.json"
    try:
        meta = json.loads(man.read_text())
    except (OSError, ValueError):
        return False
    if meta.get("key") != key:
        return False
    try:
        return _file_manifest(root) == meta["files"]
    except OSError:
        return False


def _seal(tmp: Path, final: Path, key: dict, extra: dict | None = None):
    meta = {"key": key, "files": _file_manifest(tmp), **(extra or {})}
    (tmp / "daudit-manifest.json").write_text(json.dumps(meta, indent=1))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


class ZarrCache:
    """Row-chunked zarr copies (Blosc LZ4) of 2-D HDF5 datasets, for parallel reads by workers."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root or default_cache_dir()) / "zarr"

    def _dir(self, key: dict) -> Path:
        return self.root / f"{Path(key['path']).stem}-{_digest(key)}.zarr"

    def get(self, path: str, dataset_key: str, *, chunk_rows: int) -> Path:
        """Path of a zarr store equal to the HDF5 dataset, copied first if no valid copy exists."""
        key = source_key(path, dataset_key)
        final = self._dir(key)
        if final.exists() and _valid(final, key):
            return final
        if final.exists():
            log.warning("zarr cache %s is stale or damaged: rebuilding it", final)
        self.sweep_stale(self.root)
        self._build(path, dataset_key, key, final, chunk_rows=chunk_rows)
        return final

    def _build(self, path, dataset_key, key, final: Path, *, chunk_rows: int):
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        with h5py.File(path, "r") as f:
            ds = f[dataset_key]
            n, p = ds.shape
            z = zarr.create_array(str(tmp), shape=(n, p), chunks=(min(chunk_rows, max(n, 1)), p), dtype=ds.dtype,
                                  compressors=BloscCodec(cname="lz4", clevel=1, shuffle="bitshuffle"))
            step = z.chunks[0]
            with Bar((n + step - 1) // step, f"zarr cache {Path(path).name}", unit="chunk", rows=n) as bar:
                for start in range(0, n, step):
                    z[start:start + step] = ds[start:start + step]
                    bar.update()
        _seal(tmp, final, key)
        log.info("zarr cache written: %s", final)

    @staticmethod
    def sweep_stale(root: Path):
        """Remove temporary folders left by killed runs."""
        for tmp in Path(root).glob(".*.tmp-*"):
            pid = tmp.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(tmp, ignore_errors=True)


class StatsCache:
    """Sufficient statistics (any dict of numpy arrays / numbers) keyed by an input fingerprint."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root or default_cache_dir()) / "stats"

    def _dir(self, key: dict) -> Path:
        return self.root / f"{key.get('name', 'stats')}-{_digest(key)}"

    def load(self, key: dict) -> dict | None:
        d = self._dir(key)
        if not d.exists():
            return None
        if not _valid(d, key):
            log.warning("statistics cache %s is stale or damaged: recomputing", d)
            shutil.rmtree(d, ignore_errors=True)
            return None
        with np.load(d / "stats.npz", allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def save(self, key: dict, arrays: dict) -> Path:
        d = self._dir(key)
        d.parent.mkdir(parents=True, exist_ok=True)
        tmp = d.parent / f".{d.name}.tmp-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        np.savez(tmp / "stats.npz", **{k: np.asarray(v) for k, v in arrays.items()})
        _seal(tmp, d, key)
        return d
