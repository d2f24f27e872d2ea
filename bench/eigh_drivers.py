"""Time of one 4096 x 4096 eigendecomposition, LAPACK syevd against syevr, on the Grams daudit meets.

    python bench/eigh_drivers.py [--out bench/eigh_RESULTS.md]

Cases: the demo's train error (20k rows), the same rows shuffled within each row (the
checks' shuffled input), the demo's first 3000 rows (fewer rows than pixels), iid float32
noise (20k, 12k and 3000 rows) and a rank-60 signal under small noise (3000 rows). Each is the
centred float64 Gram, decomposed by ``scipy.linalg.eigh`` with ``overwrite_a`` (as
`daudit.models.linear.decompose` does) by each driver, on a copy; the table also gives the
largest relative difference of the two drivers' eigenvalues above the audit's resolution
threshold. Needs the demo data (`python -m daudit simulate`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _demo_rows(n: int) -> np.ndarray:
    import h5py

    from daudit.core.paths import demo_dir
    from daudit.data.clean import clean_error
    from daudit.data.layout import ERROR_KEY

    with h5py.File(demo_dir() / "train" / "dataset.h5") as f:
        return clean_error(f[ERROR_KEY][:n]).astype(np.float64)


def _cases():
    from daudit.checks.transforms import shuffle_chunk

    x = _demo_rows(20_000)
    yield "demo train error, 20000 rows", x
    yield "the same rows shuffled within each row (the checks' input)", shuffle_chunk(
        x.astype(np.float32), seed=42, split="train", chunk_index=0).astype(np.float64)
    yield "demo train error, 3000 rows (fewer rows than pixels)", x[:3000]
    del x
    rng = np.random.default_rng(0)
    for n in (20_000, 12_000, 3000):
        yield f"iid normal float32 noise, {n} rows", rng.standard_normal((n, 4096), dtype=np.float32).astype(np.float64)
    yield "rank-60 signal plus 1e-3 noise, 3000 rows", (rng.standard_normal((3000, 60)) @ rng.standard_normal(
        (60, 4096)) + 1e-3 * rng.standard_normal((3000, 4096))).astype(np.float32).astype(np.float64)


def _time(gram: np.ndarray, driver: str) -> tuple[float, np.ndarray]:
    a = np.array(gram, order="F")
    t = time.perf_counter()
    w, _ = scipy.linalg.eigh(a, driver=driver, overwrite_a=True, check_finite=False)
    return time.perf_counter() - t, w


def main():
    from daudit.models.linear import EIGEN_REL_ACCURACY, EPS64, GRAM_ERROR

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "bench" / "eigh_RESULTS.md"))
    args = ap.parse_args()
    rows = []
    for name, x in _cases():
        xc = x - x.mean(axis=0)
        gram = xc.T @ xc
        del xc
        t_evd, w_evd = _time(gram, "evd")
        t_evr, w_evr = _time(gram, "evr")
        tau = max(2.0**-48 * float((x * x).sum()), GRAM_ERROR * EPS64 * w_evd[-1] / EIGEN_REL_ACCURACY)
        keep = w_evd > tau
        diff = float(np.max(np.abs(w_evr[keep] - w_evd[keep]) / w_evd[keep])) if keep.any() else 0.0
        rows.append(f"| {name} | {t_evd:.1f} | {t_evr:.1f} | {t_evr / t_evd:.1f}x | {int(keep.sum())} | {diff:.1e} |")
        print(rows[-1], flush=True)
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, "
               f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM")
    text = "\n".join([
        "### One 4096 x 4096 eigendecomposition: syevd against syevr (bench/eigh_drivers.py)", "",
        f"{dt.date.today().isoformat()}, {machine}, load average {os.getloadavg()[0]:.1f} at the end. "
        "Seconds of `scipy.linalg.eigh(overwrite_a=True)` on the centred float64 Gram, one run each; "
        "resolved: eigenvalues above the audit's threshold (float32 data term, Gram term); "
        "difference: the largest relative difference of the two drivers' resolved eigenvalues.", "",
        "| Gram | syevd s | syevr s | syevr / syevd | resolved | difference |", "|---|---|---|---|---|---|",
        *rows, ""])
    Path(args.out).write_text(text + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
