"""On-disk caches (`daudit.core.paths.cache_dir`): zarr copies of HDF5 arrays and sufficient statistics.

Both are keyed by what they were made from: the source file's path, identity and change time
(device, inode, ``st_ctime_ns``, which ``os.utime`` cannot set back), size and modification time,
and a fingerprint of sampled blocks of its content; the rows taken and the transformation. They
are written to a temporary name and renamed when complete, and validated on every use against a
manifest of per-file sizes and CRC32 checksums; a zarr copy is also compared with its source on
sampled rows. A cache that is stale, truncated or corrupted is never used: a new entry is made.

Entries are write-once: a zarr copy is never rewritten in place (a longer or newer copy is a new
entry with its own name), a run holds each copy it reads (`daudit.data.cache_holds`) so that no
other run deletes it, and every row block a run reads from a copy is checked against the SHA-256
taken from the source while copying (`daudit.data.cache_reader.ZarrRows`): a copy changed,
damaged or deleted under a run stops it with one line (`InputChangedError`), never a verdict on
other data. Statistics are read whole into memory and checked there, so a later change cannot
reach a run that loaded them.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import json
import logging
import os
import secrets
import shutil
import zlib
from pathlib import Path

import dask.array as da
import h5py
import numpy as np
import zarr
from zarr.codecs import BloscCodec

from daudit.core.artifacts import pid_alive
from daudit.core.files import changed_error, check_unchanged, file_state
from daudit.core.paths import check_cache_dir
from daudit.core.progress import Bar
from daudit.data.cache_holds import held_here, hold, release, remove_unless_held
from daudit.data.cache_reader import ZarrRows, block_digest

__all__ = ["source_key", "ZarrCache", "StatsCache", "FileCache"]

log = logging.getLogger("daudit")
_FORMAT = 2  # 2: identity, change time and content fingerprint in the key; rows copied


_FINGERPRINT_BLOCKS = 16  # blocks of 64 KiB read from a file for its fingerprint (the whole file up to 1 MiB)
_BLOCK = 64 * 1024
_fingerprints: dict = {}


def fingerprint(path: str, st: os.stat_result | None = None) -> str:
    """SHA-256 (24 hex digits) of the size and of `_FINGERPRINT_BLOCKS` blocks spread evenly over
    the file, first and last included (the whole file when small); cached per file state."""
    st = st or os.stat(path)
    state = (os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if state in _fingerprints:
        return _fingerprints[state]
    h = hashlib.sha256(str(st.st_size).encode())
    with open(path, "rb") as fh:
        if st.st_size <= _FINGERPRINT_BLOCKS * _BLOCK:
            h.update(fh.read())
        else:
            last = st.st_size - _BLOCK
            for i in range(_FINGERPRINT_BLOCKS):
                fh.seek(last * i // (_FINGERPRINT_BLOCKS - 1))
                h.update(fh.read(_BLOCK))
    _fingerprints[state] = h.hexdigest()[:24]
    return _fingerprints[state]


def source_key(path: str, dataset_key: str) -> dict:
    """What a cached copy of ``path``/``dataset_key`` depends on: the file's identity (device,
    inode), its change and modification times, its size and a fingerprint of its content."""
    st = os.stat(path)
    return {"path": os.path.abspath(path), "dataset": dataset_key, "dev": st.st_dev, "ino": st.st_ino,
            "size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns,
            "fingerprint": fingerprint(path, st), "format": _FORMAT}


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
    """Whether ``root`` is sealed for ``key`` and its files have the sizes and CRC32 of its manifest."""
    meta = _manifest(root)
    if meta is None or meta.get("key") != key:
        return False
    try:
        return _file_manifest(root) == meta["files"]
    except (OSError, KeyError):
        return False


def _write_sealed(final: Path, key: dict, fill) -> None:
    """Fill a fresh temporary folder beside ``final`` (``fill(tmp)`` writes the files and may return
    extra manifest fields) and seal it as ``final``; nothing half-written is left behind."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        _seal(tmp, final, key, fill(tmp))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _seal(tmp: Path, final: Path, key: dict, extra: dict | None = None):
    """Write the manifest into ``tmp`` and rename it to ``final``. An entry is never rewritten in
    place: a valid ``final`` already there (another run made it) is kept and ``tmp`` dropped; a
    damaged one is moved aside whole first (a reader that opened its files keeps them)."""
    meta = {"key": key, "files": _file_manifest(tmp), **(extra or {})}
    (tmp / "daudit-manifest.json").write_text(json.dumps(meta, indent=1))
    if final.exists():
        if _valid(final, key):
            shutil.rmtree(tmp, ignore_errors=True)
            return
        aside = final.parent / f".{final.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            os.rename(final, aside)
        except FileNotFoundError:
            aside = None
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
    try:
        os.rename(tmp, final)
    except OSError:
        if not final.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # another run sealed the same entry first: keep theirs


class ZarrCache:
    """Row-chunked zarr copies (Blosc LZ4) of 2-D HDF5 datasets, for parallel reads by workers.

    A copy holds the first rows of the dataset that a run uses (not the whole file) and is reused
    by any later run that needs at most as many rows. Its manifest records the SHA-256 of every
    row block, taken from the source while copying; `array` reads through `ZarrRows`, which
    checks each block it reads against them.
    """

    def __init__(self, root: Path | None = None):
        self.root = Path(root or check_cache_dir()) / "zarr"

    def _prefix(self, key: dict) -> str:
        return f"{Path(key['path']).stem}-{_digest(key)}"

    def get(self, path: str, dataset_key: str, *, chunk_rows: int, n_rows: int | None = None,
            expect_state: tuple | None = None) -> Path:
        """Path of a zarr store whose first ``n_rows`` rows (None: all) equal the HDF5 dataset's,
        copied first if no valid copy exists; this process holds it from then on.

        ``expect_state``: the source's `daudit.core.files.file_state` when the run opened it; a file
        changed since is refused (`InputChangedError`) rather than copied in its new state.
        """
        key = source_key(path, dataset_key)
        if expect_state is not None and _key_state(key) != tuple(expect_state):
            raise changed_error(path)  # not copied in a state other than the one whose labels the run read
        need = _n_rows(path, dataset_key) if n_rows is None else int(n_rows)
        prefix = self._prefix(key)
        for entry in sorted(self.root.glob(f"{glob.escape(prefix)}-*.zarr")):
            held_before = held_here(entry)  # by an earlier run of this process, which may still read it
            hold(entry)  # before checking it: no cleaner removes it from now on
            if _usable(entry, key, need, path, dataset_key):
                return entry
            if not held_before:
                release(entry)
            log.warning("zarr cache %s is stale, damaged or too short: making a new copy", entry)
            remove_unless_held(entry)
        self.sweep_stale(self.root)
        self._drop_older_copies(key)
        final = self.root / f"{prefix}-{need}r-{secrets.token_hex(4)}.zarr"
        self._build(path, dataset_key, key, final, chunk_rows=chunk_rows, n_rows=n_rows)
        return final

    def array(self, path: str, dataset_key: str, *, chunk_rows: int, n_rows: int,
              expect_state: tuple | None = None):
        """Lazy Dask array of the first ``n_rows`` rows, read from a held copy through `ZarrRows`."""
        store = self.get(path, dataset_key, chunk_rows=chunk_rows, n_rows=n_rows, expect_state=expect_state)
        meta = _manifest(store) or {}
        rows = ZarrRows.open(store, meta.get("chunk_rows"), meta.get("chunk_sha256"), source=path,
                             source_state=expect_state)
        return da.from_array(rows, chunks=(rows.step, rows.shape[1]), asarray=True, fancy=False,
                             meta=np.empty((0, 0), dtype=rows.dtype), name=f"zarr-{store.name}")[:n_rows]

    def _drop_older_copies(self, key: dict):
        """Remove copies of the same source file and dataset that no run holds: made from an earlier
        state of it (stale forever) or shorter than the copy about to be made."""
        for old in self.root.glob(f"{glob.escape(Path(key['path']).stem)}-*.zarr"):
            meta = _manifest(old)
            old_key = meta.get("key") if meta is not None else None
            same = isinstance(old_key, dict) and old_key.get("path") == key["path"]
            if same and old_key.get("dataset") == key["dataset"]:
                remove_unless_held(old)

    def _build(self, path, dataset_key, key, final: Path, *, chunk_rows: int, n_rows: int | None):
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        try:
            state = file_state(path)
            with h5py.File(path, "r") as f:
                ds = f[dataset_key]
                n = ds.shape[0] if n_rows is None else min(int(n_rows), ds.shape[0])
                p = ds.shape[1]
                z = zarr.create_array(str(tmp), shape=(n, p), chunks=(min(chunk_rows, max(n, 1)), p), dtype=ds.dtype,
                                      compressors=BloscCodec(cname="lz4", clevel=1, shuffle="bitshuffle"))
                step = z.chunks[0]
                digests = []
                with Bar((n + step - 1) // step, f"zarr cache {Path(path).name}", unit="chunk", rows=n) as bar:
                    for start in range(0, n, step):
                        block = ds[start:min(start + step, n)]
                        z[start:min(start + step, n)] = block
                        digests.append(block_digest(block))  # of the source's bytes, as copied
                        bar.update()
            check_unchanged(path, state)  # the file did not change while it was copied
            hold(final)  # before it appears: no cleaner removes it between the rename and its use
            _seal(tmp, final, key, {"rows": n, "chunk_rows": step, "chunk_sha256": digests})
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)  # Ctrl-C, SIGTERM or a read error: no half copy left
            raise
        log.info("zarr cache written: %s (%d rows)", final, n)

    @staticmethod
    def sweep_stale(root: Path):
        """Remove temporary folders left by killed runs."""
        for tmp in Path(root).glob(".*.tmp-*"):
            pid = tmp.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(tmp, ignore_errors=True)


def _key_state(key: dict) -> tuple:
    return (key["ino"], key["size"], key["mtime_ns"], key["ctime_ns"])


def _usable(entry: Path, key: dict, need: int, path: str, dataset_key: str) -> bool:
    """Whether ``entry`` is a sealed copy of this key's source with at least ``need`` rows, intact
    (sizes and CRC32 of its files), with a SHA-256 for each block, and equal to the source on sampled rows."""
    meta = _manifest(entry)
    if meta is None or meta.get("key") != key:
        return False
    rows, step, digests = meta.get("rows"), meta.get("chunk_rows"), meta.get("chunk_sha256")
    if not (isinstance(rows, int) and isinstance(step, int) and step > 0 and isinstance(digests, list)):
        return False  # a copy made before blocks were hashed: no way to check what is read
    if rows < need or len(digests) != (rows + step - 1) // step or not _valid(entry, key):
        return False
    return _matches_source(entry, path, dataset_key, rows)


def _manifest(root: Path) -> dict | None:
    try:
        meta = json.loads((Path(root) / "daudit-manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _n_rows(path: str, dataset_key: str) -> int:
    with h5py.File(path, "r") as f:
        return int(f[dataset_key].shape[0])


def _matches_source(store: Path, path: str, dataset_key: str, rows: int, n_samples: int = 5) -> bool:
    """Whether sampled rows (first, last and evenly between) of the copy equal the source's, bit for bit."""
    if rows <= 0:
        return True
    picks = sorted({int(i) for i in np.linspace(0, rows - 1, n_samples)})
    try:
        z = zarr.open_array(str(store), mode="r")
        with h5py.File(path, "r") as f:
            ds = f[dataset_key]
            return all(np.asarray(z[i]).tobytes() == np.asarray(ds[i]).tobytes() for i in picks)
    except Exception:  # noqa: BLE001 - an unreadable copy is simply not valid: it is rebuilt
        return False


class StatsCache:
    """Sufficient statistics (any dict of numpy arrays / numbers) keyed by an input fingerprint."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root or check_cache_dir()) / "stats"

    def _dir(self, key: dict) -> Path:
        return self.root / f"{key.get('name', 'stats')}-{_digest(key)}"

    def load(self, key: dict) -> dict | None:
        """The statistics saved under ``key``, or None. The file is read once into memory and checked
        there against its manifest (size, CRC32), so what is returned is what was checked."""
        d = self._dir(key)
        if not d.exists():
            return None
        meta = _manifest(d)
        try:
            raw = (d / "stats.npz").read_bytes()
        except OSError:
            raw = None
        files = meta.get("files") if meta is not None else None
        if (meta is None or meta.get("key") != key or raw is None
                or files != {"stats.npz": [len(raw), zlib.crc32(raw)]}):
            log.warning("statistics cache %s is stale or damaged: recomputing", d)
            shutil.rmtree(d, ignore_errors=True)
            return None
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def save(self, key: dict, arrays: dict) -> Path:
        d = self._dir(key)
        _write_sealed(d, key, lambda tmp: np.savez(tmp / "stats.npz", **{k: np.asarray(v) for k, v in arrays.items()}))
        return d


class FileCache:
    """One opaque file per key (e.g. a LightGBM binary Dataset), write-once like `StatsCache` and
    beside it by default (so ``daudit cache`` lists and clears it with the statistics).

    The manifest holds the key, the file's size and CRC32 and its SHA-256. `checked_copy` copies the
    file to a private name while hashing it and hands out the copy only when all three match, so
    what the caller then reads is what was checked; a stale, damaged or foreign entry is removed.
    """

    def __init__(self, root: Path | None = None, kind: str = "stats"):
        self.root = Path(root or check_cache_dir()) / kind

    def entry(self, key: dict) -> Path:
        """The folder of ``key``'s entry (its file is ``data.bin``)."""
        return self.root / f"{key.get('name', 'file')}-{_digest(key)}"

    @contextlib.contextmanager
    def checked_copy(self, key: dict):
        """Yield the Path of a private, checked copy of the file saved under ``key`` (removed after the
        block), or None when there is no valid entry."""
        d = self.entry(key)
        meta = _manifest(d) if d.exists() else None
        if meta is None:
            if d.exists():
                log.warning("cache %s has no readable manifest: rebuilding", d)
                shutil.rmtree(d, ignore_errors=True)
            yield None
            return
        copy = d.parent / f".{d.name}.read.tmp-{os.getpid()}"
        ok = meta.get("key") == key and isinstance(meta.get("files"), dict) and list(meta["files"]) == ["data.bin"]
        if ok:
            size, crc, h = 0, 0, hashlib.sha256()
            try:
                with open(d / "data.bin", "rb") as src, open(copy, "wb") as dst:
                    while block := src.read(1 << 22):
                        size, crc = size + len(block), zlib.crc32(block, crc)
                        h.update(block)
                        dst.write(block)
            except OSError:
                ok = False
            ok = ok and meta["files"]["data.bin"] == [size, crc] and meta.get("sha256") == h.hexdigest()
        if not ok:
            copy.unlink(missing_ok=True)
            log.warning("cache %s is stale, damaged or foreign: rebuilding", d)
            shutil.rmtree(d, ignore_errors=True)
            yield None
            return
        try:
            yield copy
        finally:
            copy.unlink(missing_ok=True)

    def discard(self, key: dict) -> None:
        """Remove ``key``'s entry (its file passed the checks but its content was refused by the caller)."""
        shutil.rmtree(self.entry(key), ignore_errors=True)

    def save(self, key: dict, write) -> Path:
        """Seal the file ``write(path)`` writes as ``key``'s entry (kept if a valid one is already there)."""
        d = self.entry(key)

        def fill(tmp: Path) -> dict:
            write(tmp / "data.bin")
            h = hashlib.sha256()
            with open(tmp / "data.bin", "rb") as fh:
                while block := fh.read(1 << 22):
                    h.update(block)
            return {"sha256": h.hexdigest()}

        _write_sealed(d, key, fill)
        return d
