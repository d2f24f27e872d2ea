"""GPU vs CPU for the linear family's heavy steps (statistics + eigh), same data, same run.

Needs only numpy and CuPy or PyTorch with a CUDA device. Prints a markdown table and writes
it to the path given as the first argument (default bench/gpu_RESULTS.md).
"""

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daudit.models.gpu import GramAccumulator, backend_name, decompose_cuda  # noqa: E402
from daudit.models.linear import decompose, fit_family  # noqa: E402
from daudit.models.stats import gram_chunk, reduce_stats  # noqa: E402

ALPHAS = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0]


def make(n, p, seed=0):
    rng = np.random.default_rng(seed)
    template = rng.uniform(0.05, 0.3, p).astype(np.float32)
    scale = rng.uniform(0.5, 2.0, (n, 1)).astype(np.float32)
    x = scale * template * (1 + 0.05 * rng.standard_normal((n, p), dtype=np.float32))
    y = 3 + scale[:, 0] + 0.1 * rng.standard_normal(n)
    return x, y


def cpu(x, y, chunk):
    t0 = time.perf_counter()
    shift, ys = x[:chunk].mean(0).astype(np.float64), np.array([y[:chunk].mean()])
    parts = [gram_chunk(x[i:i + chunk], y[i:i + chunk], x_shift=shift, y_shift=ys) for i in range(0, len(x), chunk)]
    st = reduce_stats(parts)
    t1 = time.perf_counter()
    eg = decompose(st)
    t2 = time.perf_counter()
    return fit_family(eg, ALPHAS), t1 - t0, t2 - t1


def gpu(x, y, chunk, backend):
    acc = GramAccumulator(x[:chunk].mean(0).astype(np.float64), np.array([y[:chunk].mean()]), backend=backend)
    t0 = time.perf_counter()
    for i in range(0, len(x), chunk):
        acc.add(x[i:i + chunk], y[i:i + chunk])
    st = acc.result()
    t1 = time.perf_counter()
    eg = decompose_cuda(st, backend=backend)
    t2 = time.perf_counter()
    return fit_family(eg, ALPHAS), t1 - t0, t2 - t1


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("bench/gpu_RESULTS.md")
    backend = backend_name()
    if backend is None:
        print("no CUDA device: nothing to measure")
        return 0
    import subprocess

    card = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                          text=True).stdout.strip()
    rows, facts = [], {"backend": backend, "card": card, "cpu": platform.processor() or platform.machine()}
    for n in (10_000, 100_000):
        x, y = make(n, 4096)
        gpu(x[:4096], y[:4096], 2048, backend)  # warm-up (context, kernels)
        fc, c_stats, c_eig = cpu(x, y, 2048)
        fg, g_stats, g_eig = gpu(x, y, 2048, backend)
        rel = float(np.max(np.abs(fg.coef[1:] - fc.coef[1:])) / np.max(np.abs(fc.coef[1:])))  # Ridge path
        rel_p = float(np.max(np.abs(fg.predict(x[:2000]) - fc.predict(x[:2000]))) / np.max(np.abs(fc.predict(x[:2000]))))
        rows.append((n, c_stats, c_eig, g_stats, g_eig, rel, rel_p))
    lines = [f"GPU backend check ({backend}) on {card}; CPU: {facts['cpu']} ({__import__('os').cpu_count()} cores)", "",
             "| rows x 4096 | CPU stats s | CPU eigh s | GPU stats s | GPU eigh s | speed-up (stats+eigh) | max rel diff Ridge coef | max rel diff predictions |",
             "|---|---|---|---|---|---|---|---|"]
    for n, cs, ce, gs, ge, rel, relp in rows:
        lines.append(f"| {n} | {cs:.2f} | {ce:.2f} | {gs:.3f} | {ge:.3f} | {(cs + ce) / (gs + ge):.1f}x | {rel:.2e} | {relp:.2e} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out.write_text(text)
    print(json.dumps({"rows": rows, **facts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
